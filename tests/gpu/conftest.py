"""Shared helper: run one of the GPU commands the way `simulator.cli.main.main` runs a registered command."""

from __future__ import annotations

import argparse
import sys

import pytest

from einsum_cascade.errors import SpecError


@pytest.fixture
def run_command(capsys):
    """Parse argv for `module`'s subcommand, run it, turn a SpecError into one stderr line and status 2."""

    def run(module, *argv):
        parser = argparse.ArgumentParser(prog="cascade")
        module.add_parser(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(list(argv))
        try:
            status = args.run(args)
        except SpecError as error:
            print(f"cascade: error: {error}", file=sys.stderr)
            status = 2
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run
