"""A notebook's first cells, as a script (run by tests/simulator/test_api.py): FuseMax against FLAT from Python,
a table with pandas, and a figure of a metric against a swept parameter.

    .venv/bin/python docs/api_example.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from simulator import api  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else "api-example")
out.mkdir(parents=True, exist_ok=True)

# FuseMax against FLAT on two models and three lengths: a row per point, speedup and energy ratio against FLAT.
points = api.compare(["flat", "fusemax"], ["bert", "xlm"], ["1K", "16K", "256K"])
fusemax = points[points.design == "fusemax"]
print(fusemax.pivot(index="seq_len", columns="workload", values="speedup").round(2))
print("mean speedup over FLAT:", round(fusemax.speedup.mean(), 2))

# One point in detail: energy by component.
point = api.simulate("fusemax", workload="bert", seq_len="64K")
print(point.filter(like="energy_").T)

# Latency against the 2D array's side, a line per design.
grid = [api.simulate(d, workload="bert", seq_len="16K", overrides={"pe_dim": n}).assign(pe_dim=n)
        for d in ("flat", "fusemax") for n in (64, 128, 256)]
table = pd.concat(grid, ignore_index=True)
figure, axes = plt.subplots(figsize=(3.5, 2.3))
for design, rows in table.groupby("design"):
    axes.plot(rows.pe_dim, rows.latency_s, marker="o", label=design)
axes.set(xscale="log", yscale="log", xlabel="2D array side (PEs)", ylabel="latency (s)")
axes.legend(frameon=False)
figure.savefig(out / "latency_vs_pe_dim.png", dpi=200, bbox_inches="tight")
table.to_csv(out / "latency_vs_pe_dim.csv", index=False)
print(f"wrote {out / 'latency_vs_pe_dim.png'}")
