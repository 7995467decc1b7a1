"""`cascade reproduce fusemax`: rerun the FuseMax paper's comparison and write its tables and figures.

Runs the sweeps in workloads/sweeps/ (the 4 models x 6 lengths x 5 designs comparison, attention and end
to end, and the array-size Pareto sweep), then writes CSV tables and PDF+PNG figures into the output
directory, with a README naming the command that made each file.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
from pathlib import Path

import numpy as np

from simulator.studies.compare import against
from simulator.studies.plots.figures import plot
from simulator.studies.plots.rows import read_rows
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import SHIPPED as SWEEPS
from simulator.studies.sweeps.spec import load_sweep
from simulator.studies.sweeps.workers import worker_pool

# Published means over the 4 models x 6 lengths, speedup and energy ratio against FLAT (Nayak et al., MICRO
# 2024; REFERENCE.md §1 "Published headline results": headline and ablation; no energy for the ablation).
PUBLISHED = {("attention", "fusemax"): (6.7, 0.79), ("end-to-end", "fusemax"): (5.3, 0.83),
             ("attention", "fusemax-cascade-on-flat-hw"): (0.91, None),
             ("attention", "fusemax-cascade-on-flat-hw-artifact"): (0.91, None),
             ("attention", "fusemax-no-binding"): (2.18, None)}
ABLATION_PUBLISHED = {design: speedup for (scope, design), (speedup, _) in PUBLISHED.items() if scope == "attention"}
ABLATION_PUBLISHED["fusemax"] = 6.72  # the ablation's own last step (the headline rounds it to 6.7)
DEVIATIONS = Path(__file__).resolve().parents[2] / "docs" / "fusemax-deviations.md"
FIGURES = {  # file stem: (plot kind, baseline, scope, sweep, --where); normalised to FLAT, as the paper's figures
    "speedup_attention": ("speedup", "flat", "attention", "fusemax-reproduction", {}),
    "energy_attention": ("energy", "flat", "attention", "fusemax-reproduction", {}),
    "speedup_end_to_end": ("speedup", "flat", "end-to-end", "fusemax-reproduction", {}),
    "utilization": ("utilization", "flat", "attention", "fusemax-reproduction", {}),
    "breakdown": ("breakdown", "flat", "attention", "fusemax-reproduction", {"workload": "bert"}),
    "roofline": ("roofline", "flat", "attention", "fusemax-reproduction", {}),
    "pareto": ("pareto", "flat", "attention", "pareto-array-size", {}),
    "ablation": ("ablation", "flat", "attention", "fusemax-reproduction", {}),
}
COMMAND = "cascade reproduce fusemax -o {out}"


def reproduce_fusemax(out: str | Path, jobs: int = 2, progress: bool = True) -> dict:
    """Run the sweeps and write the tables, figures and README into `out`. With `jobs` > 1, one pool of that many
    worker processes serves both sweeps and the figures: each worker loads the kernels and matplotlib once."""
    with worker_pool(jobs) if jobs > 1 else contextlib.nullcontext() as pool:
        return _reproduce(Path(out), pool, progress)


def _reproduce(out: Path, pool, progress: bool) -> dict:
    sweeps = out / "sweeps"
    written: dict[str, str] = {}
    for name in ("fusemax-reproduction", "pareto-array-size"):
        shutil.rmtree(sweeps / name, ignore_errors=True)  # a reproduction always starts from scratch
        run_sweep(load_sweep(str(SWEEPS / f"{name}.yaml")), sweeps / name, progress=progress, pool=pool)
        written[f"sweeps/{name}/results.csv"] = f"cascade sweep workloads/sweeps/{name}.yaml -o {sweeps / name}"
    rows = read_rows(sweeps / "fusemax-reproduction")
    for scope in ("attention", "end-to-end"):
        name = f"{scope.replace('-', '_')}.csv"
        _write(out / name, _comparison_table(rows, scope))
        written[name] = COMMAND.format(out=out)
    _write(out / "summary.csv", _summary(rows))
    written["summary.csv"] = COMMAND.format(out=out)
    _write(out / "pareto.csv", _pareto_table(read_rows(sweeps / "pareto-array-size")))
    written["pareto.csv"] = COMMAND.format(out=out)
    for stem, paths in _figures(sweeps, out, pool).items():
        kind, baseline, scope, sweep, where = FIGURES[stem]
        for path in paths:
            narrow = "".join(f" --where {k}={v}" for k, v in where.items())
            written[path.name] = f"cascade plot {sweeps / sweep} --kind {kind} --baseline {baseline} " \
                                 f"--scope {scope}{narrow} -o {out / (stem + '.pdf')}"
    _readme(out, written)
    return {"out": str(out), "files": sorted(written)}


def _figures(sweeps: Path, out: Path, pool) -> dict[str, list[Path]]:
    """Draw every figure of FIGURES, in `pool`'s workers if given (drawing and writing a figure is about
    0.2-1 s of matplotlib, most of a reproduction's time)."""
    arguments = {stem: (sweeps / sweep, kind, out / f"{stem}.pdf", baseline, scope, ABLATION_PUBLISHED, where)
                 for stem, (kind, baseline, scope, sweep, where) in FIGURES.items()}
    if pool is None:
        return {stem: plot(*args) for stem, args in arguments.items()}
    futures = {stem: pool.submit(plot, *args) for stem, args in arguments.items()}
    return {stem: future.result() for stem, future in futures.items()}


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _comparison_table(rows: list[dict], scope: str) -> list[dict]:
    rows = [r for r in rows if r["scope"] == scope]
    table = []
    for r, flat, unfused in zip(rows, against(rows, "flat"), against(rows, "unfused"), strict=True):
        table.append({"workload": r["workload"], "seq_len": int(r["seq_len"]), "design": r["design"],
                      "latency_s": _round(r["latency_s"]), "energy_pj": _round(r["energy_pj"]),
                      "util_2d": _round(r["util_2d"]), "util_1d": _round(r["util_1d"]), "bound": r["bound"],
                      "dram_bytes": _round(r["dram_bytes"]),
                      **{f"energy_{part}_pj": _round(r[f"energy_{part}_pj"])
                         for part in ("compute", "registers", "buffer", "staging", "dram")},
                      "speedup_vs_flat": _round(flat[0]), "energy_vs_flat": _round(flat[1]),
                      "speedup_vs_unfused": _round(unfused[0]), "energy_vs_unfused": _round(unfused[1])})
    return table


