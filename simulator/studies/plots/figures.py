"""The paper figure kinds, drawn from a sweep's results directory (results.csv, einsums.csv).

speedup / energy: normalised to a baseline design at each point (FLAT by default: the paper's headline
results are against FLAT); utilization: 2D and 1D array utilization per design and model; breakdown: each
Einsum's share of time per point; pareto: latency against area; roofline: achieved throughput against operational
intensity under the compute and bandwidth roofs; parity: predicted against measured; ablation: each
design's mean speedup over a baseline (arithmetic mean over every point, as the FuseMax artifact averages
its ablation), with published means beside it where the caller has them. Every kind draws one mark per row
(the ablation's declared mean aside); rows that would share one are an error (rows.check_one_row_per_mark).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from einsum_cascade.errors import SpecError
from simulator.studies.plots import style
from simulator.studies.plots.rows import (
    check_energy_basis,
    check_one_row_per_mark,
    display,
    narrowed,
    normalised,
    point_columns,
    read_rows,
    require_rows,
    value_label,
)
from simulator.studies.plots.style import COLUMN_WIDTH_IN, TEXT_WIDTH_IN, new_figure, palette, save, scale_axis
from simulator.studies.plots.xy import xy

# What each kind draws and the columns it needs (`cascade plot --help` prints this).
KINDS = {
    "speedup": "baseline latency / latency per point, a bar per design (needs design, workload, seq_len, latency_s)",
    "energy": "energy / baseline energy per point, a bar per design (needs design, workload, seq_len, energy_pj)",
    "utilization": "2D and 1D utilization against length, a line per design and model (needs design, workload, "
                   "seq_len, util_2d, util_1d)",
    "breakdown": "each Einsum's share of busy time, a stacked bar per point (needs einsums.csv beside the results)",
    "pareto": "latency against area, a marker per point and the Pareto front (needs latency_s, area_mm2)",
    "roofline": "achieved ops/s against ops per DRAM byte under the roofs (needs latency_s, dram_bytes, useful_ops, "
                "peak_ops_per_s)",
    "parity": "predicted against measured, a marker per row (needs a results.csv with measured and predicted "
              "columns; for the GPU model `cascade validate-gpu --plot PATH` draws it directly)",
    "ablation": "mean speedup over the baseline per design, over every point (needs design, latency_s)",
}
DEFAULT_BASELINE = "flat"  # as `cascade compare`, and as the FuseMax paper normalises its figures


def _need(rows: list[dict], columns: tuple[str, ...], kind: str) -> None:
    require_rows(rows, f"to draw --kind {kind} from")
    missing = [c for c in columns if not rows or c not in rows[0]]
    if missing:
        raise SpecError(f"--kind {kind} needs results with columns {', '.join(missing)}: {KINDS[kind]}",
                        key="--kind")


def _point_label(row: dict, columns: list[str], rotated: bool = False) -> str:
    return (" " if rotated else "\n").join(value_label(c, row[c]) for c in columns)


def normalised_bars(rows: list[dict], metric: str, baseline: str, scope: str, path: Path, kind: str) -> list[Path]:
    """Speedup (baseline latency / latency) or energy (energy / baseline energy) per point: a point is every
    swept key but the design (workload, length, array size, ...), each drawn, none merged or dropped."""
    _need(rows, ("design", "workload", "seq_len", metric), kind)
    rows = _in_scope(rows, scope)
    check_energy_basis(rows, metric)
    shown, title = normalised(rows, metric, baseline)
    columns = point_columns(rows)
    check_one_row_per_mark(shown, ["design", *columns], kind)
    designs = list(dict.fromkeys(r["design"] for r in shown))
    keys = list(dict.fromkeys(tuple(r[c] for c in columns) for r in rows))  # the baseline's points too
    missing = [(d, k) for d in designs for k in keys
               if not any(r["design"] == d and tuple(r[c] for c in columns) == k for r in shown)]
    if missing:
        d, k = missing[0]
        raise SpecError(f"{len(missing)} point(s) missing, e.g. design {d} at {dict(zip(columns, k, strict=True))}; "
                        "every design needs a result at every point to be drawn side by side", key="--kind")
    figure, axes = new_figure(TEXT_WIDTH_IN, 2.6)
    width = 0.8 / len(designs)
    x = np.arange(len(keys))
    for n, (design, colour) in enumerate(zip(designs, palette(designs), strict=True)):
        value = {tuple(r[c] for c in columns): r[metric] for r in shown if r["design"] == design}
        heights = np.array([value[k] for k in keys], dtype=float)
        style.stacked_bars(axes, x + n * width, heights, np.zeros(len(keys)), colour, display(design), width)
    axes.axhline(1.0, color="black", linewidth=0.5)
    if metric == "latency_s":
        axes.set_yscale("log")
    axes.set_ylabel(title)
    axes.set_xticks(x + width * (len(designs) - 1) / 2)
    rotated = len(keys) > 12
    axes.set_xticklabels([_point_label(dict(zip(columns, k, strict=True)), columns, rotated) for k in keys],
                         rotation=90 if rotated else 0)
    axes.legend(frameon=False, ncol=min(len(designs), 4), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(figure, path)


def _in_scope(rows: list[dict], scope: str) -> list[dict]:
    kept = [r for r in rows if r.get("scope", scope) == scope]
    require_rows(kept, f"in scope {scope}", rows)
    return kept


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def utilization(rows: list[dict], scope: str, path: Path) -> list[Path]:
    """A line per design and model (colour: design; marker: model) against length, one marker per row."""
    _need(rows, ("design", "workload", "seq_len", "util_2d", "util_1d"), "utilization")
    rows = _in_scope(rows, scope)
    check_one_row_per_mark(rows, ["design", "workload", "seq_len"], "utilization")
    designs = list(dict.fromkeys(r["design"] for r in rows))
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    colours = dict(zip(designs, palette(designs), strict=True))
    figure, _ = new_figure(TEXT_WIDTH_IN, 2.6)
    figure.clear()
    panels = figure.subplots(1, 2, sharey=True)
    for axes, metric, title in zip(panels, ("util_2d", "util_1d"), ("2D array", "1D array"), strict=True):
        for design in designs:
            for n, workload in enumerate(workloads):
                mine = sorted((r["seq_len"], r[metric]) for r in rows
                              if r["design"] == design and r["workload"] == workload)
                if mine:
                    axes.plot(*zip(*mine, strict=True), marker=MARKERS[n % len(MARKERS)], markersize=3,
                              linewidth=0.8, color=colours[design])
        scale_axis(axes, "x", [r["seq_len"] for r in rows], lambda v: value_label("seq_len", v))
        axes.set_xlabel("sequence length (tokens)")
        axes.set_title(title)
        axes.set_ylim(0, 1.05)
    panels[0].set_ylabel("utilization (busy / total)")
    handles = [panels[0].plot([], [], color=colours[d], label=display(d))[0] for d in designs]
    handles += [panels[0].plot([], [], color="black", linestyle="", marker=MARKERS[n % len(MARKERS)],
                               markersize=3, label=w)[0] for n, w in enumerate(workloads)]
    figure.legend(handles=handles, frameon=False, ncol=min(len(handles), 5), loc="lower center",
                  bbox_to_anchor=(0.5, 1.0))
    figure.tight_layout()
    return save(figure, path)


def breakdown(rows: list[dict], einsum_rows: list[dict], scope: str, path: Path) -> list[Path]:
    """Each Einsum's share of the arrays' busy time, stacked to 1: a bar per row (design and point)."""
    _need(rows, ("design", "workload", "seq_len"), "breakdown")
    rows = _in_scope(rows, scope)
    columns = ["design", *point_columns(rows)]
    check_one_row_per_mark(rows, columns, "breakdown")
    shares: dict[str, dict[str, float]] = {}
    for row in einsum_rows:
        shares.setdefault(row["point_id"], {})[row["einsum"]] = float(row["time_share"])
    for point in shares.values():
        total = sum(point.values()) or 1.0
        for einsum in point:
            point[einsum] /= total
    labels = [_point_label(r, columns, rotated=True) for r in rows]
    einsums = list(dict.fromkeys(e for r in rows for e in shares.get(r["point_id"], {})))
    figure, axes = new_figure(TEXT_WIDTH_IN, 3.0)
    bottom = np.zeros(len(rows))
    cmap = __import__("matplotlib").colormaps["tab20"]
    for n, einsum in enumerate(einsums):
        values = np.array([shares.get(r["point_id"], {}).get(einsum, 0.0) for r in rows])
        style.stacked_bars(axes, np.arange(len(rows)), values, bottom, cmap(n % 20), einsum)
        bottom += values
    axes.set_xticks(range(len(rows)))
    axes.set_xticklabels(labels, rotation=90)
    axes.set_ylabel("share of busy array time")
    axes.legend(frameon=False, ncol=min(len(einsums), 7), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(figure, path)


def pareto(rows: list[dict], path: Path) -> list[Path]:
    """Latency against area, a marker per row (colour: design) and the front over all of them."""
    _need(rows, ("latency_s", "area_mm2"), "pareto")
    figure, axes = new_figure(COLUMN_WIDTH_IN, 2.4)
    area = np.array([r["area_mm2"] for r in rows])
    latency = np.array([r["latency_s"] for r in rows])
    designs = list(dict.fromkeys(r.get("design", "") for r in rows))
    for design, colour in zip(designs, palette(designs), strict=True):
        mine = [r for r in rows if r.get("design", "") == design]
        axes.scatter([r["area_mm2"] for r in mine], [r["latency_s"] for r in mine], s=10, color=colour, zorder=3,
                     label=display(design) if len(designs) > 1 else None)
    for r in rows:
        label = r.get("arch.pe_dim")
        if label not in (None, ""):
            axes.annotate(f"{int(label)}²", (r["area_mm2"], r["latency_s"]), fontsize=7, xytext=(3, 3),
                          textcoords="offset points")
    order = np.argsort(area)
    front, best = [], np.inf
    for n in order:
        if latency[n] < best:
            front.append(n)
            best = latency[n]
    axes.plot(area[front], latency[front], color="black", linewidth=0.8, label="Pareto front")
    scale_axis(axes, "x", list(area))
    scale_axis(axes, "y", list(latency))
    axes.set_xlabel("area (mm², 45 nm)")
    axes.set_ylabel("latency (s)")
    axes.legend(frameon=False, loc="upper right")
    return save(figure, path)


def roofline(rows: list[dict], path: Path) -> list[Path]:
    _need(rows, ("design", "latency_s", "dram_bytes", "peak_ops_per_s", "useful_ops"), "roofline")
    designs = list(dict.fromkeys(r["design"] for r in rows))
    figure, axes = new_figure(COLUMN_WIDTH_IN, 2.4)
    for design, colour in zip(designs, palette(designs), strict=True):
        mine = [r for r in rows if r["design"] == design]
        intensity = [r["useful_ops"] / max(r["dram_bytes"], 1) for r in mine]
        achieved = [r["useful_ops"] / r["latency_s"] for r in mine]
        axes.scatter(intensity, achieved, s=8, label=display(design), color=colour, zorder=3)
    peak = max(r["peak_ops_per_s"] for r in rows)
    bandwidth = max(r["dram_bandwidth_bytes_per_s"] for r in rows)
    x = np.logspace(-1, 6, 200)
    axes.plot(x, np.minimum(peak, bandwidth * x), color="black", linewidth=0.8, label="roof")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("operational intensity (ops / DRAM byte)")
    axes.set_ylabel("achieved throughput (ops/s)")
    axes.legend(frameon=False, loc="lower right")
    return save(figure, path)


def parity(rows: list[dict], path: Path) -> list[Path]:
    _need(rows, ("measured", "predicted"), "parity")
    figure, axes = new_figure(COLUMN_WIDTH_IN, COLUMN_WIDTH_IN)
    groups = list(dict.fromkeys(str(r.get("kernel", "all")) for r in rows))
    for group, colour in zip(groups, palette(groups), strict=True):
        mine = [r for r in rows if str(r.get("kernel", "all")) == group]
        axes.scatter([r["measured"] for r in mine], [r["predicted"] for r in mine], s=8, label=group, color=colour)
    values = [v for r in rows for v in (r["measured"], r["predicted"]) if v > 0]
    low, high = min(values) / 1.3, max(values) * 1.3
    axes.plot([low, high], [low, high], color="black", linewidth=0.6)
    scale_axis(axes, "x", [low, high])
    scale_axis(axes, "y", [low, high])
    axes.set_xlabel(f"measured ({rows[0].get('unit', '')})")
    axes.set_ylabel(f"predicted ({rows[0].get('unit', '')})")
    axes.legend(frameon=False, loc="upper left")
    return save(figure, path)


def ablation(rows: list[dict], baseline: str, scope: str, path: Path,
             published: dict[str, float] | None = None) -> list[Path]:
    """Mean speedup over `baseline` per design, in sweep order, over every point the design has (the FuseMax
    artifact averages its ablation this way; the axis says over how many); `published` means as markers."""
    _need(rows, ("design", "workload", "seq_len", "latency_s"), "ablation")
    rows = _in_scope(rows, scope)
    speedups, _ = normalised(rows, "latency_s", baseline)
    shown = [d for d in dict.fromkeys(r["design"] for r in speedups) if d != "unfused"]
    counts = {d: sum(r["design"] == d for r in speedups) for d in shown}
    means = [np.mean([r["latency_s"] for r in speedups if r["design"] == d]) for d in shown]
    figure, axes = new_figure(COLUMN_WIDTH_IN, 2.6)
    x = np.arange(len(shown))
    style.stacked_bars(axes, x, np.array(means), np.zeros(len(means)), palette(shown), "Cascade", 0.6)
    for n, mean in enumerate(means):
        axes.annotate(f"{mean:.2f}x", (n, mean), ha="center", va="bottom", fontsize=7, xytext=(0, 5),
                      textcoords="offset points")
    marked = [(n, published[d]) for n, d in enumerate(shown) if published and d in published]
    if marked:
        axes.scatter([n for n, _ in marked], [v for _, v in marked], marker="_", s=200, color="black", zorder=3,
                     label="published")
    axes.axhline(1.0, color="black", linewidth=0.5)
    axes.set_xticks(x)
    axes.set_xticklabels([display(d) for d in shown], rotation=20, ha="right")
    per = sorted(set(counts.values()))
    axes.set_ylabel(f"speedup over {display(baseline)} (x),\nmean of {'/'.join(map(str, per))} points")
    axes.legend(frameon=False, loc="upper left")
    return save(figure, path)


def plot(directory: str | Path, kind: str, path: str | Path, baseline: str | None = None,
         scope: str = "attention", published: dict[str, float] | None = None,
         where: dict[str, str] | None = None) -> list[Path]:
    directory, path = Path(directory), Path(path)
    rows = narrowed(read_rows(directory), where or {})
    baseline = baseline or DEFAULT_BASELINE
    if kind == "speedup":
        return normalised_bars(rows, "latency_s", baseline, scope, path, kind)
    if kind == "energy":
        return normalised_bars(rows, "energy_pj", baseline, scope, path, kind)
    if kind == "utilization":
        return utilization(rows, scope, path)
    if kind == "breakdown":
        return breakdown(rows, read_rows(directory, "einsums.csv"), scope, path)
    if kind == "pareto":
        return pareto(rows, path)
    if kind == "roofline":
        return roofline(rows, path)
    if kind == "parity":
        return parity(rows, path)
    if kind == "ablation":
        return ablation(rows, baseline, scope, path, published)
    raise SpecError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}", key="--kind")


def plot_xy(directory: str | Path, path: str | Path, x: str, y: str, hue: str | None = None,
            col: str | None = None, baseline: str | None = None, where: dict[str, str] | None = None) -> list[Path]:
    """Any metric against any axis of a results directory (`cascade plot DIR --x ... --y ...`)."""
    return xy(narrowed(read_rows(Path(directory)), where or {}), x, y, Path(path), hue, col, baseline)

