"""Five mechanisms of the spatial model, each against a value worked out by hand from the cascade, the
mapping and the arch YAML (issue 13 found a one-line mutation of each that no test caught; `make mutants`
keeps them caught): a mask's density, the register-capacity check, the recurrence stride, the prefetch
stage and the measured passes over K and V."""

from __future__ import annotations

import numpy as np
import pytest
from test_loopnest_reference import preset_text

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import parse_mapping
from simulator.spatial.batch import checks, fits, recurrence_stride, task_plan, traffic
from simulator.spatial.lower import lower_group
from simulator.studies.mapping_choice import simulate_family

SMALL = {"B": 1, "H": 1, "M": 32, "P": 32, "E": 4, "F": 4}


def small_arch():
    return load_arch("fusemax").with_overrides(pe_dim=4, global_buffer_bytes=1 << 20)


def fusemax_mapping(replace: dict[str, str] | None = None):
    return parse_mapping(preset_text("fusemax", {"p0": 4, "m0": 4, "p1": 2}, replace), "<fusemax small>")


def test_a_window_mask_scales_the_work_of_every_einsum_over_keys_and_queries_by_its_density():
    # fusemax-window: |m - p| <= W keeps (2W+1)M - W(W+1) of the M x P scores (M = P);
    # M = 32, W = 4: (9 * 32 - 20) / 1024 = 268 / 1024
    shapes = {**SMALL, "W": 4}
    arch, mapping = small_arch(), fusemax_mapping()
    dense = lower_group(library_cascade("fusemax"), arch, mapping, 0, SMALL)
    window = lower_group(library_cascade("fusemax-window"), arch, mapping, 0, shapes)
    qk = [e.name for e in window.einsums].index("QK")
    assert window.density[qk] == pytest.approx(268 / 1024, rel=1e-12)
    dense_cycles = traffic(dense, dense.extents[None, :])[0][0]
    window_cycles = traffic(window, window.extents[None, :])[0][0]
    assert window_cycles[qk] == pytest.approx(dense_cycles[qk] * 268 / 1024, rel=1e-12)


def test_a_tile_needing_more_registers_than_a_pe_has_does_not_fit():
    # fusemax.yaml: 16 register entries per 2D PE, 32 per 1D lane (REFERENCE.md §1); occupancy columns are
    # (buffer words, spillable buffer words, staging words, register words per 2D PE, per 1D lane)
    arch = load_arch("fusemax")
    occupancy = np.array([[0.0, 0.0, 0.0, 16.0, 32.0], [0.0, 0.0, 0.0, 17.0, 0.0], [0.0, 0.0, 0.0, 0.0, 33.0]])
    assert fits(arch, occupancy).tolist() == [True, False, False]


@pytest.mark.parametrize(("arch_name", "placed"), [("flat", [True, False]), ("fusemax", [True, True])])
def test_a_tiling_that_stages_a_value_is_placed_only_where_a_staging_buffer_is(arch_name, placed):
    # flat.yaml has no staging buffer, fusemax.yaml has one: of two tilings that fit (no occupancy), the second
    # stages 3 words of one tensor, which only FuseMax's hardware can hold
    arch = load_arch(arch_name)
    lowered = lower_group(library_cascade("fusemax"), small_arch(), fusemax_mapping(), 0, SMALL)
    staging = np.zeros((2, len(lowered.tensors)))
    staging[1, 0] = 3.0
    fit, got, *_ = checks(lowered, np.repeat(lowered.extents[None, :], 2, axis=0), arch, np.zeros((2, 5)), staging)
    assert fit.tolist() == [True, True] and got.tolist() == placed


@pytest.mark.parametrize(("dram_loops", "stride"), [
    ("[b, h, p2, m1]", 2),        # inside m1: only the buffer loop p1 (2)
    ("[p2, b, m1, h]", 2 * 2),    # inside m1: h (2) and p1 (2)
    ("[m1, p2, b, h]", 4 * 2 * 2 * 2),  # inside m1: p2 (4), b (2), h (2), p1 (2)
])
def test_a_recurrence_advances_once_per_product_of_the_loops_inside_its_own(dram_loops, stride):
    # RM, RD, RNV advance over m1; P = 32 = p2 (4) x p1 (2) x p0 (4); B = H = 2
    mapping = fusemax_mapping({"[b, h, p2, m1]": dram_loops})
    lowered = lower_group(library_cascade("fusemax"), small_arch(), mapping, 0, {**SMALL, "B": 2, "H": 2})
    assert recurrence_stride(lowered, lowered.extents[None, :]).tolist() == [stride]


