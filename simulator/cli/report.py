"""`cascade report DIR`: one self-contained HTML page and a Markdown page of a sweep or a reproduction."""

from __future__ import annotations

from simulator.cli.output import print_json
from simulator.studies.report import build_report


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("report", help="an HTML and Markdown page of a sweep or reproduction")
    parser.add_argument("directory", help="a folder written by `cascade sweep` or `cascade reproduce`")
    parser.add_argument("-o", "--out", help="folder for report.html, report.md and their figures (default: "
                                            "the directory itself)")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    written = build_report(args.directory, args.out)
    if args.json:
        print_json(written)
    else:
        print("wrote " + ", ".join(written["files"]))
    return 0
