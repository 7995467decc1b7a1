"""`cascade plot DIR --kind KIND -o FILE.pdf`: a paper figure (PDF, PNG beside it) from a results directory."""

from __future__ import annotations

from simulator.cli.output import figure_path, print_json
from simulator.studies.plots.figures import KINDS, plot


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plot", help="draw a figure from a sweep's results")
    parser.add_argument("directory", help="results directory written by `cascade sweep`")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("-o", "--out", required=True,
                        help="output file (.pdf; a .png is written beside it), or an existing folder (KIND.pdf in it)")
    parser.add_argument("--baseline", default="unfused", help="design to normalise to (speedup, energy)")
    parser.add_argument("--scope", default="attention", choices=("attention", "end-to-end"))
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    out = figure_path(args.out, args.kind)
    paths = [str(p) for p in plot(args.directory, args.kind, out, args.baseline, args.scope)]
    if args.json:
        print_json({"kind": args.kind, "files": paths})
    else:
        print("wrote " + ", ".join(paths))
    return 0
