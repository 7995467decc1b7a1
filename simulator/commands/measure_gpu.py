"""`cascade measure-gpu`: time attention kernels on this machine's GPU through PyTorch (CUDA events)."""

from __future__ import annotations

from simulator.gpu.measure import (
    DEFAULT_SEQLENS,
    KERNELS,
    PASSES,
    benchmark_grid,
    measure,
    parse_int_list,
    parse_kernels,
)
from simulator.gpu.measurements import write_measurements
from simulator.output import print_json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("measure-gpu", help="time attention kernels on a CUDA GPU (needs torch); writes the "
                                   "CSV schema validate-gpu reads")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--kernels", default="sdpa-flash,sdpa-efficient,sdpa-math,triton",
                        help=f"comma-separated, from: {', '.join(KERNELS)}")
    parser.add_argument("--seqlens", default=",".join(map(str, DEFAULT_SEQLENS)), help="sequence lengths")
    parser.add_argument("--head-dims", default="64,128", help="head dims (heads = hidden / head dim)")
    parser.add_argument("--causal", choices=("both", "yes", "no"), default="both")
    parser.add_argument("--passes", default="fwd", help=f"comma-separated, from: {', '.join(PASSES)}")
    parser.add_argument("--tokens", type=int, default=16384, help="batch x sequence length (published: 16K)")
    parser.add_argument("--hidden", type=int, default=2048, help="hidden size (published: 2048)")
    parser.add_argument("--dtype", choices=("fp16", "bf16"), default="fp16")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs; the median is recorded")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.set_defaults(run=run)


def plan(args) -> list:
    """Validate the arguments (no torch needed) and return the points to time."""
    from einsum_cascade.errors import SpecError

    passes = [p.strip() for p in args.passes.split(",") if p.strip()]
    if not passes or any(p not in PASSES for p in passes):
        raise SpecError(f"--passes {args.passes!r}: choose from {', '.join(PASSES)}", key="--passes")
    for option, value in (("--tokens", args.tokens), ("--hidden", args.hidden), ("--repeats", args.repeats)):
        if value <= 0:
            raise SpecError(f"{option} must be positive, not {value}", key=option)
    if args.warmup < 0:
        raise SpecError(f"--warmup must be non-negative, not {args.warmup}", key="--warmup")
    causal = {"both": (False, True), "yes": (True,), "no": (False,)}[args.causal]
    return benchmark_grid(parse_kernels(args.kernels), parse_int_list(args.seqlens, "--seqlens"),
                          parse_int_list(args.head_dims, "--head-dims"), causal, passes, args.tokens, args.hidden)


def run(args) -> int:
    points = plan(args)
    rows = measure(points, args.warmup, args.repeats, args.dtype,
                   progress=None if args.json else lambda row: print(
                       f"{row['kernel']:<15} {row['pass']:<7} causal={row['causal']!s:<5} d={row['headdim']:<4} "
                       f"seqlen={row['seqlen_q']:<6} {row['value']:8.1f} TFLOP/s"))
    write_measurements(args.out, rows)
    if args.json:
        print_json({"out": args.out, "rows": rows})
    else:
        print(f"wrote {len(rows)} rows to {args.out}; compare with: cascade validate-gpu --data {args.out}")
    return 0
