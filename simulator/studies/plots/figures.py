"""The paper figure kinds, drawn from a sweep's results directory (results.csv, einsums.csv).

speedup / energy: normalised to a baseline design per model and length (the FuseMax paper normalises to
the unfused baseline); utilization: 2D and 1D array utilization per design; breakdown: each Einsum's
share of time; pareto: latency against area; roofline: achieved throughput against operational
intensity under the compute and bandwidth roofs; parity: predicted against measured; ablation: each
design's mean speedup over a baseline (arithmetic mean over models and lengths, as the FuseMax artifact
averages its ablation), with published means beside it where the caller has them.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import numpy as np

from einsum_cascade.errors import SpecError
from simulator.studies.plots.comparison import DESIGN_COLOURS
from simulator.studies.plots.style import COLUMN_WIDTH_IN, TEXT_WIDTH_IN, new_figure, save, token_label

KINDS = ("speedup", "energy", "utilization", "breakdown", "pareto", "roofline", "parity", "ablation")
FALLBACK_COLOURS = ("#CC79A7", "#D55E00", "#F0E442", "#000000", "#56B4E9", "#009E73")


def read_rows(directory: Path, name: str = "results.csv") -> list[dict]:
    path = Path(directory) / name
    if not path.exists():
        raise SpecError("no results here: run `cascade sweep` into this directory first", source=str(path))
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("status", "ok") == "ok"]
    for row in rows:
        for key, value in row.items():
            with contextlib.suppress(ValueError):
                row[key] = float(value) if value not in ("", None) and key not in ("point_id",) else value
    if rows and "point_index" in rows[0]:  # the sweep's order, not the order points finished in
        rows.sort(key=lambda r: r["point_index"])
    return rows


def colour(design: str, designs: list[str]) -> str:
    return DESIGN_COLOURS.get(design, FALLBACK_COLOURS[designs.index(design) % len(FALLBACK_COLOURS)])


def _need(rows: list[dict], columns: tuple[str, ...], kind: str) -> None:
    if not rows or any(c not in rows[0] for c in columns):
        raise SpecError(f"--kind {kind} needs results with columns {', '.join(columns)}", key="--kind")


def point_columns(rows: list[dict]) -> list[str]:
    """The columns that identify a point other than its design: the sweep's point keys (between `point_index`
    and `status` in results.csv) that are workload or seq_len or vary across the rows."""
    columns = list(rows[0])
    if "point_index" in columns and "status" in columns:
        keys = columns[columns.index("point_index") + 1:columns.index("status")]
    else:
        keys = ["workload", "seq_len"]
    return [k for k in keys if k != "design" and (k in ("workload", "seq_len") or len({r.get(k) for r in rows}) > 1)]


def _point_label(key: tuple, columns: list[str]) -> str:
    named = dict(zip(columns, key, strict=True))
    extra = ", ".join(f"{c.split('.')[-1]}={_plain(v)}" for c, v in named.items() if c not in ("workload", "seq_len"))
    return f"{named.get('workload', '')}\n{token_label(named['seq_len'])}" + (f"\n{extra}" if extra else "")


def _plain(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def normalised_bars(rows: list[dict], metric: str, baseline: str, scope: str, path: Path, kind: str) -> list[Path]:
    """Speedup (baseline latency / latency) or energy (energy / baseline energy) per point: a point is every
    swept key but the design (workload, length, array size, ...), each drawn, none merged or dropped."""
    _need(rows, ("design", "workload", "seq_len", metric), kind)
    rows = [r for r in rows if r.get("scope", scope) == scope]
    designs = list(dict.fromkeys(r["design"] for r in rows))
    if baseline not in designs:
        raise SpecError(f"baseline {baseline!r} is not among the designs {', '.join(designs)}", key="--baseline")
    shown = [d for d in designs if d != baseline]
    if not shown:
        raise SpecError(f"the baseline {baseline!r} is the only design in these results: nothing to compare with "
                        "it", key="--baseline")
    columns = point_columns(rows)
    keys = list(dict.fromkeys(tuple(r[c] for c in columns) for r in rows))
    value = {}
    for r in rows:
        key = (r["design"], *(r[c] for c in columns))
        if key in value:
            raise SpecError(f"two results for design {r['design']} at {dict(zip(columns, key[1:], strict=True))}; "
                            "the points differ in a column the sweep does not vary", key="--kind")
        value[key] = r[metric]
    missing = [(d, k) for d in designs for k in keys if (d, *k) not in value]
    if missing:
        d, k = missing[0]
        raise SpecError(f"{len(missing)} point(s) missing, e.g. design {d} at {dict(zip(columns, k, strict=True))}; "
                        "every design needs a result at every point to be normalised", key="--kind")
    figure, axes = new_figure(TEXT_WIDTH_IN, 2.4)
    width = 0.8 / max(len(shown), 1)
    x = np.arange(len(keys))
    for n, design in enumerate(shown):
        ratios = [(value[(baseline, *k)] / value[(design, *k)]) if metric == "latency_s" else
                  (value[(design, *k)] / value[(baseline, *k)]) for k in keys]
        axes.bar(x + n * width, ratios, width, label=design, color=colour(design, designs))
    axes.axhline(1.0, color="black", linewidth=0.5)
    if metric == "latency_s":
        axes.set_yscale("log")
        axes.set_ylabel(f"speedup over {baseline} (x)")
    else:
        axes.set_ylabel(f"energy / {baseline} energy")
    axes.set_xticks(x + width * (len(shown) - 1) / 2)
    axes.set_xticklabels([_point_label(k, columns) for k in keys], fontsize=6)
    axes.legend(frameon=False, ncol=len(shown), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(figure, path)


def utilization(rows: list[dict], scope: str, path: Path) -> list[Path]:
    _need(rows, ("design", "seq_len", "util_2d", "util_1d"), "utilization")
    rows = [r for r in rows if r.get("scope", scope) == scope]
    designs = list(dict.fromkeys(r["design"] for r in rows))
    figure, _ = new_figure(TEXT_WIDTH_IN, 2.2)
    figure.clear()
    panels = figure.subplots(1, 2, sharey=True)
    for axes, metric, title in zip(panels, ("util_2d", "util_1d"), ("2D array", "1D array"), strict=True):
        for design in designs:
            mine = [r for r in rows if r["design"] == design]
            lengths = sorted({r["seq_len"] for r in mine})
            mean = [np.mean([r[metric] for r in mine if r["seq_len"] == n]) for n in lengths]
            axes.plot(lengths, mean, marker="o", markersize=3, label=design, color=colour(design, designs))
        axes.set_xscale("log", base=2)
        axes.set_xlabel("sequence length (tokens)")
        axes.set_title(title)
        axes.set_ylim(0, 1.05)
    panels[0].set_ylabel("utilization (busy / total, mean over models)")
    panels[1].legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(figure, path)


def breakdown(rows: list[dict], einsum_rows: list[dict], scope: str, path: Path) -> list[Path]:
    """Each Einsum's share of the arrays' busy time, stacked to 1, per design and length (first workload)."""
    _need(rows, ("design", "workload", "seq_len"), "breakdown")
    rows = [r for r in rows if r.get("scope", scope) == scope]
    workload = rows[0]["workload"]
    rows = [r for r in rows if r["workload"] == workload]
    shares: dict[str, dict[str, float]] = {}
    for row in einsum_rows:
        shares.setdefault(row["point_id"], {})[row["einsum"]] = float(row["time_share"])
    for point in shares.values():
        total = sum(point.values()) or 1.0
        for einsum in point:
            point[einsum] /= total
    labels = [f"{r['design']}\n{token_label(r['seq_len'])}" for r in rows]
    einsums = list(dict.fromkeys(e for r in rows for e in shares.get(r["point_id"], {})))
    figure, axes = new_figure(TEXT_WIDTH_IN, 2.6)
    bottom = np.zeros(len(rows))
    cmap = __import__("matplotlib").colormaps["tab20"]
    for n, einsum in enumerate(einsums):
        values = np.array([shares.get(r["point_id"], {}).get(einsum, 0.0) for r in rows])
        axes.bar(range(len(rows)), values, bottom=bottom, label=einsum, color=cmap(n % 20))
        bottom += values
    axes.set_xticks(range(len(rows)))
    axes.set_xticklabels(labels, fontsize=5, rotation=90)
    axes.set_ylabel("share of busy array time")
    axes.set_title(f"per-Einsum time, {workload}, {scope}")
    axes.legend(frameon=False, fontsize=5, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(figure, path)


def pareto(rows: list[dict], path: Path) -> list[Path]:
    _need(rows, ("latency_s", "area_mm2"), "pareto")
    figure, axes = new_figure(COLUMN_WIDTH_IN, 2.4)
    area = np.array([r["area_mm2"] for r in rows])
    latency = np.array([r["latency_s"] for r in rows])
    axes.scatter(area, latency, s=10, color=DESIGN_COLOURS["fusemax"], zorder=3)
    for r in rows:
        label = r.get("arch.pe_dim")
        if label not in (None, ""):
            axes.annotate(f"{int(label)}²", (r["area_mm2"], r["latency_s"]), fontsize=6, xytext=(3, 3),
                          textcoords="offset points")
    order = np.argsort(area)
    front, best = [], np.inf
    for n in order:
        if latency[n] < best:
            front.append(n)
            best = latency[n]
    axes.plot(area[front], latency[front], color="black", linewidth=0.8, label="Pareto front")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("area (mm², 45 nm)")
    axes.set_ylabel("latency (s)")
    axes.legend(frameon=False, loc="upper right")
    return save(figure, path)


def roofline(rows: list[dict], path: Path) -> list[Path]:
    _need(rows, ("design", "latency_s", "dram_bytes", "peak_ops_per_s", "useful_ops"), "roofline")
    designs = list(dict.fromkeys(r["design"] for r in rows))
    figure, axes = new_figure(COLUMN_WIDTH_IN, 2.4)
    for design in designs:
        mine = [r for r in rows if r["design"] == design]
        intensity = [r["useful_ops"] / max(r["dram_bytes"], 1) for r in mine]
        achieved = [r["useful_ops"] / r["latency_s"] for r in mine]
        axes.scatter(intensity, achieved, s=8, label=design, color=colour(design, designs), zorder=3)
    peak = max(r["peak_ops_per_s"] for r in rows)
    bandwidth = max(r["dram_bandwidth_bytes_per_s"] for r in rows)
    x = np.logspace(-1, 6, 200)
    axes.plot(x, np.minimum(peak, bandwidth * x), color="black", linewidth=0.8, label="roof")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("operational intensity (ops / DRAM byte)")
    axes.set_ylabel("achieved throughput (ops/s)")
    axes.legend(frameon=False, fontsize=6, loc="lower right")
    return save(figure, path)


def parity(rows: list[dict], path: Path) -> list[Path]:
    _need(rows, ("measured", "predicted"), "parity")
    figure, axes = new_figure(COLUMN_WIDTH_IN, COLUMN_WIDTH_IN)
    groups = list(dict.fromkeys(str(r.get("kernel", "all")) for r in rows))
    for group in groups:
        mine = [r for r in rows if str(r.get("kernel", "all")) == group]
        axes.scatter([r["measured"] for r in mine], [r["predicted"] for r in mine], s=8, label=group,
                     color=colour(group, groups))
    values = [v for r in rows for v in (r["measured"], r["predicted"]) if v > 0]
    low, high = min(values) / 1.3, max(values) * 1.3
    axes.plot([low, high], [low, high], color="black", linewidth=0.6)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(f"measured ({rows[0].get('unit', '')})")
    axes.set_ylabel(f"predicted ({rows[0].get('unit', '')})")
    axes.legend(frameon=False, fontsize=5, loc="upper left")
    return save(figure, path)


def ablation(rows: list[dict], baseline: str, scope: str, path: Path,
             published: dict[str, float] | None = None) -> list[Path]:
    """Mean speedup over `baseline` per design, in sweep order; `published` means as markers beside the bars."""
    _need(rows, ("design", "workload", "seq_len", "latency_s"), "ablation")
    rows = [r for r in rows if r.get("scope", scope) == scope]
    designs = list(dict.fromkeys(r["design"] for r in rows))
    if baseline not in designs:
        raise SpecError(f"baseline {baseline!r} is not among the designs {', '.join(designs)}", key="--baseline")
    base = {(r["workload"], r["seq_len"]): r["latency_s"] for r in rows if r["design"] == baseline}
    shown = [d for d in designs if d not in (baseline, "unfused")]
    means = [np.mean([base[(r["workload"], r["seq_len"])] / r["latency_s"] for r in rows if r["design"] == d])
             for d in shown]
    figure, axes = new_figure(COLUMN_WIDTH_IN, 2.4)
    x = np.arange(len(shown))
    axes.bar(x, means, 0.6, color=[colour(d, designs) for d in shown], label="Cascade")
    for n, mean in enumerate(means):
        axes.annotate(f"{mean:.2f}x", (n, mean), ha="center", va="bottom", fontsize=6, xytext=(0, 5),
                      textcoords="offset points")
    marked = [(n, published[d]) for n, d in enumerate(shown) if published and d in published]
    if marked:
        axes.scatter([n for n, _ in marked], [v for _, v in marked], marker="_", s=200, color="black", zorder=3,
                     label="published")
    axes.axhline(1.0, color="black", linewidth=0.5)
    axes.set_xticks(x)
    axes.set_xticklabels(shown, fontsize=6, rotation=20, ha="right")
    axes.set_ylabel(f"mean speedup over {baseline} (x)")
    axes.legend(frameon=False, loc="upper left")
    return save(figure, path)


def plot(directory: str | Path, kind: str, path: str | Path, baseline: str = "unfused",
         scope: str = "attention", published: dict[str, float] | None = None) -> list[Path]:
    directory, path = Path(directory), Path(path)
    rows = read_rows(directory)
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
