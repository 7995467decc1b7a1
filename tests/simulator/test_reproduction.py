"""The FuseMax reproduction targets, checked against the published numbers.

Published (Nayak et al., MICRO 2024; REFERENCE.md §1 "Published headline results"): attention, FuseMax
vs FLAT, mean over 4 models x 6 lengths: 6.7x faster using 79% of the energy; end-to-end 5.3x and 83%;
the ablation (artifact averages, latency relative to FLAT): 1-pass cascade on FLAT's hardware 0.91x,
+ the 2D/1D split without binding 2.18x, + the binding 6.72x. The accepted bands are the product's
targets (about +-5% of the published means). FLAT's 2D utilization bound 2E/(4*256) follows from its
softmax: 4 element-wise passes on 256 lanes against 2E MACs per score on 256*256 PEs.

Two published numbers are not met, for causes docs/fusemax-deviations.md sets out; they are strict xfails,
so a change that meets them must also update that page: the energy ratios (the per-action energies of
REFERENCE.md, with one buffer access per 256-word row and multicast operand delivery, put FLAT's energy
per score close to FuseMax's), and the ablation's first step on FLAT's hardware as modelled (the artifact
charges exp(a - b) 2 cycles there and 1 cycle in FLAT's own softmax; the model charges both 1).
"""

import numpy as np
import pytest

from simulator.studies.compare import DEFAULT_SEQ_LENS, DEFAULT_WORKLOADS, compare

ABLATION = ["fusemax-cascade-on-flat-hw", "fusemax-cascade-on-flat-hw-artifact", "fusemax-no-binding", "fusemax"]


@pytest.fixture(scope="module")
def attention():
    return compare(["unfused", "flat", *ABLATION], DEFAULT_WORKLOADS, DEFAULT_SEQ_LENS, "flat", progress=False)


@pytest.fixture(scope="module")
def end_to_end():
    return compare(["fusemax", "flat"], DEFAULT_WORKLOADS, DEFAULT_SEQ_LENS, "flat", end_to_end=True,
                   progress=False)


def test_attention_mean_speedup_matches_the_paper(attention):
    summary = attention["summary"]["fusemax"]
    assert summary["points"] == 24
    assert 6.4 <= summary["mean_speedup"] <= 7.0  # published 6.7


@pytest.mark.xfail(strict=True, reason="FLAT's published energy is not reproduced: docs/fusemax-deviations.md")
def test_attention_mean_energy_ratio_matches_the_paper(attention):
    assert 0.75 <= attention["summary"]["fusemax"]["mean_energy_ratio"] <= 0.82  # published 0.79


def test_end_to_end_mean_speedup_matches_the_paper(end_to_end):
    assert 5.0 <= end_to_end["summary"]["fusemax"]["mean_speedup"] <= 5.6  # published 5.3


@pytest.mark.xfail(strict=True, reason="FLAT's published energy is not reproduced: docs/fusemax-deviations.md")
def test_end_to_end_mean_energy_ratio_matches_the_paper(end_to_end):
    assert 0.80 <= end_to_end["summary"]["fusemax"]["mean_energy_ratio"] <= 0.86  # published 0.83


def points(result, design):
    return [r for r in result["points"] if r["design"] == design]


def test_fusemax_keeps_both_arrays_busy(attention):
    # published: the 2D array busy ~89% at 1K tokens rising to ~99% at 1M; the 1D array fully busy
    for row in points(attention, "fusemax"):
        assert row["util_1d"] >= 0.95
        if row["seq_len"] == 1024:
            assert 0.85 <= row["util_2d"] <= 0.93
        if row["seq_len"] >= 65536:
            assert row["util_2d"] >= 0.98


E_BY_WORKLOAD = {"bert": 64, "trxl": 64, "t5": 64, "xlm": 128}


def test_flat_utilization_is_its_softmax_bound_while_on_chip_and_falls_after(attention):
    for row in points(attention, "flat"):
        bound = 2 * E_BY_WORKLOAD[row["workload"]] / (4 * 256)
        if row["seq_len"] <= 4096:
            assert row["util_2d"] == pytest.approx(bound, rel=1e-3)
        if row["seq_len"] >= 262144:
            assert row["util_2d"] < 0.95 * bound


def mean_speedup(result, design) -> float:
    return float(np.mean([r["speedup"] for r in points(result, design)]))


def test_ablation_ladder_has_the_published_shape(attention):
    """First step slower than FLAT on average (as the artifact charges it), then faster at each step."""
    first, split, bound = (mean_speedup(attention, d) for d in ABLATION[1:])
    assert first < 1.0 < split < bound
    assert 2.0 <= split <= 2.4  # published 2.18
    assert 6.4 <= bound <= 7.0  # published 6.72


@pytest.mark.xfail(strict=True, reason="exp(a - b) charged consistently on FLAT's lanes: docs/fusemax-deviations.md")
def test_ablation_first_step_with_consistent_charges_matches_the_paper(attention):
    assert 0.85 <= mean_speedup(attention, "fusemax-cascade-on-flat-hw") <= 0.97  # published 0.91


def test_the_ablation_steps_differ_only_in_what_each_step_adds(attention):
    # energy is set by the work, not the schedule: adding the binding changes no action count
    split = {(r["workload"], r["seq_len"]): r["energy_pj"] for r in points(attention, "fusemax-no-binding")}
    for row in points(attention, "fusemax"):
        assert row["energy_pj"] == pytest.approx(split[(row["workload"], row["seq_len"])], rel=1e-12)


def test_unfused_is_slowest(attention):
    by_point = {(r["workload"], r["seq_len"], r["design"]): r["latency_s"] for r in attention["points"]}
    for workload in DEFAULT_WORKLOADS:
        for seq in DEFAULT_SEQ_LENS:
            assert by_point[(workload, seq, "unfused")] > by_point[(workload, seq, "flat")]
