"""The cost model's systolic timing modes (simulate_family(..., timing=..., dataflow=...)) on the shipped GEMM mapping.

Every expected count is derived by hand from the rules in simulator/spatial/kernels/systolic.py: SCALE-Sim pads
every fold to the full array (os: rows + cols + T - 2, ws/is: 2*rows + cols + T - 2) and reports one
cycle less than its schedule; the unpadded convention charges 2*Sr + Sc + T - 2 per fold.
"""

from __future__ import annotations

import pytest

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping
from simulator.spatial.systolic_mode import tile_gemm
from simulator.studies.mapping_choice import simulate_family

SHAPE = {"M": 16, "N": 8, "K": 5}


def _z_cycles(timing, dataflow="os"):
    arch = load_arch("fusemax").with_overrides(pe_dim=4)
    report = simulate_family(library_cascade("gemm"), arch, load_mapping("gemm"), SHAPE, timing=timing,
                             dataflow=dataflow)
    return report.groups[0]


def test_the_gemm_mapping_tiles_with_the_array():
    group = _z_cycles("ideal")
    # m0 = rows, n0 = cols; the row block m1 (largest that fits) holds all of M; N is split by the DRAM loop n1
    assert {p: group.extents[p] for p in ("m0", "m1", "m2", "n0", "n1", "k")} == {
        "m0": 4, "m1": 4, "m2": 1, "n0": 4, "n1": 2, "k": 5}
    assert group.einsum_cycles["Z"] == 16 * 8 * 5 / (4 * 4)  # ideal: one MAC per PE per cycle


def test_systolic_modes_match_the_hand_counts():
    # one DRAM tile is the GEMM M=16 (m0*m1 on the rows side), N=4 (n0, the columns), K=5; two tiles (n1)
    expected = {
        # os: Sr=16 -> 4 folds, Sc=4 -> 1 fold, T=5; per tile 4 * (4 + 4 + 5 - 2); the Einsum minus 1
        ("systolic", "os"): 2 * 4 * (4 + 4 + 5 - 2) - 1,
        # ws: Sr=K=5 -> 2 folds, Sc=4 -> 1, T=M=16
        ("systolic", "ws"): 2 * 2 * (2 * 4 + 4 + 16 - 2) - 1,
        # is: Sr=K=5 -> 2 folds, Sc=M=16 -> 4, T=N=4
        ("systolic", "is"): 2 * 8 * (2 * 4 + 4 + 4 - 2) - 1,
        # unpadded os: every fold is a full 4 x 4 one: 2*4 + 4 + 5 - 2, eight of them
        ("systolic-unpadded", "os"): 8 * (2 * 4 + 4 + 5 - 2),
        # unpadded ws: folds of 4 and 1 rows of K (Sc = 4, T = 16) per tile
        ("systolic-unpadded", "ws"): 2 * ((2 * 4 + 4 + 16 - 2) + (2 * 1 + 4 + 16 - 2)),
    }
    for (timing, dataflow), cycles in expected.items():
        assert _z_cycles(timing, dataflow).einsum_cycles["Z"] == cycles, (timing, dataflow)


def test_os_and_ws_equal_scalesim_on_the_whole_gemm():
    # SCALE-Sim on the untiled 16x8x5 GEMM: os 4*2 folds of 4+4+5-2; ws Sr=5 (2) x Sc=8 (2) folds of 2*4+4+16-2
    assert _z_cycles("systolic", "os").einsum_cycles["Z"] == 8 * 11 - 1
    assert _z_cycles("systolic", "ws").einsum_cycles["Z"] == 4 * 26 - 1


def test_the_tile_gemm_view():
    from simulator.spatial.lower import lower_group

    arch = load_arch("fusemax").with_overrides(pe_dim=4)
    lowered = lower_group(library_cascade("gemm"), arch, load_mapping("gemm"), 0, SHAPE, {"m1": 4})
    assert tile_gemm(lowered, 0) == (2.0, 16, 4, 5)  # (repeats over n1, M, N, K)


def test_unknown_timing_or_dataflow_is_a_value_error():
    with pytest.raises(ValueError, match="timing"):
        _z_cycles("overlapped")
    with pytest.raises(ValueError, match="dataflow"):
        _z_cycles("systolic", "rs")
