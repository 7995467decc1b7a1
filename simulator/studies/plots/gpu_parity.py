"""Parity plot of the GPU model: predicted against measured, log axes, one colour per kernel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from simulator.studies.plots.style import TEXT_WIDTH_IN, new_figure, save

MARKERS = "osD^v<>ph*X"
BACKWARD_PASSES = ("bwd", "fwd+bwd")


def plot_parity(result: dict, path: str | Path) -> list[Path]:
    """Two panels: throughput rows (TFLOP/s: forward, backward, forward+backward) and time rows (decode, us)."""
    rows = [r for r in result["rows"] if r["modelled"]]
    figure, _ = new_figure(TEXT_WIDTH_IN, 3.0)
    figure.clear()
    axes = figure.subplots(1, 2)
    panels = [("TFLOPs/s", "throughput (TFLOP/s)"), (None, "time (us)")]
    kernels = sorted({r["kernel"] for r in rows})
    style = {k: (f"C{n % 10}", MARKERS[n % len(MARKERS)]) for n, k in enumerate(kernels)}
    for axis, (unit, label) in zip(axes, panels, strict=True):
        members = [r for r in rows if (r["unit"] == "TFLOPs/s") == (unit is not None)]
        for kernel in kernels:
            points = [r for r in members if r["kernel"] == kernel]
            if not points:
                continue
            colour, marker = style[kernel]
            filled = [p for p in points if p["pass"] not in BACKWARD_PASSES]
            hollow = [p for p in points if p["pass"] in BACKWARD_PASSES]
            for group, face in ((filled, colour), (hollow, "none")):
                if group:
                    axis.scatter([p["measured"] for p in group], [p["predicted"] for p in group], s=12, marker=marker,
                                 facecolors=face, edgecolors=colour, linewidths=0.7,
                                 label=kernel if group is filled or not filled else None)
        values = [v for r in members for v in (r["measured"], r["predicted"])]
        if values:
            low, high = min(values) / 1.3, max(values) * 1.3
            line = np.geomspace(low, high, 50)
            axis.plot(line, line, color="black", linewidth=0.8)
            axis.fill_between(line, line / 1.25, line * 1.25, color="0.85", linewidth=0, zorder=0)
            axis.set_xlim(low, high)
            axis.set_ylim(low, high)
        axis.set_xscale("log")
        axis.set_yscale("log")
        for ticks in (axis.xaxis, axis.yaxis):  # 1-2-5 ticks: the span can be under a decade
            ticks.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ticks.set_major_formatter(ScalarFormatter())
            ticks.set_minor_formatter(NullFormatter())
        axis.set_xlabel(f"measured {label}")
        axis.set_ylabel(f"predicted {label}")
        axis.legend(frameon=False, fontsize=6.5, loc="upper left")
    stats = result["summary"]["overall"]
    axes[0].set_title(f"filled: forward/decode, hollow: bwd or fwd+bwd; band: +/-25%; MAPE {stats['mape_pct']:.1f}%",
                      fontsize=7)
    return save(figure, path)
