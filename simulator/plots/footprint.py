"""Figure: live buffer per query against sequence length, one line per cascade (O(M) vs O(1))."""

from __future__ import annotations

from pathlib import Path

from einsum_cascade.analysis import analyze_passes, live_footprint
from einsum_cascade.analysis.symbols import TYPICAL_SHAPES, evaluate
from einsum_cascade.model import Cascade
from simulator.plots.style import new_figure, save

SEQUENCE_LENGTHS = [2**k for k in range(10, 21, 2)]  # 1K ... 1M, the FuseMax paper's range
BYTES_PER_ELEMENT = 2  # fp16, as in the FuseMax paper's designs


def footprint_curves(cascades: list[Cascade]) -> dict[str, list[float]]:
    curves = {}
    for cascade in cascades:
        footprint = live_footprint(cascade, analyze_passes(cascade)).per_query
        curves[cascade.name] = [
            BYTES_PER_ELEMENT * evaluate(footprint, cascade, {**TYPICAL_SHAPES, "M": n, "P": n})
            for n in SEQUENCE_LENGTHS
        ]
    return curves


def plot_footprint(cascades: list[Cascade], path: str | Path) -> list[Path]:
    figure, axes = new_figure()
    for name, values in footprint_curves(cascades).items():
        axes.plot(SEQUENCE_LENGTHS, values, marker="o", markersize=3, label=name)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("sequence length M (tokens)")
    axes.set_ylabel("live buffer per query (bytes, fp16)")
    axes.legend(frameon=False, loc="upper left")
    return save(figure, path)
