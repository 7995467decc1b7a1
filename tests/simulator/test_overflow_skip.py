"""The mapper's batches skip the array accesses of a tiling that overflows a buffer or register file
(`evaluate_group_batch(skip_overflow=True)`): every tiling that fits costs exactly what the whole evaluation
gives it, and every one that does not is inf, as before."""

import numpy as np
import pytest

from arch_models import load_arch
from simulator.spatial.batch import evaluate_group_batch
from simulator.studies.bench import random_fusemax_tilings


@pytest.mark.parametrize("buffer_kb", [64, 1024])
def test_skipping_overflowing_tilings_changes_no_tiling_that_fits(buffer_kb):
    arch = load_arch("fusemax").with_overrides(global_buffer_bytes=buffer_kb << 10)
    lowered, extents = random_fusemax_tilings(3000, seed=1)
    whole = evaluate_group_batch(lowered, arch, extents, skip_overflow=False)
    skipped = evaluate_group_batch(lowered, arch, extents)
    assert 0 < whole.feasible.sum() < len(extents)  # both kinds of tiling are in the batch
    np.testing.assert_array_equal(skipped.feasible, whole.feasible)
    fit = whole.feasible
    np.testing.assert_array_equal(skipped.cycles[fit], whole.cycles[fit])
    np.testing.assert_array_equal(skipped.energy_pj[fit], whole.energy_pj[fit])
    np.testing.assert_array_equal(skipped.dram_bytes[fit], whole.dram_bytes[fit])
    assert np.isinf(skipped.cycles[~fit]).all() and np.isinf(skipped.energy_pj[~fit]).all()
    # the skipped tilings' array accesses were not worked out: their buffer reads are left at zero
    assert skipped.traffic[4][~fit].sum() == 0 < whole.traffic[4][~fit].sum()
