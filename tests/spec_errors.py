"""Test helpers for rejected input: every one-line error a loader reports, and the line a fragment is on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from einsum_cascade.errors import SpecError, SpecErrors


def each(error: SpecError) -> list[SpecError]:
    """The single errors a (possibly combined) SpecError carries."""
    return error.errors if isinstance(error, SpecErrors) else [error]


def rejected(load: Callable[[], object]) -> list[str]:
    """Call `load`, which must raise a SpecError, and return its errors one line each."""
    with pytest.raises(SpecError) as info:
        load()
    return [error.one_line() for error in each(info.value)]


def line_of(text: str, fragment: str, after: str = "") -> int:
    """1-based line of the first `fragment` in `text` (after the first `after`), found without the parser."""
    start = text.index(after) if after else 0
    return text[:text.index(fragment, start)].count("\n") + 1


def run_cli(argv: list[str], capsys) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds) of `cascade ARGV` run in this process; an argparse error's
    SystemExit becomes its status."""
    import time

    from simulator.cli.main import main

    capsys.readouterr()
    start = time.perf_counter()
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    return status, captured.out, captured.err, seconds
