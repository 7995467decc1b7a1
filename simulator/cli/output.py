"""Shared output helpers for CLI commands: JSON for scripts, aligned text tables for people."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from einsum_cascade.errors import SpecError


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def format_number(value) -> str:
    """Compact numbers for tables: integers grouped, large or small values in scientific notation."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}" if abs(value) < 1e7 else f"{value:.3g}"
    return f"{value:.3g}"


def table(headers: Sequence[str], rows: Sequence[Sequence], title: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[format_number(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)


def write_text_file(path: str | Path, text: str, key: str) -> None:
    """Write a file the user named; a path that cannot be written is a one-line error, not a traceback."""
    try:
        Path(path).write_text(text)
    except OSError as error:
        raise SpecError(f"cannot write {path}: {error.strerror or error.__class__.__name__}", key=key) from None


def figure_path(out: str, name: str, key: str = "-o") -> Path:
    """Where a figure goes: `out/NAME.pdf` (the PNG beside it), `out` a folder, created if need be, as every `-o`
    names; or `out` itself when it ends in .pdf. Another suffix, or a folder that cannot be created or written, is
    a one-line error."""
    path = Path(out)
    if path.is_dir() or not path.suffix:
        path = path / f"{name}.pdf"
    if path.suffix.lower() not in ("", ".pdf"):
        raise SpecError(f"{out}: a figure is written as FILE.pdf (and FILE.png beside it), not {path.suffix}", key=key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SpecError(f"cannot create {path.parent}: {error.strerror or error.__class__.__name__}", key=key) from None
    if not os.access(path.parent, os.W_OK):
        raise SpecError(f"cannot write into {path.parent}: permission denied", key=key)
    return path.with_suffix(".pdf")


def results_folder(out: str, key: str = "-o") -> None:
    """The folder a command writes its results into, created now: a file of that name, or a folder that cannot be
    created, is a one-line error (bad input, exit 2) before any work. A folder that exists but turns out not to be
    writable fails later, when a write does (the machine, exit 1)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise SpecError(f"{out} is a file, not a folder: name a folder for the results", key=key)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SpecError(f"cannot create {out}: {error.strerror or error.__class__.__name__}", key=key) from None


def names_option(text: str | None, key: str) -> list[str]:
    """The names of a comma-separated option; an option that names nothing is an error."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if not names:
        raise SpecError(f"{text!r} names nothing; give one or more comma-separated names", key=key)
    return names


def report_results(args, results: list[dict], label: str, show) -> int:
    """Shared end of `cascade map` (spatial and GPU): save the fastest result's mapping with `--save`, then
    print JSON, or each result (`show`) and a side-by-side line naming them by `label`."""
    if args.save:
        best = min(results, key=lambda r: r["best"]["latency_s"])
        write_text_file(args.save, best["mapping_yaml"], "--save")
        best["saved"] = args.save
    if args.json:
        print_json(results[0] if len(results) == 1 else {"results": results})
        return 0
    for result in results:
        show(result)
    if len(results) > 1:
        fastest = min(r["best"]["latency_s"] for r in results)
        print("side by side: " + ", ".join(f"{r[label]} {r['best']['latency_s']:.4g} s "
                                            f"({r['best']['latency_s'] / fastest:.2f}x)" for r in results))
    return 0
