"""`cascade compare`: designs side by side over workloads and sequence lengths."""

from __future__ import annotations

from pathlib import Path

from simulator.cli.output import names_option, print_json, table
from simulator.studies.arch_overrides import add_set_argument, load_arch_with_overrides, parse_set_options
from simulator.studies.compare import DEFAULT_DESIGNS, DEFAULT_SEQ_LENS, DEFAULT_WORKLOADS, compare
from simulator.studies.designs import load_design
from workloads.zoo import load_model, parse_seq_len

SUMMARY_KEYS = ("design", "workload", "seq_len", "latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d",
                "area_mm2", "speedup", "energy_ratio", "scope", "mapping", "bound")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="compare designs (e.g. unfused, flat, fusemax)")
    add_compare_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def add_compare_arguments(parser) -> None:
    parser.add_argument("--workloads", "--workload", dest="workloads", default=",".join(DEFAULT_WORKLOADS),
                        help="comma-separated models")
    parser.add_argument("--seq", default="1K,4K,16K,64K,256K,1M", help="comma-separated sequence lengths")
    parser.add_argument("--designs", "--design", "--mappings", dest="designs", default=",".join(DEFAULT_DESIGNS),
                        help="comma-separated designs (with --arch: mappings on that architecture)")
    parser.add_argument("--baseline", default="flat", help="design the speedups are relative to")
    parser.add_argument("--end-to-end", action="store_true", help="attention plus the layer's GEMMs")
    parser.add_argument("--causal", action="store_true",
                        help="causal attention (prefill: each query sees the keys up to its own position): the "
                             "causal form of each design's cascade, or a GPU kernel's causal masking")
    parser.add_argument("--plot", help="also write a speedup/energy figure to this path (PDF + PNG)")
    parser.add_argument("--arch", help="compare mappings on one architecture: --designs (or --mappings) are then "
                                       "mapping names (e.g. --arch h100-sxm5-80gb --mappings fa2,fa3)")
    add_set_argument(parser)


def run_comparison(args) -> dict:
    designs = names_option(args.designs, "--designs")
    arch = getattr(args, "arch", None)
    overrides = parse_set_options(getattr(args, "set", None))
    if arch is None:
        archs = {load_design(name).arch for name in [*designs, args.baseline]}
    else:
        archs = {arch}
        if args.baseline not in designs:
            args.baseline = designs[0]
    for name in sorted(archs):  # every design's arch takes the overrides: check them before any work
        load_arch_with_overrides(name, overrides)
    workloads = names_option(args.workloads, "--workloads")
    for name in workloads:
        load_model(name)
    seq_lens = [parse_seq_len(s) for s in names_option(args.seq, "--seq")] if args.seq else list(DEFAULT_SEQ_LENS)
    return compare(designs, workloads, seq_lens, args.baseline, args.end_to_end, progress=not args.json, arch=arch,
                   overrides=overrides, causal=args.causal)


def run(args) -> int:
    result = run_comparison(args)
    if args.plot:
        from simulator.studies.plots.comparison import plot_comparison

        result["figures"] = [str(p) for p in plot_comparison(result, Path(args.plot))]
    if args.json:
        print_json(result)
    else:
        print(format_comparison(result))
    return 0


def format_comparison(result: dict) -> str:
    points = result["points"]
    blocks = []
    for workload in dict.fromkeys(r["workload"] for r in points):
        rows = [(r["seq_len"], r["design"], f"{r['latency_s']:.4g}", f"{r['energy_pj']:.4g}", f"{r['util_2d']:.3f}",
                 f"{r['util_1d']:.3f}", f"{r['speedup']:.2f}x", f"{r['energy_ratio']:.3f}")
                for r in points if r["workload"] == workload]
        headers = ("seq_len", "design", "latency_s", "energy_pj", "util_2d", "util_1d", "speedup", "energy_ratio")
        scope = result["scope"] + (", causal" if result.get("causal") else "")
        blocks.append(table(headers, rows, title=f"{workload} ({scope}; speedup and energy against "
                                                 f"{result['baseline']})"))
    summary = [(d, f"{s['mean_speedup']:.2f}x", f"{s['mean_energy_ratio']:.3f}", s["points"])
               for d, s in result["summary"].items()]
    blocks.append(table(("design", "mean speedup", "mean energy ratio", "points"), summary,
                        title=f"arithmetic means over all points against {result['baseline']}"))
    notes = dict.fromkeys([*(r["note"] for r in points if r.get("note")),
                           *(f"energy_pj of {r['design']} on {r['arch']}: {r['energy_note']}" for r in points
                             if r.get("energy_note"))])
    return "\n\n".join(blocks + [f"note: {note}" for note in notes])
