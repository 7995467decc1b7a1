"""The unpadded systolic GEMM timing (simulator/spatial/kernels/systolic.py) against a cycle-level simulator.

The unpadded convention charges each fold only for the PEs it maps; the SCALE-Sim convention (edge folds
padded to the full array) is checked against SCALE-Sim's own numbers in test_scalesim_table.py.

The simulator below is independent of the kernel: a clocked rows x cols grid of PEs in which every value
moves one PE per cycle, the skewed operands entering through the left and top edges and the results
leaving through the top edge into a collector. It computes the real GEMM (checked against numpy) and
counts, per fold, the cycles from the fold's first cycle up to and including the cycle in which its last
result leaves the array. Each value carries the index of its time step, and every MAC asserts that its
operands and partial sum belong to the same step, so a wrong skew fails loudly instead of miscounting.
"""

from __future__ import annotations

import numpy as np
import pytest

from arch_models import load_arch
from simulator.spatial.kernels.systolic import (
    INPUT_STATIONARY,
    OUTPUT_STATIONARY,
    UNPADDED,
    WEIGHT_STATIONARY,
    gemm_cycles_batch,
    unpadded_fold_cycles,
    unpadded_gemm_cycles,
)
from simulator.spatial.systolic_mode import systolic_cycles_for_gemm

DATAFLOWS = (OUTPUT_STATIONARY, WEIGHT_STATIONARY, INPUT_STATIONARY)
ARRAYS = ((2, 2), (2, 3), (3, 2), (3, 4), (4, 3), (4, 4))
# (m, n, k): exactly one 4x4 fold, smaller than every array, ragged folds, long and thin, the 8x8x8 maximum
SHAPES = ((1, 1, 1), (4, 4, 4), (2, 3, 4), (3, 3, 3), (5, 7, 3), (8, 8, 8), (8, 1, 5), (1, 8, 2), (6, 2, 8),
          (7, 5, 6))


def _tiles(total, size):
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def _stationary_fold(stat, stream, rows, cols, sr, sc, out):
    """One weight/input-stationary fold: stat[sr, sc] held in PEs (r, c) for r < sr, c < sc.

    Loading: stat enters the top edge one row per cycle (its last row first) and shifts down.
    Streaming: stream[t, r] enters row r from the left at stream cycle t + (sr - 1 - r) and moves right;
    the partial sum of step t starts in row sr - 1 and moves up, leaving row 0 into the collector, which
    adds it to out[t, c]. Returns the fold's cycle count.
    """
    steps = stream.shape[0]
    active = [[r < sr and c < sc for c in range(cols)] for r in range(rows)]
    weight = [[None] * cols for _ in range(rows)]
    x_reg = [[None] * cols for _ in range(rows)]  # written by the left neighbour, read next cycle
    psum_reg = [[None] * cols for _ in range(rows)]  # written by the neighbour below, read next cycle
    remaining = steps * sc
    cycle = 0
    while True:
        if cycle < sr:  # load phase: shift down, feed the top row
            new = [[weight[r][c] for c in range(cols)] for r in range(rows)]
            for r in range(rows):
                for c in range(cols):
                    if active[r][c]:
                        new[r][c] = stat[sr - 1 - cycle, c] if r == 0 else weight[r - 1][c]
            weight = new
            if cycle == sr - 1:
                assert all(weight[r][c] == stat[r, c] for r in range(sr) for c in range(sc))
        else:
            s = cycle - sr
            new_x = [[None] * cols for _ in range(rows)]
            new_psum = [[None] * cols for _ in range(rows)]
            for r in range(rows):
                for c in range(cols):
                    if not active[r][c]:
                        assert x_reg[r][c] is None and psum_reg[r][c] is None
                        continue
                    if c == 0:
                        t = s - (sr - 1 - r)
                        x = (t, stream[t, r]) if 0 <= t < steps else None
                    else:
                        x = x_reg[r][c]
                    psum = psum_reg[r][c]
                    if x is None:
                        assert psum is None, "a partial sum reached a PE without its operand"
                        continue
                    t, value = x
                    if r == sr - 1:
                        assert psum is None
                        total = 0
                    else:
                        assert psum is not None and psum[0] == t, "operand and partial sum out of step"
                        total = psum[1]
                    total += weight[r][c] * value
                    if r == 0:
                        out[t, c] += total  # leaves the array through the top edge in this cycle
                        remaining -= 1
                    else:
                        new_psum[r - 1][c] = (t, total)
                    if c + 1 < cols and active[r][c + 1]:  # PEs outside the fold are disabled
                        new_x[r][c + 1] = x
            x_reg, psum_reg = new_x, new_psum
        cycle += 1
        if cycle > sr and remaining == 0:
            return cycle


