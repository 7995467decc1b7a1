"""`cascade reproduce fusemax -o results/fusemax/`: the paper's tables and figures from scratch."""

from __future__ import annotations

from simulator.cli.output import print_json, results_folder
from simulator.studies.reproduce import reproduce_fusemax

TARGETS = {"fusemax": reproduce_fusemax}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("reproduce", help="rerun a paper's results (tables and figures)")
    parser.add_argument("target", choices=tuple(TARGETS))
    parser.add_argument("-o", "--out", default="results/fusemax", help="output directory")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--json", action="store_true", help="machine-readable list of written files")
    parser.set_defaults(run=run)


def run(args) -> int:
    results_folder(args.out)
    result = TARGETS[args.target](args.out, jobs=args.jobs, progress=not args.json)
    if args.json:
        print_json(result)
    else:
        print(f"wrote {len(result['files'])} files into {result['out']} (see its README.md)")
    return 0
