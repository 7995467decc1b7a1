"""Compare designs over workloads and sequence lengths; speedups and energy ratios against a baseline."""

from __future__ import annotations

from itertools import product

import numpy as np
from tqdm import tqdm

from simulator.studies.designs import design_point
from simulator.studies.point import run_point

DEFAULT_WORKLOADS = ("bert", "trxl", "t5", "xlm")
DEFAULT_SEQ_LENS = (1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20)
DEFAULT_DESIGNS = ("unfused", "flat", "fusemax")


def against(rows: list[dict], baseline: str) -> list[tuple[float, float]]:
    """(speedup, energy ratio) of every row against the `baseline` design's row of the same workload and length."""
    by_key = {(r["workload"], r["seq_len"], r["design"]): r for r in rows}
    pairs = []
    for row in rows:
        base = by_key[(row["workload"], row["seq_len"], baseline)]
        pairs.append((base["latency_s"] / row["latency_s"], row["energy_pj"] / base["energy_pj"]))
    return pairs


def compare(designs, workloads, seq_lens, baseline: str, end_to_end: bool = False, progress: bool = True,
            arch: str | None = None, overrides: dict | None = None, causal: bool = False) -> dict:
    """Every (design, workload, length) point plus, per design, the mean speedup and energy ratio;
    `overrides` (`--set`) apply to every design's architecture; `causal`: prefill attention (run_point)."""
    designs = list(dict.fromkeys([*designs, baseline]))
    grid = list(product(workloads, seq_lens, designs))
    rows = []
    for workload, seq, design in tqdm(grid, desc="design points", unit="pt", disable=not progress):
        point_arch, mapping, label = design_point(design, arch)
        rows.append(run_point(point_arch, mapping, workload, seq, design=label, end_to_end=end_to_end,
                              overrides=overrides, causal=causal).to_dict())
    for row, (speedup, energy_ratio) in zip(rows, against(rows, baseline), strict=True):
        row["speedup"], row["energy_ratio"] = speedup, energy_ratio
    summary = {
        design: {
            "mean_speedup": float(np.mean([r["speedup"] for r in rows if r["design"] == design])),
            "mean_energy_ratio": float(np.mean([r["energy_ratio"] for r in rows if r["design"] == design])),
            "points": sum(r["design"] == design for r in rows),
        }
        for design in designs
    }
    return {"baseline": baseline, "scope": "end-to-end" if end_to_end else "attention", "causal": causal,
            "points": rows, "summary": summary}