def _output_fold(a, b, rows, cols, sr, sc, out):
    """One output-stationary fold: out[i, j] accumulated in PE (i, j) for i < sr, j < sc.

    a[i, k] enters row i from the left at cycle k + i, b[k, j] enters column j from the top at cycle
    k + j; after the last MAC the accumulators shift up one row per cycle, row 0 leaving into the
    collector. Returns the fold's cycle count.
    """
    steps = a.shape[1]
    active = [[r < sr and c < sc for c in range(cols)] for r in range(rows)]
    a_reg = [[None] * cols for _ in range(rows)]
    b_reg = [[None] * cols for _ in range(rows)]
    acc = [[(r, 0) if active[r][c] else None for c in range(cols)] for r in range(rows)]  # (output row, sum)
    macs = [[0] * cols for _ in range(rows)]
    draining = False
    remaining = sr * sc
    cycle = 0
    while True:
        if not draining:
            new_a = [[None] * cols for _ in range(rows)]
            new_b = [[None] * cols for _ in range(rows)]
            for r in range(rows):
                for c in range(cols):
                    if not active[r][c]:
                        assert a_reg[r][c] is None and b_reg[r][c] is None
                        continue
                    if c == 0:
                        k = cycle - r
                        x = (k, a[r, k]) if 0 <= k < steps else None
                    else:
                        x = a_reg[r][c]
                    if r == 0:
                        k = cycle - c
                        y = (k, b[k, c]) if 0 <= k < steps else None
                    else:
                        y = b_reg[r][c]
                    if x is None or y is None:
                        assert x is None and y is None, "an operand reached a PE without its partner"
                        continue
                    assert x[0] == y[0], "operands out of step"
                    acc[r][c] = (r, acc[r][c][1] + x[1] * y[1])
                    macs[r][c] += 1
                    if c + 1 < cols and active[r][c + 1]:  # PEs outside the fold are disabled
                        new_a[r][c + 1] = x
                    if r + 1 < rows and active[r + 1][c]:
                        new_b[r + 1][c] = y
            a_reg, b_reg = new_a, new_b
            draining = all(macs[r][c] == steps for r in range(sr) for c in range(sc))
        else:  # drain: shift the accumulators up, row 0 leaves through the top edge
            for c in range(sc):
                row, value = acc[0][c]
                out[row, c] = value
                remaining -= 1
            acc = [[acc[r + 1][c] if r + 1 < sr and c < sc else None for c in range(cols)] for r in range(rows)]
        cycle += 1
        if remaining == 0:
            assert all(a_reg[r][c] is None and b_reg[r][c] is None for r in range(rows) for c in range(cols))
            return cycle


def simulate_gemm(a, b, rows, cols, dataflow):
    """(A @ B, [cycles of each fold], [(Sr, Sc) of each fold]) from the cycle-level simulator."""
    m, k = a.shape
    n = b.shape[1]
    product = np.zeros((m, n), dtype=a.dtype)
    folds, blocks = [], []
    if dataflow == OUTPUT_STATIONARY:  # Sr = M, Sc = N, T = K
        for r0, sr in _tiles(m, rows):
            for c0, sc in _tiles(n, cols):
                view = product[r0:r0 + sr, c0:c0 + sc]
                folds.append(_output_fold(a[r0:r0 + sr, :], b[:, c0:c0 + sc], rows, cols, sr, sc, view))
                blocks.append((sr, sc))
        return product, folds, blocks
    # weight stationary: B[K, N] held, A[M, K] streams -> out[m, n]; input stationary: A^T[K, M] held,
    # B^T[N, K] streams -> out[n, m] = C^T
    stat, stream = (b, a) if dataflow == WEIGHT_STATIONARY else (a.T, b.T)
    out = np.zeros((stream.shape[0], stat.shape[1]), dtype=a.dtype)
    for r0, sr in _tiles(stat.shape[0], rows):  # row folds split the reduction: partial sums add outside
        for c0, sc in _tiles(stat.shape[1], cols):
            folds.append(_stationary_fold(stat[r0:r0 + sr, c0:c0 + sc], stream[:, r0:r0 + sr], rows, cols, sr, sc,
                                          out[:, c0:c0 + sc]))
            blocks.append((sr, sc))
    return (out if dataflow == WEIGHT_STATIONARY else out.T), folds, blocks


def _operands(m, n, k):
    rng = np.random.default_rng(1000 * m + 100 * n + k)
    return rng.integers(-9, 10, size=(m, k)), rng.integers(-9, 10, size=(k, n))


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize(("rows", "cols"), ARRAYS)
@pytest.mark.parametrize(("m", "n", "k"), SHAPES)
def test_unpadded_cycles_match_cycle_level_simulation(m, n, k, rows, cols, dataflow):
    a, b = _operands(m, n, k)
    product, folds, blocks = simulate_gemm(a, b, rows, cols, dataflow)
    np.testing.assert_array_equal(product, a @ b)
    t = (k, m, n)[dataflow]
    assert folds == [unpadded_fold_cycles(sr, sc, t) for sr, sc in blocks]
    assert unpadded_gemm_cycles(m, n, k, rows, cols, dataflow) == sum(folds)


