"""The `cascade` command: one subcommand per task; user-input errors exit 2 with one line each."""

from __future__ import annotations

import argparse
import sys

from einsum_cascade.errors import SpecError
from simulator.cli import (
    analyze,
    bench,
    check,
    compare,
    demo,
    list_items,
    map,
    measure_gpu,
    plot,
    reproduce,
    simulate,
    sweep,
    validate_gpu,
)

COMMANDS = (list_items, analyze, check, simulate, compare, map, sweep, plot, reproduce, validate_gpu, measure_gpu, demo,
            bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade", description="Design-space simulator for attention "
                                     "accelerators: cascades of extended Einsums on spatial arrays and GPUs.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SpecError as error:
        for line in str(error).splitlines():
            print(f"cascade: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `cascade analyze --all | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
