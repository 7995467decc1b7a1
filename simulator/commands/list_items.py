"""`cascade list cascades`: what the library ships."""

from __future__ import annotations

from einsum_cascade.library import library_cascade, library_names
from simulator.output import print_json, table

KINDS = ("cascades",)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list library items (cascades)")
    parser.add_argument("kind", choices=KINDS, help="what to list")
    parser.add_argument("--json", action="store_true", help="print the names as a JSON list")
    parser.set_defaults(run=run)


def run(args) -> int:
    names = library_names()
    if args.json:
        print_json(names)
    else:
        rows = [(name, library_cascade(name).description) for name in names]
        print(table(("cascade", "description"), rows))
    return 0
