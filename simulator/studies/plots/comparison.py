"""Figure: speedup and energy of each design against the baseline, per workload and sequence length."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.studies.plots.style import DESIGN_COLOURS, TEXT_WIDTH_IN, new_figure, save, token_label


def plot_comparison(result: dict, path: Path) -> list[Path]:
    points = result["points"]
    designs = [d for d in result["summary"] if d != result["baseline"]] or list(result["summary"])
    labels = list(dict.fromkeys((r["workload"], r["seq_len"]) for r in points))
    figure, axes = new_figure(TEXT_WIDTH_IN, 3.2)
    figure.clear()
    top, bottom = figure.subplots(2, 1, sharex=True)
    width = 0.8 / len(designs)
    x = np.arange(len(labels))
    for n, design in enumerate(designs):
        rows = {(r["workload"], r["seq_len"]): r for r in points if r["design"] == design}
        colour = DESIGN_COLOURS.get(design)
        top.bar(x + n * width, [rows[k]["speedup"] for k in labels], width, label=design, color=colour)
        bottom.bar(x + n * width, [rows[k]["energy_ratio"] for k in labels], width, color=colour)
    top.set_yscale("log")
    top.set_ylabel(f"speedup over {result['baseline']}")
    bottom.set_ylabel(f"energy / {result['baseline']}")
    bottom.set_xticks(x + width * (len(designs) - 1) / 2)
    bottom.set_xticklabels([f"{w}\n{token_label(s)}" for w, s in labels], fontsize=6)
    top.axhline(1.0, color="black", linewidth=0.5)
    bottom.axhline(1.0, color="black", linewidth=0.5)
    top.legend(frameon=False, ncol=len(designs), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(figure, path)


