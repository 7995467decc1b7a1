"""Cascade from Python, for notebooks: each call runs what the command of the same name runs and returns a
pandas DataFrame, one row per point, units in the column names (latency_s, energy_pj, dram_bytes, area_mm2;
utilizations are fractions of busy time).

    from simulator import api
    api.simulate("fusemax", workload="bert", seq_len="64K")            # one row
    api.compare(["flat", "fusemax"], ["bert", "xlm"], ["1K", "64K"])   # a row per point, speedup vs FLAT
    api.sweep("workloads/sweeps/buffer-vs-bandwidth.yaml", "out/")      # runs (or resumes), then reads results
    api.results("out/")                                                # a results folder as a table
    api.map("gemm", "fusemax", {"M": 4096, "N": 768, "K": 768})        # the best mapping found
    api.validate_gpu()                                                 # the GPU model against measurements

Errors are `einsum_cascade.errors.SpecError`, with the message the command line prints.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

NESTED = ("einsum_share", "occupancy_bytes", "measured_passes", "energy_breakdown", "storage", "phases",
          "phase_share", "occupancy", "efficiency", "utilization", "problem", "tile", "tile_work", "layer_gemms",
          "mapping_overrides", "shape", "einsum_cycles", "array_2d", "searched_layers")


def simulate(design: str | None = None, *, arch: str | None = None, mapping: str | None = None,
             workload: str | None = None, seq_len: int | str | None = None, cascade: str | None = None,
             shapes: dict[str, int] | None = None, scope: str = "attention",
             overrides: dict | None = None) -> pd.DataFrame:
    """One point, as `cascade simulate`: a named `design`, or `arch` and `mapping`; a `workload` at `seq_len`,
    or a `cascade` at `shapes`. `overrides` are `--set` keys (e.g. {"pe_dim": 128}). Energy by component is
    spread into `energy_<part>_pj` columns."""
    from einsum_cascade.errors import SpecError
    from simulator.studies.designs import design_point
    from simulator.studies.point import run_point
    from workloads.zoo import parse_seq_len

    _check_scope(scope)
    if design is None and (arch is None or (mapping is None and cascade is None)):
        raise SpecError("give a design, or an arch and a mapping (or a cascade with shapes)", key="design")
    seq_len = None if seq_len is None else parse_seq_len(seq_len)
    if design is not None:
        arch, mapping, design = design_point(design, arch)
    row = run_point(arch, mapping, workload, seq_len, design=design, cascade=cascade, shapes=shapes,
                    end_to_end=scope == "end-to-end", overrides=overrides).to_dict()
    return pd.DataFrame([_flat(row)])


def compare(designs: list[str], workloads: list[str], seq_lens: list[int | str], baseline: str = "flat",
            scope: str = "attention", overrides: dict | None = None) -> pd.DataFrame:
    """Every (design, workload, length) point, as `cascade compare`, with `speedup` (baseline latency /
    latency) and `energy_ratio` (energy / baseline energy) at each point."""
    from simulator.studies.compare import compare as run
    from workloads.zoo import parse_seq_len

    _check_scope(scope)
    lengths = [parse_seq_len(n) for n in seq_lens]
    result = run(designs, workloads, lengths, baseline, end_to_end=scope == "end-to-end", progress=False,
                 overrides=overrides)
    return pd.DataFrame([_flat(r) for r in result["points"]])


def sweep(spec: str | Path, out: str | Path, jobs: int = 1, progress: bool = False) -> pd.DataFrame:
    """Run the sweep file `spec` into `out` (resuming what is there, as `cascade sweep`), then its results."""
    from simulator.studies.sweeps.runner import run_sweep
    from simulator.studies.sweeps.spec import load_sweep

    run_sweep(load_sweep(str(spec)), out, jobs=jobs, progress=progress)
    return results(out)


def results(directory: str | Path, einsums: bool = False) -> pd.DataFrame:
    """A results folder (`cascade sweep` or `cascade reproduce`'s sweeps) as written: every row, rejected points
    included with their `reason`; with `einsums` the per-Einsum time shares instead."""
    path = Path(directory) / ("einsums.csv" if einsums else "results.csv")
    if not path.exists():
        from einsum_cascade.errors import SpecError

        raise SpecError("no results here: run `cascade sweep` into this directory first", source=str(path))
    if path.stat().st_size == 0:  # created, nothing written yet (a header-only file reads as an empty table)
        return pd.DataFrame()
    return pd.read_csv(path).sort_values("point_index" if not einsums else "point_id", kind="stable",
                       ignore_index=True)


def map(cascade: str, arch: str, shapes: dict[str, int], objective: str = "latency",  # noqa: A001
        budget: str | int = 20000, strategy: str = "exhaustive", seed: int = 0) -> pd.DataFrame:
    """The best mapping of a cascade on a spatial array at `shapes`, as `cascade map` (cached as it is):
    one row with the mapping's description, its metrics and the search's counts."""
    from einsum_cascade.library import resolve_cascade
    from mappers.search import SearchSettings, parse_budget
    from simulator.studies.arch_overrides import load_arch_with_overrides
    from simulator.studies.spatial_search import search_mapping

    evaluations, seconds = parse_budget(budget)
    settings = SearchSettings(strategy=strategy, evaluations=evaluations, seconds=seconds, seed=seed)
    spatial = load_arch_with_overrides(arch, {})
    resolved = resolve_cascade(cascade)
    found = search_mapping(resolved, spatial, resolved.bind_shapes(shapes, explicit=True), objective, settings,
                           progress=False)
    best = {k: v for k, v in found["best"].items() if not isinstance(v, dict | list)}
    counts = {k: v for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return pd.DataFrame([{"cascade": found["cascade"], "arch": found["arch"], "objective": found["objective"],
                          "mapping": found["mapping_description"], **best, **counts}])


def validate_gpu(measurements: str | Path | None = None) -> pd.DataFrame:
    """Each measured GPU row against its prediction, as `cascade validate-gpu --rows` (rows the model does
    not cover are kept, `modelled` False, with their `reason`)."""
    from simulator.studies.gpu_validation.measurements import DATA_FILE, read_measurements
    from simulator.studies.gpu_validation.validate import validate

    return pd.DataFrame(validate(read_measurements(measurements or DATA_FILE))["rows"])


SCOPES = ("attention", "end-to-end")


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        from einsum_cascade.errors import SpecError

        raise SpecError(f"scope {scope!r} is not one of {', '.join(SCOPES)}", key="scope")


def _flat(row: dict) -> dict:
    """A point's row with energy by component as columns and the nested detail left out (`simulate --json`
    has it)."""
    flat = {k: v for k, v in row.items() if k not in NESTED and not isinstance(v, dict | list)}
    for part, pj in (row.get("energy_breakdown") or {}).items():
        flat[f"energy_{part}_pj"] = pj
    return flat
