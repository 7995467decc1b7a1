"""The model's only fitted numbers: one efficiency per instruction family, fitted on a documented subset.

`calibration.yaml` holds the factors, under `fit.data` the measurement file they were fitted on and under
`fit.subsets` which of its rows each one is fitted on (a filter over the CSV columns). `fit_efficiencies`
reproduces the stored factors: it minimises the mean absolute log error of the subset rows by
golden-section search on one factor at a time, cycling until the factors stop moving (the memory factor
touches the tensor-bound rows a little, and vice versa). A row counts as fitted only if it is one of the
rows the fit used (the same measurement: every column equal), whatever file it is read from; a row of
another file that merely passes the filter is not.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

from arch_models.gpu import load_gpu
from mappers.gpu_kernels import mapping_for_kernel
from simulator.gpu.measurements import Measurement, read_measurements
from simulator.gpu.simulate import CALIBRATION_FILE, calibration, simulate_attention

SEARCH_RANGE = (0.2, 1.5)


def fit_subsets() -> dict[str, dict]:
    return {str(k): dict(v) for k, v in calibration()["fit"]["subsets"].items()}


def fit_data_file() -> Path:
    """The measurement file the stored factors were fitted on (`fit.data`, relative to calibration.yaml)."""
    return CALIBRATION_FILE.parent / str(calibration()["fit"]["data"])


@cache
def fit_rows() -> dict[Measurement, str]:
    """Every row the stored fit used -> the family it was used for."""
    rows = read_measurements(fit_data_file())
    return {m: family for family, rule in fit_subsets().items() for m in rows if _matches(m, rule)}


def fitted_family(measurement: Measurement) -> str | None:
    """The family whose fit used this very row, or None for a row the fit did not use."""
    return fit_rows().get(measurement)


def _matches(m: Measurement, rule: dict) -> bool:
    checks = {
        "gpu": lambda v: m.gpu == v, "kernel": lambda v: m.kernel == v, "pass": lambda v: m.passes == v,
        "causal": lambda v: m.causal == v, "min_seqlen": lambda v: m.seqlen_kv >= v,
        "headdim": lambda v: m.headdim in (v if isinstance(v, list) else [v]),
    }
    return all(checks[key](value) for key, value in rule.items())


def predicted_time(m: Measurement, efficiency: dict[str, float]) -> float:
    return simulate_attention(mapping_for_kernel(m.kernel), load_gpu(m.gpu), m.problem(), efficiency).time_s


def log_error(rows: list[Measurement], efficiency: dict[str, float]) -> float:
    return float(np.mean([abs(math.log(m.value_from_time(predicted_time(m, efficiency)) / m.value)) for m in rows]))


def fit_efficiencies(measurements: list[Measurement], start: dict[str, float] | None = None, rounds: int = 4,
                     tolerance: float = 1e-3) -> dict[str, float]:
    """Refit every family on its subset of `measurements` (coordinate-wise golden-section search)."""
    subsets = fit_subsets()
    efficiency = dict(start or {family: 1.0 for family in subsets})
    members = {family: [m for m in measurements if _matches(m, rule)] for family, rule in subsets.items()}
    for _ in range(rounds):
        moved = 0.0
        for family, rows in members.items():
            if not rows:
                continue
            best = _golden(lambda x, f=family, r=rows: log_error(r, {**efficiency, f: x}), *SEARCH_RANGE, tolerance)
            moved = max(moved, abs(best - efficiency.get(family, 1.0)))
            efficiency[family] = best
        if moved < tolerance:
            break
    return {family: round(value, 3) for family, value in efficiency.items()}


def _golden(objective, low: float, high: float, tolerance: float) -> float:
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = objective(c), objective(d)
    while b - a > tolerance:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = objective(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = objective(d)
    return (a + b) / 2
