"""`cascade demo` (what `make demo` runs): the FuseMax vs FLAT (and unfused) attention comparison on the
FuseMax paper's workloads and lengths, printed as a table and drawn as a figure."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli import compare
from simulator.cli.output import print_json, results_folder


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the main job on built-in defaults")
    parser.add_argument("-o", "--out", default="out/demo", help="directory for the figure (default out/demo)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def _comparison_options(out: str, as_json: bool) -> argparse.Namespace:
    """The options of `cascade compare` for the demo, read by compare's own parser (so every option it has gets
    its default; a hand-built Namespace missed `--causal` when compare gained it, and the demo stopped)."""
    parser = argparse.ArgumentParser(prog="cascade")
    compare.add_parser(parser.add_subparsers())
    return parser.parse_args(["compare", "--workloads", "bert,trxl,t5,xlm", "--seq", "1K,4K,16K,64K,256K,1M",
                              "--designs", "unfused,flat,fusemax", "--baseline", "flat",
                              "--plot", str(Path(out) / "attention_speedup_energy"), *(["--json"] if as_json else [])])


def run(args) -> int:
    results_folder(args.out)
    options = _comparison_options(args.out, args.json)
    result = compare.run_comparison(options)
    from simulator.studies.plots.comparison import plot_comparison

    result["figures"] = [str(p) for p in plot_comparison(result, Path(options.plot))]
    if args.json:
        print_json(result)
        return 0
    print(compare.format_comparison(result))
    print("\nwrote " + ", ".join(result["figures"]))
    print("more: `cascade compare --end-to-end`, `cascade analyze --all`, `cascade check --all`")
    return 0
