"""`cascade list KIND`: what the project ships (cascades; archs: spatial arrays and GPU presets; gpus alone;
mappings of spatial arrays; gpu-mappings, the GPU kernels with the names they answer to; designs; workloads)."""

from __future__ import annotations

from arch_models import arch_names, gpu_names, load_arch, load_gpu
from einsum_cascade.library import library_cascade, library_names
from mappers.gpu_kernels import gpu_mapping_names, load_gpu_mapping
from mappers.load import load_mapping, mapping_names
from simulator.cli.output import print_json, table
from simulator.studies.designs import design_names, load_design
from workloads.zoo import load_model, model_names

DESCRIBE = {
    "cascades": (library_names, lambda n: library_cascade(n).description),
    "archs": (lambda: arch_names() + gpu_names(), lambda n: _arch_line(n)),
    "gpus": (gpu_names, lambda n: _arch_line(n)),
    "mappings": (mapping_names, lambda n: f"{load_mapping(n).cascade}: {load_mapping(n).description}"),
    "gpu-mappings": (gpu_mapping_names, lambda n: _gpu_mapping_line(load_gpu_mapping(n))),
    "designs": (design_names, lambda n: f"arch {load_design(n).arch}, mapping {load_design(n).mapping}"),
    "workloads": (model_names, lambda n: _model_line(load_model(n))),
}


def _arch_line(name: str) -> str:
    """A spatial array's description, or a GPU preset's with the other names it answers to."""
    if name in gpu_names():
        gpu = load_gpu(name)
        others = [alias for alias in gpu.aliases if alias.casefold() != name.casefold()]
        return f"GPU: {gpu.description}" + (f"; also named: {', '.join(others)}" if others else "")
    return load_arch(name).description


def _gpu_mapping_line(mapping) -> str:
    also = f"; also named: {', '.join(mapping.measured_as)}" if mapping.measured_as else ""
    return f"{mapping.cascade}: {mapping.description}{also}"


def _model_line(model) -> str:
    return (f"{model.name}: {model.heads} heads ({model.kv_heads} KV), E={model.head_dim_qk}, d_model={model.d_model}, "
            f"FFN={model.ffn}, batch {model.batch}")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list what the project ships")
    parser.add_argument("kind", choices=tuple(DESCRIBE), help="what to list")
    parser.add_argument("--json", action="store_true", help="print the names as a JSON list")
    parser.set_defaults(run=run)


def run(args) -> int:
    names, describe = DESCRIBE[args.kind]
    if args.json:
        print_json(names())
    else:
        print(table((args.kind[:-1], "description"), [(name, describe(name)) for name in names()]))
    return 0
