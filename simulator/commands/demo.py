"""`cascade demo` (what `make demo` runs): the main job on built-in defaults.

Until the spatial-array simulator lands this is the cascade taxonomy: every library cascade checked
against its reference formula, its pass class and footprint, and a figure of buffer need vs length.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from einsum_cascade.library import library_cascade
from simulator.commands import analyze, check
from simulator.plots.footprint import plot_footprint

FIGURE_CASCADES = ("softmax-3pass", "softmax-2pass-online", "softmax-2pass-deferred", "flashattention-2", "fusemax")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the main job on built-in defaults")
    parser.add_argument("-o", "--out", default="out/demo", help="directory for the figure (default out/demo)")
    parser.add_argument("--json", action="store_true", help="machine-readable taxonomy")
    parser.set_defaults(run=run)


def run(args) -> int:
    status = check.run(argparse.Namespace(cascade=None, all=True, seed=0, json=False)) if not args.json else 0
    print()
    analyze.run(argparse.Namespace(all=True, rank="M", json=args.json))
    if not args.json:
        names = [n for n in FIGURE_CASCADES if _exists(n)]
        paths = plot_footprint([library_cascade(n) for n in names], Path(args.out) / "footprint_vs_length")
        print("\nwrote " + ", ".join(map(str, paths)))
    return status


def _exists(name: str) -> bool:
    from einsum_cascade.library import library_names

    return name in library_names()
