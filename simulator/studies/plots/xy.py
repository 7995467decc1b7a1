"""`cascade plot DIR --x AXIS --y METRIC [--hue AXIS] [--col AXIS] [--baseline DESIGN]`: any metric of a sweep
against any of its axes. One mark per row: numeric x gives lines with a marker per row, text x grouped bars;
`--hue` splits series, `--col` panels; rows that would share a mark are an error naming the axes to add."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from einsum_cascade.errors import SpecError
from simulator.studies.plots import style
from simulator.studies.plots.rows import (
    check_energy_basis,
    check_one_row_per_mark,
    normalised,
    point_keys,
    require_rows,
    title_of,
    value_label,
)
from simulator.studies.plots.style import COLUMN_WIDTH_IN, TEXT_WIDTH_IN, new_figure, palette, save, scale_axis


def xy(rows: list[dict], x: str, y: str, path: Path, hue: str | None = None, col: str | None = None,
       baseline: str | None = None) -> list[Path]:
    return save(xy_figure(rows, x, y, hue, col, baseline), path)


def xy_figure(rows: list[dict], x: str, y: str, hue: str | None = None, col: str | None = None,
              baseline: str | None = None):
    """The figure (unsaved, so a test can count its marks)."""
    require_rows(rows, "to draw")
    for option, column in (("--x", x), ("--y", y), ("--hue", hue), ("--col", col)):
        if column is not None and (not rows or column not in rows[0]):
            raise SpecError(f"{column!r} is not a column of these results; axes: {', '.join(point_keys(rows))}; "
                            f"metrics: {', '.join(_metrics(rows))}", key=option)
    y_title = title_of(y)
    if not all(isinstance(r[y], float) for r in rows):
        raise SpecError(f"{y!r} is not a number in these results", key="--y")
    if len({c for c in (x, hue, col) if c is not None}) < len([c for c in (x, hue, col) if c is not None]):
        raise SpecError("--x, --hue and --col must be different columns", key="--hue")
    check_energy_basis(rows, y)
    if baseline is not None:
        rows, y_title = normalised(rows, y, baseline)
    shown = [c for c in (x, hue, col) if c is not None]
    check_one_row_per_mark(rows, shown, "--x")
    panels = _ordered({r[col] for r in rows} if col else {None})
    series = _ordered({r[hue] for r in rows} if hue else {None})
    colours = dict(zip(series, palette(series), strict=True))
    numeric = all(isinstance(r[x], float) for r in rows)
    width = TEXT_WIDTH_IN if len(panels) > 1 else COLUMN_WIDTH_IN
    figure, _ = new_figure(width, 2.3)
    figure.clear()
    axes = np.atleast_1d(figure.subplots(1, len(panels), sharey=True, squeeze=False)[0])
    for panel, ax in zip(panels, axes, strict=True):
        mine = [r for r in rows if col is None or r[col] == panel]
        if numeric:
            for s in series:
                points = sorted((r[x], r[y]) for r in mine if hue is None or r[hue] == s)
                if points:
                    ax.plot(*zip(*points, strict=True), marker="o", markersize=3, color=colours[s],
                            label=value_label(hue, s) if hue else None)
            scale_axis(ax, "x", [r[x] for r in rows], lambda v: value_label(x, v))
        else:
            categories = _ordered({r[x] for r in rows})
            slot = 0.8 / len(series)
            for n, s in enumerate(series):
                heights = {r[x]: r[y] for r in mine if hue is None or r[hue] == s}
                at = [i for i, c in enumerate(categories) if c in heights]
                tops = np.array([heights[categories[i]] for i in at], dtype=float)
                style.stacked_bars(ax, np.array(at) + n * slot, tops, np.zeros(len(at)), colours[s],
                                   value_label(hue, s) if hue else None, slot)
            ax.set_xticks(np.arange(len(categories)) + slot * (len(series) - 1) / 2)
            ax.set_xticklabels([value_label(x, c) for c in categories], rotation=30 if len(categories) > 4 else 0,
                               ha="right" if len(categories) > 4 else "center")
        ax.set_xlabel(title_of(x))
        if col is not None:
            ax.set_title(f"{title_of(col)}: {value_label(col, panel)}")
        if baseline is not None:
            ax.axhline(1.0, color="black", linewidth=0.5)
    scale_axis(axes[0], "y", [r[y] for r in rows])
    axes[0].set_ylabel(y_title)
    if hue is not None:
        axes[-1].legend(frameon=False, title=title_of(hue), loc="best")
    figure.tight_layout()
    return figure


def _ordered(values: set) -> list:
    """Numbers ascending, text in alphabetical order, one None alone."""
    return sorted(values, key=lambda v: (isinstance(v, str), v if v is not None else 0))


def _metrics(rows: list[dict]) -> list[str]:
    keys = set(point_keys(rows)) | {"point_index", "point_id", "status", "reason"}
    return [c for c in rows[0] if c not in keys and isinstance(rows[0][c], float)] if rows else []