def test_a_double_buffered_group_loads_a_tile_one_stage_ahead_of_its_einsums():
    # fusemax.yaml: stages {RM: 1, others: 3 or 0}; no tiles_in_flight, so the default double buffering holds
    # max stage + 2 = 5 tiles: every Einsum runs one stage after its tile's load (stage 0)
    lowered = lower_group(library_cascade("fusemax"), small_arch(), fusemax_mapping(), 0, SMALL)
    _, stages, _, in_flight = task_plan(lowered)
    assert in_flight == 5
    assert stages.tolist() == [*(lowered.stages + 1).tolist(), 0]
    # the ablation step without binding keeps one tile in flight: nothing is loaded ahead
    single = parse_mapping(preset_text("fusemax-no-binding", {"p0": 4, "m0": 4, "p1": 2}), "<no binding>")
    lowered = lower_group(library_cascade("fusemax"), small_arch(), single, 0, SMALL)
    _, stages, _, in_flight = task_plan(lowered)
    assert in_flight == 1 and stages.tolist() == [0] * len(stages)


def test_measured_passes_count_k_from_dram_once_per_query_block_and_from_the_buffer_once_per_buffer_step():
    # P = p2 (4) x p1 (2) x p0 (4): K (E x M) is fetched from DRAM once per p2 (the DRAM loops b, h, p2, m1
    # index it by m1 only inside p2) = 4 reads per element, and read by the array once per p1 step of each
    # p2 (multicast across the p0 columns) = 8 reads per element. V the same.
    report = simulate_family(library_cascade("fusemax"), small_arch(), fusemax_mapping(), SMALL)
    for tensor in ("K", "V"):
        assert report.measured_passes[tensor]["dram_reads_per_element"] == pytest.approx(4.0, rel=1e-12)
        assert report.measured_passes[tensor]["buffer_reads_per_element"] == pytest.approx(8.0, rel=1e-12)


def test_the_overflow_of_a_spillable_tensor_moves_that_fraction_of_its_buffer_traffic_to_dram():
    # flat.yaml spills QK, SN and A. Buffer of C words; spillable words S = 100. Overflow of 50 words:
    # half of each spillable tensor's buffer traffic goes to DRAM; an overflow beyond S moves all of it;
    # no overflow moves nothing. Tensors that may not spill keep their traffic whatever the overflow.
    from simulator.spatial.batch import costs

    arch = small_arch()
    mapping = parse_mapping(preset_text("flat", {"p0": 4, "m0": 4}), "<flat small>").family()[0]
    lowered = lower_group(library_cascade("softmax-3pass"), arch, mapping, 0, SMALL)
    capacity = arch.global_buffer.capacity_bytes / arch.word_bytes
    rows, tensors = 3, len(lowered.tensors)
    occupancy = np.array([[capacity + 50, 100, 0, 0, 0], [capacity + 500, 100, 0, 0, 0], [capacity, 100, 0, 0, 0]])
    dram_read, dram_write = np.zeros((rows, tensors)), np.zeros((rows, tensors))
    buffer_read, buffer_write = np.full((rows, tensors), 10.0), np.full((rows, tensors), 4.0)
    einsums = len(lowered.einsums)
    raw = (np.zeros((rows, einsums)), np.zeros((rows, einsums)), dram_read, dram_write, buffer_read, buffer_write,
           np.zeros((rows, tensors)), occupancy, np.ones(rows), None)
    assert costs(lowered, arch, raw, np.repeat(lowered.extents[None, :], rows, axis=0))[0].tolist() == [0.5, 1.0, 0.0]
    spillable = np.array([t in ("QK", "SN", "A") for t in lowered.tensors])
    assert spillable.sum() == sum(t in lowered.tensors for t in ("QK", "SN", "A")) > 0
    assert dram_read[:, spillable].tolist() == [[5.0] * spillable.sum(), [10.0] * spillable.sum(),
                                                [0.0] * spillable.sum()]
    assert dram_write[0, spillable].tolist() == [2.0] * spillable.sum()
    assert buffer_read[0, spillable].tolist() == [5.0] * spillable.sum()
    assert (buffer_read[:, ~spillable] == 10.0).all() and (dram_read[:, ~spillable] == 0.0).all()
