"""The model's only fitted numbers: one efficiency per instruction family, fitted on the rows of named GPUs.

`calibration.yaml` holds the factors, under `fit.calibrated_on` the GPU presets whose rows they were fitted
on, under `fit.data` the measurement file and under `fit.subsets` which of those GPUs' rows each family is
fitted on: a filter over the rows (the GPU mapping a row's kernel resolves to, causal, shortest key length,
head dims) and a list of passes in order of preference, the first one with rows on the calibration GPUs
being used (the forward pass where it was measured, else forward+backward). The same rule picks a subset on
any GPU, which is what `--calibrate-on` of `validate-gpu` refits on. A family with no rows on the calibration
GPUs (wgmma exists only on Hopper) is not fitted: it runs at its datasheet rate (`UNFITTED` = 1.0), so rows
of another GPU that use it are scored without a factor from that GPU, never with one fitted on it.

`fit_efficiencies` minimises the mean absolute log error of each subset by golden-section search on one
factor at a time, cycling until the factors stop moving (the memory factor touches the tensor-bound rows a
little, and vice versa). A row counts as fitted only if it is one of the rows the stored fit used (the same
measurement: every column equal), whatever file it is read from.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

from arch_models.gpu import gpu_preset_named, load_gpu
from einsum_cascade.errors import SpecError
from mappers.gpu_kernels import mapping_for_kernel
from simulator.gpu.simulate import CALIBRATION_FILE, calibration, simulate_attention
from simulator.studies.gpu_validation.measurements import Measurement, read_measurements

SEARCH_RANGE = (0.2, 1.5)
UNFITTED = 1.0  # a family with no rows on the calibration GPUs: its datasheet rate
RULE_KEYS = ("mapping", "pass", "causal", "min_seqlen", "headdim")


def fit_subsets() -> dict[str, dict]:
    """family -> its row filter (`fit.subsets`); a rule with an unknown key or no pass list is an error."""
    subsets = {str(k): dict(v) for k, v in calibration()["fit"]["subsets"].items()}
    for family, rule in subsets.items():
        unknown = [key for key in rule if key not in RULE_KEYS]
        if unknown or not isinstance(rule.get("pass"), list) or not rule["pass"]:
            raise SpecError(f"fit.subsets.{family} needs a `pass` list and only the keys {', '.join(RULE_KEYS)}"
                            f"{' (unknown: ' + ', '.join(unknown) + ')' if unknown else ''}",
                            source=str(CALIBRATION_FILE))
    return subsets


def calibrated_on() -> tuple[str, ...]:
    """The GPU presets whose rows the stored factors were fitted on (`fit.calibrated_on`)."""
    return tuple(str(name) for name in calibration()["fit"]["calibrated_on"])


def fit_data_file() -> Path:
    """The measurement file the stored factors were fitted on (`fit.data`, relative to calibration.yaml)."""
    return CALIBRATION_FILE.parent / str(calibration()["fit"]["data"])


def fit_plan(measurements: list[Measurement], gpus: tuple[str, ...]) -> dict[str, dict]:
    """family -> the pass and the rows of `gpus` (preset names) its factor is fitted on (no rows: not fitted)."""
    on_gpus = [m for m in measurements if gpu_preset_named(m.gpu) in gpus]
    plan = {}
    for family, rule in fit_subsets().items():
        plan[family] = {"pass": None, "rows": []}
        for passes in rule["pass"]:
            rows = [m for m in on_gpus if m.passes == passes and _matches(m, rule)]
            if rows:
                plan[family] = {"pass": passes, "rows": rows}
                break
    return plan


@cache
def fit_rows() -> dict[Measurement, str]:
    """Every row the stored fit used -> the family it was used for."""
    plan = fit_plan(read_measurements(fit_data_file()), calibrated_on())
    return {m: family for family, entry in plan.items() for m in entry["rows"]}


def fitted_family(measurement: Measurement) -> str | None:
    """The family whose fit used this very row, or None for a row the fit did not use."""
    return fit_rows().get(measurement)


def _matches(m: Measurement, rule: dict) -> bool:
    mapping = mapping_for_kernel(m.kernel)
    checks = {
        "mapping": lambda v: mapping is not None and mapping.name == v, "pass": lambda v: True,
        "causal": lambda v: m.causal == v, "min_seqlen": lambda v: m.seqlen_kv >= v,
        "headdim": lambda v: m.headdim in (v if isinstance(v, list) else [v]),
    }
    return all(checks[key](value) for key, value in rule.items())


def predicted_time(m: Measurement, efficiency: dict[str, float]) -> float:
    return simulate_attention(mapping_for_kernel(m.kernel), load_gpu(m.gpu), m.problem(), efficiency).time_s


def log_error(rows: list[Measurement], efficiency: dict[str, float]) -> float:
    return float(np.mean([abs(math.log(m.value_from_time(predicted_time(m, efficiency)) / m.value)) for m in rows]))


def fit_efficiencies(measurements: list[Measurement], gpus: tuple[str, ...] | None = None, rounds: int = 4,
                     tolerance: float = 1e-3) -> dict[str, float]:
    """Refit every family on its subset of the rows of `gpus` (default: `calibrated_on`), coordinate-wise
    golden-section search; a family without rows there stays at `UNFITTED`."""
    plan = fit_plan(measurements, calibrated_on() if gpus is None else gpus)
    efficiency = {family: UNFITTED for family in plan}
    for _ in range(rounds):
        moved = 0.0
        for family, entry in plan.items():
            if not entry["rows"]:
                continue
            best = _golden(lambda x, f=family, r=entry["rows"]: log_error(r, {**efficiency, f: x}), *SEARCH_RANGE,
                           tolerance)
            moved = max(moved, abs(best - efficiency[family]))
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
