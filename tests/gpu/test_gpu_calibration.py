"""The stored efficiencies (simulator/gpu/calibration.yaml) are the fit's optimum on the rows they were fitted on.

A full refit (`fit_efficiencies`) takes about a minute, too slow for the suite. The fit stops when every factor
is stable to 1e-3 and stores it to three decimals, so its optimum lies within a few thousandths of the stored
value: each fitted family's mean |log error| at its stored factor must be no larger than at the stored factor
+/- 0.005, the other factors at their stored values. A stale calibration (the model or the data changed, the
file was not refitted) fails here unless the optimum moved by less than 0.005."""

from __future__ import annotations

import pytest

from simulator.gpu.simulate import default_efficiency
from simulator.studies.gpu_validation.calibration import calibrated_on, fit_data_file, fit_plan, log_error
from simulator.studies.gpu_validation.measurements import read_measurements

STEP = 0.005

PLAN = fit_plan(read_measurements(fit_data_file()), calibrated_on())


@pytest.mark.parametrize("family", sorted(f for f, entry in PLAN.items() if entry["rows"]))
def test_stored_factor_is_the_fits_optimum(family):
    stored = default_efficiency()
    rows = PLAN[family]["rows"]
    here = log_error(rows, stored)
    for step in (-STEP, STEP):
        neighbour = log_error(rows, {**stored, family: stored[family] + step})
        assert here <= neighbour, f"{family}: {stored[family]} {step:+} fits its rows better ({neighbour} < {here})"


def test_every_stored_family_is_fitted_on_rows():
    assert set(default_efficiency()) == {f for f, entry in PLAN.items() if entry["rows"]}
