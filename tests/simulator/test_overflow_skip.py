"""The mapper's batches skip the array accesses of a tiling that overflows a buffer or register file
(`evaluate_group_batch(skip_overflow=True)`): every tiling that fits costs exactly what the whole evaluation
gives it, and every one that does not is inf, as before, its other figures NaN (not partial numbers)."""

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
    # the skipped tilings' array accesses were not worked out: no partial figure passes for a cost
    assert np.isnan(skipped.traffic[4][~fit]).all() and (whole.traffic[4][~fit] > 0).any()
    assert np.isnan(skipped.words["dram_read"][~fit]).all() and np.isnan(skipped.dram_bytes[~fit]).all()
    assert np.isfinite(skipped.words["dram_read"][fit]).all()


def test_skipping_on_flat_where_score_rows_spill():
    # FLAT's hardware has no staging buffer, and its mapping spills the score rows (QK, SN, A) that overflow
    # the buffer at long sequences: spilled fractions, costs and feasibility of every tiling are unchanged
    from einsum_cascade.library import library_cascade
    from mappers.space import SpatialMappingSpace
    from simulator.spatial.mapper_cost import SpatialCost
    from workloads.zoo import attention_shapes, load_model

    arch = load_arch("flat")
    assert arch.staging_buffer is None
    space = SpatialMappingSpace(library_cascade("softmax-3pass"), arch, attention_shapes(load_model("bert"), 65536))
    cost = SpatialCost(space)
    spilled_somewhere = False
    for structure in range(space.dimensions[0]):
        genomes = space.at(np.arange(structure * int(space.strides[0]), (structure + 1) * int(space.strides[0])))
        genomes = genomes[space.legal_sizes(genomes)]
        lowered = cost._structure(structure, genomes[0])
        if isinstance(lowered, str):
            continue
        for group in lowered:
            if not group.tensor_spill.any():
                continue
            extents = space.extents(group.parts, group.extents, genomes)
            whole = evaluate_group_batch(group, arch, extents, skip_overflow=False)
            skipped = evaluate_group_batch(group, arch, extents)
            fit = whole.feasible
            np.testing.assert_array_equal(skipped.feasible, fit)
            np.testing.assert_array_equal(skipped.spilled[fit], whole.spilled[fit])
            np.testing.assert_array_equal(skipped.cycles[fit], whole.cycles[fit])
            np.testing.assert_array_equal(skipped.energy_pj[fit], whole.energy_pj[fit])
            spilled_somewhere |= bool((whole.spilled[fit] > 0).any())
    assert spilled_somewhere


def test_an_empty_batch_has_empty_traffic():
    # the traffic kernel works in blocks of rows: no rows, no block, and every output empty
    from simulator.spatial.batch import traffic

    lowered, extents = random_fusemax_tilings(10, seed=2)
    outputs = traffic(lowered, extents[:0], load_arch("fusemax"))
    assert all(len(output) == 0 for output in outputs)
