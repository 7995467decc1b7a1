"""`cascade simulate`: one point, a mapping on an architecture for a workload (or any cascade at given shapes)."""

from __future__ import annotations

from arch_models.gpu import GpuArch
from einsum_cascade.errors import SpecError
from einsum_cascade.sizes import parse_shape_option
from mappers.gpu_overrides import shown
from simulator.cli.output import format_number, print_json, table
from simulator.gpu.model import RESOURCES
from simulator.spatial.systolic_mode import DATAFLOWS, TIMINGS
from simulator.studies.arch_overrides import (
    add_set_argument,
    load_arch_with_overrides,
    parse_set_options,
)
from simulator.studies.point import run_point
from workloads.zoo import parse_seq_len

DEFAULT_GPU_MAPPING = "fa2"  # runs on every GPU preset (mma.sync)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("simulate", help="simulate one mapping of a cascade on an architecture")
    parser.add_argument("--design", help="a named design (`cascade list designs`): its architecture and mapping, "
                                         "instead of --arch and --mapping")
    parser.add_argument("--arch", help="architecture preset or YAML file (spatial array or GPU); needed unless "
                                       "--design gives it")
    parser.add_argument("--mapping", help="mapping preset or YAML file (names its cascade); needed with --workload; "
                                          "with --cascade, defaults to the shipped mapping of the cascade's name "
                                          f"(on a GPU: {DEFAULT_GPU_MAPPING}, run on the cascade)")
    parser.add_argument("--workload", help="model (with --seq): bert, trxl, t5, xlm, llama3-8b, a shipped config "
                                           "such as hf-qwen2-7b (`cascade list workloads`), or a config.json path")
    parser.add_argument("--seq", help="sequence length, e.g. 4096, 64K, 1M")
    parser.add_argument("--cascade", help="a library cascade or YAML file: on a spatial array instead of "
                                          "--workload/--seq, sized by --shape; on a GPU the cascade the mapping's "
                                          "fused kernel computes (replacing its own), sized by --workload/--seq or "
                                          "--shape")
    parser.add_argument("--shape", help="with --cascade: the size of every shape symbol, e.g. M=1024,N=1024,K=64 "
                                        "(GPU: M, P, E, F, B, H, HKV)")
    parser.add_argument("--batch", type=int, help="batch size (default: the model's)")
    parser.add_argument("--end-to-end", action="store_true", help="add the layer's projections and FFN GEMMs")
    parser.add_argument("--causal", action="store_true",
                        help="causal attention (prefill), with --workload: the library's causal form of the "
                             "mapping's cascade, or a GPU kernel's causal masking")
    add_set_argument(parser)
    parser.add_argument("--timing", choices=TIMINGS, default="ideal",
                        help="ideal (as the FuseMax paper), systolic (2D MACs fold by fold, as SCALE-Sim counts "
                             "them) or systolic-unpadded (edge folds charged only for the PEs they map)")
    parser.add_argument("--dataflow", choices=DATAFLOWS, default="os",
                        help="2D array dataflow: output, weight or input stationary; only used with "
                             "--timing systolic or systolic-unpadded (ideal timing has no dataflow)")
    parser.add_argument("--stats", action="store_true",
                        help="per tensor and storage level (global buffer, staging, DRAM): words read and written, "
                             "physical accesses and their energy, as Timeloop's stats list them (spatial arrays)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args) -> int:
    _design_or_arch(args)
    overrides = parse_set_options(args.set)
    arch = load_arch_with_overrides(args.arch, overrides, mapping_overrides=True)  # checks keys and values first
    if args.stats and isinstance(arch, GpuArch):
        raise SpecError("per-level storage statistics are for spatial arrays; a GPU point lists its phases "
                        "instead (--json)", key="--stats")
    row = _cascade_row(args, arch, overrides) if args.cascade else _workload_row(args, overrides)
    if "achieved_tflops" in row:  # a GPU point (run_point chose the model by the arch)
        row.setdefault("cycles", row["latency_s"] * arch.clock_hz)
    if args.json:
        print_json(row)
        return 0
    if "achieved_tflops" in row:

        print(format_gpu_point(row))
        return 0
    _print_spatial(row)
    return 0


def _design_or_arch(args) -> None:
    """`--design NAME` stands for its --arch and --mapping (designs.yaml); the two ways do not mix."""
    if args.design is None:
        if args.arch is None:
            raise SpecError("give --design NAME, or --arch (and --mapping)", key="--arch")
        return
    if args.arch or args.mapping:
        raise SpecError(f"--design {args.design} gives the architecture and the mapping: drop "
                        f"{' and '.join(o for o, v in (('--arch', args.arch), ('--mapping', args.mapping)) if v)}",
                        key="--design")
    from simulator.studies.designs import load_design

    design = load_design(args.design, key="--design")
    args.arch, args.mapping = design.arch, design.mapping


def _workload_row(args, overrides: dict) -> dict:
    if args.shape:
        raise SpecError("--shape goes with --cascade; with --workload give --seq", key="--shape")
    missing = [option for option, value in (("--mapping", args.mapping), ("--workload", args.workload),
                                            ("--seq", args.seq)) if not value]
    if missing:
        raise SpecError(f"give {', '.join(missing)} (or --cascade NAME --shape ... instead of --workload/--seq)",
                        key=missing[0])
    row = run_point(args.arch, args.mapping, args.workload, parse_seq_len(args.seq), design=args.design or args.mapping,
                    end_to_end=args.end_to_end, batch=args.batch, timing=args.timing, dataflow=args.dataflow,
                    overrides=overrides, stats=args.stats, causal=args.causal).to_dict()
    return row if "achieved_tflops" in row else {**row, "timing": args.timing, "dataflow": args.dataflow}


def _cascade_row(args, arch, overrides: dict) -> dict:
    if isinstance(arch, GpuArch):
        return _gpu_cascade_row(args, arch, overrides)
    for option, value in (("--workload", args.workload), ("--seq", args.seq), ("--batch", args.batch),
                          ("--end-to-end", args.end_to_end), ("--causal", args.causal)):
        if value:
            raise SpecError(f"{option} does not go with --cascade (its sizes come from --shape; a causal cascade is "
                            "its own library entry, e.g. fusemax-causal)", key=option)
    if not args.shape:
        raise SpecError("--cascade needs --shape with the size of every shape symbol, e.g. M=1024,N=1024,K=64",
                        key="--shape")
    row = run_point(arch, args.mapping, cascade=args.cascade, shapes=parse_shape_option(args.shape),
                    timing=args.timing, dataflow=args.dataflow, stats=args.stats).to_dict()
    return {**row, "timing": args.timing, "dataflow": args.dataflow}


def _gpu_cascade_row(args, gpu: GpuArch, overrides: dict) -> dict:
    """A GPU mapping's fused kernel computing `--cascade`, for a workload's attention or a `--shape`."""
    mapping = args.mapping or DEFAULT_GPU_MAPPING
    if args.shape:
        for option, value in (("--workload", args.workload), ("--seq", args.seq), ("--batch", args.batch),
                              ("--end-to-end", args.end_to_end), ("--causal", args.causal)):
            if value:
                raise SpecError(f"{option} does not go with --shape (give --workload and --seq instead)", key=option)
        return run_point(gpu, mapping, cascade=args.cascade, shapes=parse_shape_option(args.shape),
                         overrides=overrides).to_dict()
    if not (args.workload and args.seq):
        raise SpecError("--cascade on a GPU needs --workload and --seq, or --shape (M, P, E, F, B, H, HKV)",
                        key="--cascade")
    return run_point(gpu, mapping, args.workload, parse_seq_len(args.seq), cascade=args.cascade, batch=args.batch,
                     end_to_end=args.end_to_end, overrides=overrides, causal=args.causal).to_dict()


def _print_spatial(row: dict) -> None:
    if row["scope"] == "cascade":
        shape = ",".join(f"{k}={v}" for k, v in row["shape"].items())
        print(f"{row['design']} on {row['arch']}: {row['cascade']} at {shape}")
    else:
        print(f"{row['design']} on {row['arch']}: {row['workload']} at {row['seq_len']} tokens ({row['scope']}; "
              f"cascade {row['cascade']})")
    for key in ("latency_s", "cycles", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound"):
        print(f"  {key:<12} {format_number(row[key])}")
    print("  passes       cascade lower bound " + str(row["pass_lower_bound"]) + "; measured " + ", ".join(
        f"{t}: DRAM {v['dram_reads_per_element']:.3g}x, buffer {v['buffer_reads_per_element']:.3g}x"
        for t, v in row["measured_passes"].items()))
    print("  occupancy    " + ", ".join(f"{k} {format_number(v)} B" for k, v in row["occupancy_bytes"].items()))
    shares = sorted(row["einsum_share"].items(), key=lambda kv: -kv[1])
    print("  time share   " + ", ".join(f"{name} {share:.1%}" for name, share in shares))
    if row.get("note"):
        print(f"  note         {row['note']}")
    if row.get("storage_by_tensor"):
        print(stats_table(row["storage_by_tensor"]))


def stats_table(by_tensor: dict) -> str:
    """One line per tensor and storage level it touches; tensors kept in registers have none."""
    lines = []
    for tensor, levels in by_tensor.items():
        if not levels:
            lines.append((tensor, "registers only", "", "", "", "", ""))
        for level, entry in levels.items():
            reads, writes = entry.get("read_words", entry.get("words", 0.0)), entry.get("write_words", "")
            accesses = entry.get("read_accesses", 0.0) + entry.get("write_accesses", 0.0) + entry.get("accesses", 0.0)
            lines.append((tensor, level, format_number(reads), format_number(writes) if writes != "" else "(both)",
                          format_number(accesses), str(entry["access_words"]), format_number(entry["energy_pj"])))
    return "\n" + table(("tensor", "level", "read words", "write words", "accesses", "words/access", "energy pJ"),
                        lines)

def _tile_work_text(work: dict | None) -> str:
    if not work:
        return " (unfused kernels)"
    per_tile = ", ".join(f"{pipe} {terms}" for pipe, terms in work["per_tile"].items())
    return f" (tile loop: {work['cascade']}, {work['passes']} sweep(s) over K/V; per Br x Bc tile: {per_tile})"


def format_gpu_point(row: dict) -> str:
    """A GPU point as text, in the shape of a spatial point's."""
    what = row["workload"] or ",".join(f"{k}={v}" for k, v in row.get("shape", {}).items())
    lines = [f"{row['design']} on {row['arch']}: {what} at {row['seq_len']} tokens ({row['scope']})",
             f"  cascade          {row['cascade']}" + _tile_work_text(row.get("tile_work"))]
    if row.get("mapping_overrides"):
        lines.append(f"  mapping set      {shown(row['mapping_overrides'])}")
    for key in ("latency_s", "achieved_tflops", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound"):
        lines.append(f"  {key:<16} {format_number(row[key])}")
    tile = row.get("tile") or {}
    occupancy = row.get("occupancy", {})
    lines.append(f"  tile             Br x Bc = {tile.get('br')} x {tile.get('bc')}, {tile.get('warps')} warps, "
                 f"{tile.get('stages')} stages, {row.get('instruction_family')}; {occupancy.get('blocks_per_sm')} "
                 f"blocks/SM ({occupancy.get('occupancy_limiter')}), {occupancy.get('grid_blocks')} blocks")
    for phase in row["phases"]:
        lines.append(f"  phase            {phase['phase']}: {format_number(phase['time_s'])} s "
                     f"({phase['share']:.0%}), bound: {phase['bound']}")
    lines.append("  utilization      " + ", ".join(f"{r} {row['utilization'][r]:.0%}" for r in RESOURCES))
    lines.append(f"  energy           {row['energy_note']}")
    return "\n".join(lines)
