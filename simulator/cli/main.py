"""The `cascade` command: one subcommand per task. User-input errors exit 2 with one line each; an unexpected
error (a bug) exits 1 with one line naming it, and `--debug` shows its traceback instead."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from einsum_cascade.errors import SpecError
from simulator.studies.sweeps.stop import SweepStopped

# subcommand -> its module; only the module of the command being run is imported (start-up time: plotting,
# symbolic algebra and dask load only for the commands that use them)
COMMANDS = {name: f"simulator.cli.{module}" for name, module in (
    ("list", "list_items"), ("analyze", "analyze"), ("check", "check"), ("simulate", "simulate"),
    ("compare", "compare"), ("map", "map"), ("sweep", "sweep"), ("plot", "plot"), ("report", "report"),
    ("reproduce", "reproduce"), ("validate-gpu", "validate_gpu"), ("measure-gpu", "measure_gpu"), ("demo", "demo"),
    ("bench", "bench"))}


class HelpWithDefaults(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless it has none (None, a flag's False) or says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or with `only` of that one (what `main` needs to run it)."""
    parser = argparse.ArgumentParser(prog="cascade", description="Design-space simulator for attention "
                                     "accelerators: cascades of extended Einsums on spatial arrays and GPUs.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        if only in (None, name):
            importlib.import_module(module).add_parser(subparsers)
    parser.allow_abbrev = False
    for command in subparsers.choices.values():
        command.formatter_class = HelpWithDefaults
        command.allow_abbrev = False  # an option is its name or a declared alias, never a prefix of one
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
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
