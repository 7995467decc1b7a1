"""`cascade map --arch <gpu>`: search the tilings a GPU kernel can instantiate for a workload's attention.

The kernel structure (FA2, FA3, Triton, split-KV, ...) comes from a GPU mapping (`--mappings`, or every fused
GPU mapping that computes `--cascade`); the search walks its `tile_space` (Br, Bc, warps, stages, and key
splits for split-KV) under the GPU's register, shared-memory and occupancy limits, and times each legal
tiling with the threadblock model. The shipped tile is timed beside the best for comparison. A `--cascade`
that no mapping computes (a library cascade or a user's file) runs on every fused mapping the GPU can run
(or on the `--mappings` ones): the kernel's tile loop then computes that cascade's Einsums.
"""

from __future__ import annotations

from arch_models.gpu import load_gpu
from einsum_cascade.errors import SpecError
from einsum_cascade.library import resolve_cascade
from mappers.gpu_kernels import gpu_mapping_names, load_gpu_mapping, parse_gpu_mapping
from mappers.search import SearchSettings
from simulator.cli.output import format_number, names_option, report_results
from simulator.gpu.model import RESOURCES
from simulator.studies.gpu_point import workload_problem
from simulator.studies.gpu_search import search_against_shipped, searched_mapping_yaml
from simulator.studies.point import run_point

SEARCHED_KINDS = ("fused", "split-kv")
OBJECTIVE_NOTE = "GPU energy is board power x time, so every objective ranks tilings as latency does"


def kernels_for(args, gpu) -> list:
    """The GPU mappings to search: the `--mappings` names (running `--cascade` if it is given), else every fused
    or split-KV mapping of `--cascade` whose instructions the GPU has, else every fused mapping the GPU can
    run, running `--cascade`. All of one kind, so that they compare side by side."""
    if args.kernel:
        mappings = [_kernel(name) for name in names_option(args.kernel, "--mappings")]
        for mapping in mappings:
            if mapping.kind not in SEARCHED_KINDS:
                raise SpecError(f"GPU mapping {mapping.name!r} is {mapping.kind}: only fused and split-KV kernels "
                                "have tiles to search", key="--mappings")
        if args.cascade:
            mappings = [m.with_cascade(_one_cascade(args)) for m in mappings]
    elif args.cascade:
        wanted = names_option(args.cascade, "--cascade")
        runnable = [m for m in map(load_gpu_mapping, gpu_mapping_names()) if m.kind in SEARCHED_KINDS and
                    (m.instruction == "best" or m.instruction in gpu.families)]
        mappings = [m for m in runnable if m.cascade in wanted]
        if not mappings:  # no kernel computes it: every fused kernel the GPU can run, running it
            mappings = [m.with_cascade(_one_cascade(args)) for m in runnable if m.kind == "fused"]
    else:
        raise SpecError("give --mappings (GPU mappings, e.g. fa2,fa3) or --cascade", key="--mappings")
    kinds = {"decode" if m.kind == "split-kv" else "prefill" for m in mappings}
    if len(kinds) > 1:
        raise SpecError("decode (split-KV) and prefill kernels do not compare side by side; search them "
                        "separately", key="--mappings" if args.kernel else "--cascade")
    return mappings


def _one_cascade(args) -> str:
    names = names_option(args.cascade, "--cascade")
    if len(names) > 1:
        raise SpecError(f"a GPU kernel runs one cascade at a time; got {', '.join(names)}", key="--cascade")
    return names[0]


def _kernel(name: str):
    try:
        return load_gpu_mapping(name)
    except SpecError as error:
        raise SpecError(error.message, source=error.source, line=error.line,
                        key="--mappings" if error.key == "--mapping" else error.key) from None


