"""`cascade bench` (what `make bench` runs): wall times of the main jobs, for tracking speed."""

from __future__ import annotations

import time

import numpy as np

from einsum_cascade.analysis.report import taxonomy_row
from einsum_cascade.check import check_cascade
from einsum_cascade.executor import run_cascade
from einsum_cascade.library import library_cascade, library_names
from einsum_cascade.parse import load_cascade
from simulator.cli.output import print_json, table
from simulator.studies.bench import USER_COMMANDS, mapper_bench, run_bench, scale_out_bench, user_commands


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="time the main jobs")
    parser.add_argument("--batch", type=int, default=100_000, help="candidate mappings per kernel batch")
    parser.add_argument("--full", action="store_true", help="also map the FuseMax cascade at all 24 grid points and "
                        "run the 10,080-point scale-out sweep with 2 processes and on a 2-worker dask cluster")
    parser.add_argument("--commands", default=",".join(USER_COMMANDS),
                        help="user commands to time in fresh processes, first after install and warm (default: "
                        "all; '' for none)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run(args) -> int:
    names = library_names()
    paths = [library_cascade(n).source for n in names]
    results = user_commands([n.strip() for n in args.commands.split(",") if n.strip()])
    results |= {
        "parse_library_s": _timed(lambda: [load_cascade(p) for p in paths]),
        "analyze_library_s": _timed(lambda: [taxonomy_row(library_cascade(n)) for n in names]),
        "check_library_s": _timed(lambda: [check_cascade(library_cascade(n)) for n in names]),
    }
    fusemax = library_cascade("fusemax")
    sizes = {"M": 4096, "P": 64, "E": 64, "F": 64, "M0": 256}
    rng = np.random.default_rng(0)
    inputs = {"Q": rng.standard_normal((64, 64)), "K": rng.standard_normal((64, 4096)),
              "V": rng.standard_normal((64, 4096))}
    results["execute_fusemax_M4096_P64_s"] = _timed(lambda: run_cascade(fusemax, inputs, sizes))
    results.update(run_bench(args.batch))
    results.update(mapper_bench(args.full))
    if args.full:
        results.update(scale_out_bench())
    results["library_cascades"] = len(names)
    if args.json:
        print_json(results)
    else:
        print(table(("job", "value"), [(k, f"{v:,.3f}" if isinstance(v, float) else v) for k, v in results.items()]))
    return 0
