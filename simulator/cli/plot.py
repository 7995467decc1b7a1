"""`cascade plot DIR --kind KIND -o OUT` (a paper figure) or `cascade plot DIR --x AXIS --y METRIC -o OUT` (any
metric of a sweep against its axes): a PDF and a PNG beside it, from a results directory."""

from __future__ import annotations

import argparse

from einsum_cascade.errors import SpecError
from simulator.cli.output import figure_path, print_json
from simulator.studies.plots.figures import DEFAULT_BASELINE, KINDS, plot, plot_xy
from simulator.studies.plots.rows import parse_where


def add_parser(subparsers) -> None:
    kinds = "\n".join(f"  {kind:<12} {what}" for kind, what in KINDS.items())
    parser = subparsers.add_parser(
        "plot", help="draw a figure from a sweep's results", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw a paper figure (--kind) or any metric against the sweep's axes (--x/--y). Every row is "
                    "one mark: rows that would share one are an error naming the axis to add (--hue, --col) or to "
                    "fix (--where).",
        epilog=f"kinds:\n{kinds}\n\nexamples:\n  cascade plot results/study --x arch.pe_dim --y latency_s --hue "
               "design --col arch.global_buffer_bytes -o fig.pdf\n  cascade plot results/study --x arch.pe_dim --y "
               "latency_s --hue arch.global_buffer_bytes --baseline flat -o speedup.pdf")
    parser.add_argument("directory", help="results directory written by `cascade sweep` (or `cascade reproduce`)")
    parser.add_argument("--kind", choices=KINDS, help="a paper figure (see below); or give --x and --y instead")
    parser.add_argument("--x", metavar="AXIS", help="column on the x axis: a swept key (arch.pe_dim, seq_len, ...)")
    parser.add_argument("--y", metavar="METRIC", help="column on the y axis (latency_s, energy_pj, dram_bytes, ...)")
    parser.add_argument("--hue", metavar="AXIS", help="a series per value of this column (with --x/--y)")
    parser.add_argument("--col", metavar="AXIS", help="a panel per value of this column (with --x/--y)")
    parser.add_argument("--where", action="append", metavar="KEY=VALUE",
                        help="keep the rows with this value (repeatable; e.g. workload=bert, arch.pe_dim=128)")
    parser.add_argument("-o", "--out", required=True,
                        help="folder for KIND.pdf and KIND.png (created if need be), or FILE.pdf (FILE.png beside it)")
    parser.add_argument("--baseline", metavar="DESIGN",
                        help=f"design to normalise to: speedup, energy and ablation default to {DEFAULT_BASELINE}; "
                             "with --x/--y, y becomes the ratio to it (speedup for latency_s) (default: none)")
    parser.add_argument("--scope", default="attention", choices=("attention", "end-to-end"),
                        help="rows of this scope, for --kind (default: attention; with --x/--y use --where)")
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    where = parse_where(args.where)
    if (args.kind is None) == (args.x is None and args.y is None):
        raise SpecError("give either --kind KIND or --x AXIS --y METRIC", key="--kind")
    if args.kind is None:
        if args.x is None or args.y is None:
            raise SpecError("--x and --y go together", key="--x" if args.x is None else "--y")
        name = f"{args.y}-vs-{args.x}"
        files = plot_xy(args.directory, figure_path(args.out, name), args.x, args.y, args.hue, args.col,
                        args.baseline, where)
    else:
        if args.hue or args.col:
            raise SpecError("--hue and --col go with --x/--y, not --kind", key="--hue" if args.hue else "--col")
        name = args.kind
        files = plot(args.directory, args.kind, figure_path(args.out, name), args.baseline, args.scope,
                     where=where)
    paths = [str(p) for p in files]
    if args.json:
        print_json({"kind": name, "files": paths})
    else:
        print("wrote " + ", ".join(paths))
    return 0
