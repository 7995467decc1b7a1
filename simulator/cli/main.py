"""The `cascade` command: one subcommand per task. User-input errors exit 2 with one line each; an unexpected
error (a bug) exits 1 with one line naming it, and `--debug` shows its traceback instead."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
from simulator.studies.sweeps.stop import SweepStopped

COMMANDS = (list_items, analyze, check, simulate, compare, map, sweep, plot, reproduce, validate_gpu, measure_gpu, demo,
            bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade", description="Design-space simulator for attention "
                                     "accelerators: cascades of extended Einsums on spatial arrays and GPUs.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
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
    except SweepStopped as stopped:
        print(f"cascade: {stopped}", file=sys.stderr)
        return stopped.exit_status
    except KeyboardInterrupt:
        print("cascade: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # the machine, not the input or the code: a full disk, a read-only folder
        if args.debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"cascade: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug: one line, the traceback only on request
        if args.debug:
            raise
        where = error.__traceback__
        while where.tb_next is not None:
            where = where.tb_next
        origin = f"{Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}"
        message = str(error).splitlines()[0] if str(error) else ""
        print(f"cascade: internal error: {type(error).__name__}: {message} (at {origin}; rerun with "
              "`cascade --debug ...` for the traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