def _summary(rows: list[dict]) -> list[dict]:
    summary = []
    for scope in ("attention", "end-to-end"):
        table = _comparison_table(rows, scope)
        for design in dict.fromkeys(r["design"] for r in table):
            mine = [r for r in table if r["design"] == design]
            published = PUBLISHED.get((scope, design), (None, None))
            summary.append({"scope": scope, "design": design, "baseline": "flat", "points": len(mine),
                            "mean_speedup": _round(np.mean([r["speedup_vs_flat"] for r in mine])),
                            "mean_energy_ratio": _round(np.mean([r["energy_vs_flat"] for r in mine])),
                            "published_speedup": published[0], "published_energy_ratio": published[1],
                            "mean_util_2d": _round(np.mean([r["util_2d"] for r in mine])),
                            "mean_util_1d": _round(np.mean([r["util_1d"] for r in mine]))})
    return summary


def _pareto_table(rows: list[dict]) -> list[dict]:
    return [{"pe_dim": int(r["arch.pe_dim"]), "global_buffer_bytes": int(r["grown_value"] or
                                                                          r["arch.global_buffer_bytes"]),
             "area_mm2": _round(r["area_mm2"]), "latency_s": _round(r["latency_s"]), "bound": r["bound"],
             "util_2d": _round(r["util_2d"])} for r in rows]


def _readme(out: Path, written: dict[str, str]) -> None:
    lines = ["# FuseMax reproduction", "",
             f"Made by `{COMMAND.format(out=out)}` (the whole directory); each file below with the command that",
             "writes it alone. `summary.csv` puts the means next to the published values (Nayak et al., MICRO",
             "2024: attention 6.7x faster than FLAT with 79% of its energy; end to end 5.3x and 83%).", "",
             "| file | command |", "|---|---|"]
    lines += [f"| `{name}` | `{command}` |" for name, command in sorted(written.items())]
    deviations = DEVIATIONS.read_text().split("\n", 1)[1]  # below its title
    lines += ["", "## Deviations from the FuseMax artifact (docs/fusemax-deviations.md)", deviations.rstrip()]
    (out / "README.md").write_text("\n".join(lines) + "\n")