def search_kernel(gpu, mapping, args, settings: SearchSettings) -> dict:
    _, tokens, problem = workload_problem(mapping, args.workload, args.seq)
    found = search_against_shipped(gpu, mapping, problem, settings, progress=not args.json)
    mapping_yaml = searched_mapping_yaml(
        mapping, problem.head_dim, found["tile"],
        f"cascade map --arch {args.arch} --mappings {mapping.name} --cascade {mapping.cascade} --workload "
        f"{args.workload} --seq {args.seq}")
    best = run_point(gpu, parse_gpu_mapping(mapping_yaml, f"<{mapping.name} searched tile>"), args.workload,
                     args.seq)  # the searched tile's detailed report: phases, occupancy, utilization
    occupancy, phases = best.extra.occupancy, best.extra.phases
    return {
        "arch": gpu.name, "kernel": mapping.name, "cascade": resolve_cascade(mapping.cascade).name,
        "workload": args.workload,
        "seq_len": tokens, "objective": args.objective, "objective_note": OBJECTIVE_NOTE,
        "problem": {"batch": problem.batch, "heads": problem.heads, "kv_heads": problem.kv_heads,
                    "seqlen_q": problem.seqlen_q, "seqlen_kv": problem.seqlen_kv, "head_dim": problem.head_dim},
        "best": {"tile": found["tile"], "latency_s": best.latency_s, "tflops": best.extra.achieved_tflops,
                 "bound": best.bound, "blocks_per_sm": occupancy["blocks_per_sm"],
                 "occupancy_limiter": occupancy["occupancy_limiter"],
                 "registers_per_thread": occupancy["registers_per_thread"],
                 "shared_memory_bytes": occupancy["shared_memory_bytes"],
                 "waves": max(phases, key=lambda p: p["time_s"])["waves"], "utilization": best.extra.utilization},
        "shipped": found["shipped"], "best_is_shipped_tile": found["best_is_shipped_tile"],
        "searched_space": {g: list(v) for g, v in mapping.tile_space.items()} or "default",
        "evaluated": found["evaluated"], "legal": found["legal"], "pruned": found["pruned"],
        "duplicates": found["duplicates"], "space_size": found["space_size"],
        "rejections": found["rejections"], "strategy": found["strategy"], "seconds": found["seconds"],
        "candidates_per_s": found["candidates_per_s"], "time_to_best_s": found["time_to_best_s"],
        "mapping_yaml": mapping_yaml,
    }


def run_gpu(args, settings: SearchSettings, gpu=None) -> int:
    """`cascade map` on a GPU; `gpu`: the GpuArch with `--set` overrides applied (default: `--arch` as is)."""
    gpu = gpu or load_gpu(args.arch)
    if args.shape:
        raise SpecError("a GPU search takes --workload and --seq (its attention shapes), not --shape",
                        key="--shape")
    if not (args.workload and args.seq):
        raise SpecError("a GPU search needs --workload and --seq", key="--workload")
    results = [search_kernel(gpu, mapping, args, settings) for mapping in kernels_for(args, gpu)]
    return report_results(args, results, "kernel", lambda result: print(format_result(result)))


def format_result(result: dict) -> str:
    best, tile = result["best"], result["best"]["tile"]
    splits = f", {tile['splits']} key splits" if tile.get("splits", 1) > 1 else ""
    lines = [f"best tiling of {result['kernel']} ({result['cascade']}) on {result['arch']}: {result['workload']} at "
             f"{result['seq_len']} tokens",
             f"  tile         Br x Bc = {tile['br']} x {tile['bc']}, {tile['warps']} warps, {tile['stages']} "
             f"stages{splits}; {best['blocks_per_sm']} blocks/SM ({best['occupancy_limiter']}), "
             f"{best['registers_per_thread']} registers/thread, {best['shared_memory_bytes']:,} B shared",
             f"  latency_s    {format_number(best['latency_s'])} ({best['tflops']:.0f} TFLOP/s), "
             f"bound: {best['bound']}",
             "  utilization  " + ", ".join(f"{r} {best['utilization'][r]:.0%}" for r in RESOURCES)]
    shipped = result["shipped"]
    if "error" in shipped:
        lines.append(f"  shipped      {shipped['error']}")
    else:
        s = shipped["tile"]
        shipped_splits = f", {s['splits']} key splits" if s.get("splits", 1) > 1 else ""
        lines.append(f"  shipped      {s['br']} x {s['bc']}, {s['warps']} warps, {s['stages']} stages{shipped_splits}: "
                     f"{format_number(shipped['latency_s'])} s ({shipped['tflops']:.0f} TFLOP/s), "
                     f"{shipped['latency_s'] / best['latency_s']:.2f}x the best")
    if not result["best_is_shipped_tile"]:
        lines.append("  caution      validate-gpu measures the model on the shipped tiles; this tiling's time is a "
                     "prediction only (small tiles with many resident blocks are where it is least tested)")
    lines.append(f"  search       {result['strategy']}, {result['evaluated']:,} tilings ({result['legal']:,} legal) of "
                 f"{result['space_size']:,} in {result['seconds']:.2f} s")
    if result["rejections"]:
        top = max(result["rejections"], key=result["rejections"].get)
        lines.append(f"  rejected     most often: {top} ({result['rejections'][top]:,})")
    if result.get("saved"):
        lines.append(f"  saved        {result['saved']}")
    return "\n".join(lines)
