"""`cascade measure-gpu`: time attention kernels on this machine's GPU through PyTorch (CUDA events)."""

from __future__ import annotations

from simulator.cli.output import print_json
from simulator.gpu.attention import AttentionProblem
from simulator.studies.gpu_measure.harness import (
    DEFAULT_SEQLENS,
    KERNELS,
    PASSES,
    Grid,
    measure,
    parse_int_list,
    parse_kernels,
)
from simulator.studies.gpu_measure.store import failed_path
from simulator.studies.gpu_measure.timing import TimingSettings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("measure-gpu", help="time attention kernels on a CUDA GPU (needs torch); writes the "
                                   "CSV schema validate-gpu reads, one row per point as it is measured, and resumes")
    parser.add_argument("--csv", "--out", dest="out", metavar="FILE", required=True,
                        help="measurement CSV to append to (rerun with the same file to resume); "
                        "points that could not be measured go to FILE.failed.csv")
    parser.add_argument("--mappings", "--kernels", dest="kernels", metavar="MAPPINGS", default=None,
                        help=f"comma-separated, from: {', '.join(KERNELS)} (default: every one a GPU mapping models "
                        "whose package is installed and that runs on this GPU)")
    parser.add_argument("--seq", "--seqlens", dest="seqlens", default=",".join(map(str, DEFAULT_SEQLENS)),
                        help="comma-separated sequence lengths")
    parser.add_argument("--head-dims", default="64,128", help="head dims (heads = hidden / head dim)")
    parser.add_argument("--causal", choices=("both", "yes", "no"), default="both")
    parser.add_argument("--passes", default="fwd", help=f"comma-separated, from: {', '.join(PASSES)}")
    parser.add_argument("--tokens", type=int, default=16384, help="batch x sequence length (published: 16K)")
    parser.add_argument("--hidden", type=int, default=2048, help="hidden size (published: 2048)")
    parser.add_argument("--dtype", choices=("fp16", "bf16"), default="fp16")
    parser.add_argument("--warmup-ms", type=float, default=25.0, help="warm-up time before timing (do_bench: 25)")
    parser.add_argument("--rep-ms", type=float, default=100.0, help="time spent in timed runs (do_bench: 100)")
    parser.add_argument("--min-repeats", type=int, default=10, help="timed runs at least; the median is recorded")
    parser.add_argument("--retry-failed", action="store_true", help="measure again the points in FILE.failed.csv")
    parser.add_argument("--json", action="store_true", help="print this run's rows as JSON")
    parser.set_defaults(run=run)


def plan(args) -> tuple[list[str] | None, Grid, TimingSettings]:
    """Check the arguments (no torch needed): the kernels (None: the default choice), the grid, the timing."""
    from einsum_cascade.errors import SpecError

    for option, value, smallest in (("--warmup-ms", args.warmup_ms, 0), ("--rep-ms", args.rep_ms, 1e-9),
                                    ("--min-repeats", args.min_repeats, 1)):
        if not value >= smallest:
            raise SpecError(f"{option} must be {'non-negative' if smallest == 0 else 'positive'}, not {value}",
                            key=option)
    kernels = parse_kernels(args.kernels) if args.kernels is not None else None
    grid = Grid(parse_int_list(args.seqlens, "--seq"), parse_int_list(args.head_dims, "--head-dims"),
                {"both": (False, True), "yes": (True,), "no": (False,)}[args.causal],
                tuple(p.strip() for p in args.passes.split(",") if p.strip()), args.tokens, args.hidden, args.dtype)
    return kernels, grid, TimingSettings(args.warmup_ms, args.rep_ms, args.min_repeats)


def run(args) -> int:
    kernels, grid, settings = plan(args)
    result = measure(kernels, grid, args.out, settings, retry_failed=args.retry_failed,
                     progress=None if args.json else _print_row)
    if args.json:
        print_json({"out": args.out, "failed_out": str(failed_path(args.out)), **result})
        return 0
    rows = result["rows"]
    failed = [row for row in rows if row["status"] != "ok"]
    print(f"{result['device']} as {result['gpu']}: {len(rows) - len(failed)} point(s) measured into {args.out}, "
          f"{len(failed)} not measurable into {failed_path(args.out)}, {result['already_done']} already done; "
          f"compare with: cascade validate-gpu --data {args.out}")
    return 0


def _print_row(row: dict) -> None:
    point = (f"{row['kernel']:<30} {row['pass']:<7} causal={row['causal']!s:<5} d={row['headdim']:<4} "
             f"seqlen={row['seqlen_q']:<6}")
    if row["status"] != "ok":
        print(f"{point} {row['status']}: {row['reason']}", flush=True)
        return
    problem = AttentionProblem(row["batch"], row["nheads_q"], row["nheads_kv"], row["seqlen_q"], row["seqlen_kv"],
                               row["headdim"], row["headdim"], row["causal"], row["pass"])
    print(f"{point} {row['value']:10.4f} ms {problem.flops() / (row['value'] * 1e-3) / 1e12:7.1f} TFLOP/s", flush=True)
