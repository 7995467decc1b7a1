"""Figure: speedup and energy of each design against the baseline, per workload and sequence length."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.studies.plots import style
from simulator.studies.plots.style import TEXT_WIDTH_IN, new_figure, palette, save, token_label


def plot_comparison(result: dict, path: Path) -> list[Path]:
    """Speedup (log) and energy ratio against the baseline, a bar per design at each (model, length)."""
    from simulator.studies.plots.rows import display

    points = result["points"]
    designs = [d for d in result["summary"] if d != result["baseline"]] or list(result["summary"])
    labels = list(dict.fromkeys((r["workload"], r["seq_len"]) for r in points))
    figure, axes = new_figure(TEXT_WIDTH_IN, 3.2)
    figure.clear()
    top, bottom = figure.subplots(2, 1, sharex=True)
    width = 0.8 / len(designs)
    x = np.arange(len(labels))
    for n, (design, colour) in enumerate(zip(designs, palette(designs), strict=True)):
        rows = {(r["workload"], r["seq_len"]): r for r in points if r["design"] == design}
        zero = np.zeros(len(labels))
        speedup = np.array([rows[k]["speedup"] for k in labels], dtype=float)
        energy = np.array([rows[k]["energy_ratio"] for k in labels], dtype=float)
        style.stacked_bars(top, x + n * width, speedup, zero, colour, display(design), width)
        style.stacked_bars(bottom, x + n * width, energy, zero, colour, None, width)
    top.set_yscale("log")
    baseline = display(result["baseline"])
    top.set_ylabel(f"speedup over {baseline} (x)")
    bottom.set_ylabel(f"energy / {baseline}'s")
    bottom.set_xticks(x + width * (len(designs) - 1) / 2)
    rotated = len(labels) > 12
    gap = " " if rotated else "\n"
    bottom.set_xticklabels([f"{w}{gap}{token_label(s)}" for w, s in labels], rotation=90 if rotated else 0)
    top.axhline(1.0, color="black", linewidth=0.5)
    bottom.axhline(1.0, color="black", linewidth=0.5)
    top.legend(frameon=False, ncol=min(len(designs), 4), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(figure, path)