def test_the_simulated_shapes_cover_several_and_partial_folds():
    full, partial, several = set(), set(), set()
    for m, n, k in SHAPES:
        for rows, cols in ARRAYS:
            for dataflow in DATAFLOWS:
                sr, sc = ((m, n), (k, n), (k, m))[dataflow]
                (full if sr == rows and sc == cols else partial if sr <= rows and sc <= cols else several).add(
                    dataflow)
    assert full == partial == several == set(DATAFLOWS)


def test_hand_counts():
    # 4x4 array, 4x4x4 GEMM, one full fold: 2*4 + 4 + 4 - 2 = 14 in every dataflow
    for dataflow in DATAFLOWS:
        assert unpadded_gemm_cycles(4, 4, 4, 4, 4, dataflow) == 14
    # OS, 5x7x3 on 2x3: rows folds 2+2+1, column folds 3+3+1 -> sum of 2*Sr + Sc + 1 over 9 folds
    assert unpadded_gemm_cycles(5, 7, 3, 2, 3, OUTPUT_STATIONARY) == 2 * 5 * 3 + 7 * 3 + 1 * 9
    # WS: Sr = K = 8, Sc = N = 1, T = M = 3 on 4x4: two folds of 2*4 + 1 + 3 - 2 = 10
    assert unpadded_gemm_cycles(3, 1, 8, 4, 4, WEIGHT_STATIONARY) == 20
    # IS: Sr = K = 2, Sc = M = 3, T = N = 5 on 2x2: folds (2, 2) and (2, 1) -> 9 + 8
    assert unpadded_gemm_cycles(3, 5, 2, 2, 2, INPUT_STATIONARY) == 17


def test_full_folds_equal_the_scale_up_expression():
    # when the array divides the block, every fold is a full rows x cols fold
    rows, cols = 4, 8
    for dataflow in DATAFLOWS:
        m, n, k = ((8, 16, 5), (5, 16, 8), (16, 5, 8))[dataflow]
        sr, sc, t = ((m, n, k), (k, n, m), (k, m, n))[dataflow]
        folds = (sr // rows) * (sc // cols)
        assert unpadded_gemm_cycles(m, n, k, rows, cols, dataflow) == folds * (2 * rows + cols + t - 2)


def test_empty_gemm_and_bad_arguments():
    assert unpadded_gemm_cycles(0, 4, 4, 4, 4, OUTPUT_STATIONARY) == 0
    assert unpadded_gemm_cycles(4, 4, 0, 4, 4, WEIGHT_STATIONARY) == 0
    with pytest.raises(ValueError):
        unpadded_gemm_cycles(4, 4, 4, 4, 4, 3)
    with pytest.raises(ValueError):
        unpadded_gemm_cycles(4, 4, 4, 0, 4, OUTPUT_STATIONARY)


def test_batch_matches_scalar():
    rng = np.random.default_rng(0)
    m, n, k = (rng.integers(1, 3000, size=50) for _ in range(3))
    for dataflow in DATAFLOWS:
        expected = [unpadded_gemm_cycles(int(x), int(y), int(z), 128, 64, dataflow)
                    for x, y, z in zip(m, n, k, strict=True)]
        np.testing.assert_array_equal(gemm_cycles_batch(m, n, k, 128, 64, dataflow, UNPADDED), expected)
    with pytest.raises(ValueError):
        gemm_cycles_batch(m, n[:3], k, 128, 64, OUTPUT_STATIONARY, UNPADDED)
    with pytest.raises(ValueError):
        gemm_cycles_batch(m, n, k, 128, 64, OUTPUT_STATIONARY, 2)


def test_systolic_cycles_for_gemm_reads_the_2d_array():
    arch = load_arch("fusemax").with_overrides(pe_dim=4)
    assert (arch.array_2d.rows, arch.array_2d.cols) == (4, 4)
    for code, name in zip(DATAFLOWS, ("os", "ws", "is"), strict=True):
        expected = unpadded_gemm_cycles(7, 5, 6, 4, 4, code)
        assert systolic_cycles_for_gemm(7, 5, 6, arch, code, "unpadded") == expected
        assert systolic_cycles_for_gemm(7, 5, 6, arch, name, 1) == expected
    # the 256x256 FuseMax array: a 1024x1024x64 GEMM, weight stationary (Sr = 64, Sc = 1024, T = 1024)
    fusemax = load_arch("fusemax")
    assert systolic_cycles_for_gemm(1024, 1024, 64, fusemax, "ws", "unpadded") == 2 * 64 * 4 + 1024 * 1 + 1022 * 4
    # SCALE-Sim (the default convention): 4 folds padded to 256 rows, each 2*256 + 256 + 1024 - 2; minus 1
    assert systolic_cycles_for_gemm(1024, 1024, 64, fusemax, "ws") == 4 * (2 * 256 + 256 + 1024 - 2) - 1
    with pytest.raises(ValueError):
        systolic_cycles_for_gemm(4, 4, 4, arch, "os", "overlapped")
    for bad in (3, "rs", True, 1.0):
        with pytest.raises(ValueError):
            systolic_cycles_for_gemm(4, 4, 4, arch, bad)
    with pytest.raises(ValueError):
        systolic_cycles_for_gemm(-1, 4, 4, arch, "os")
