"""Systolic timing of one GEMM C[M,N] = A[M,K] @ B[K,N] on a rows x cols systolic array (SCALE-Sim model).

This is an optional alternative to the "ideal" timing of `traffic.py` (temporal extents x spatial folds
x cycles per point, no fill or drain), which the FuseMax reproduction uses. It follows the analytical
model of SCALE-Sim (Samajdar et al., arXiv 1811.02883, ISPASS 2020): a GEMM is mapped as an Sr x Sc
block of one operand held on the array rows and columns, with T the temporal dimension. One fold costs

    fold_cycles(Sr, Sc, T) = 2*Sr + Sc + T - 2

    dataflow            Sr        Sc        T       stationary in the PEs
    0 output stationary M         N         K       the outputs C (A streams from the left, B from the top)
    1 weight stationary K         N         M       B (A streams from the left)
    2 input stationary  K         M         N       A, transposed (B streams from the left)

An array smaller than the block splits it into ceil(Sr/rows) x ceil(Sc/cols) folds, run one after the
other with no overlap. A fold's Sr and Sc in the formula are the rows and columns the fold really maps
(min(rows, what is left)), so the total is

    sum over folds = 2*Sr*ceil(Sc/cols) + Sc*ceil(Sr/rows) + (T - 2)*ceil(Sr/rows)*ceil(Sc/cols).

Exact cycle convention (the one tests/simulator/test_systolic.py verifies with a cycle-level simulator):

* Clocked array, one hop per cycle: in a cycle a PE reads the values its neighbours (or the edge feeders)
  wrote in the previous cycle, does one MAC, and writes its results into its neighbours' registers (an
  edge PE writes them into the collector outside the array). A result has left the array in the cycle an
  edge PE writes it to the collector. A fold's count runs from its first cycle up to and including the
  cycle in which its last result leaves; a GEMM's count is the sum of its folds' counts.
* Weight / input stationary: the stationary block is loaded from the top edge, shifting down one row per
  cycle, in Sr cycles (all rows are in place at the end of the Sr-th cycle, so streaming cannot overlap
  it). The streaming operand enters the left edge, row r skewed by (Sr - 1 - r) cycles, and moves right
  one PE per cycle; partial sums start in the bottom mapped row and move up one PE per cycle, leaving
  through the top edge. The last MAC is in the top-right mapped PE, (T - 1) + (Sr - 1) + (Sc - 1) cycles
  after the first, so streaming takes T + Sr + Sc - 2 cycles: Sr (load) + T + Sr + Sc - 2.
* Output stationary: A enters the left edge (row i skewed by i), B the top edge (column j skewed by j);
  the last MAC is in the bottom-right mapped PE after T + Sr + Sc - 2 cycles. Then the array switches to
  draining: the outputs shift up one row per cycle, the top row leaving in the first drain cycle, so the
  drain takes Sr cycles: T + Sr + Sc - 2 + Sr.
* A fold that maps fewer than rows x cols PEs sits in the top-left corner; since every operand enters
  and every result leaves through the top and left edges, the unused PEs are on no data path and the
  fold costs exactly what an Sr x Sc array would. (An array whose results left through the bottom edge
  while loading through the top would pay rows - Sr more cycles per partial fold.) Charging every fold
  as a full one, 2*rows + cols + T - 2, gives the same total when rows divides Sr and cols divides Sc,
  and an upper bound otherwise.
* Reductions split over row folds (K for weight and input stationary) leave the array as partial sums
  that are added outside it, at no cycle cost. One MAC per PE per cycle; memory stalls are not modelled.

An empty GEMM (m, n or k < 1) takes 0 cycles. Leaf module: imports nothing from the project.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OUTPUT_STATIONARY, WEIGHT_STATIONARY, INPUT_STATIONARY = 0, 1, 2
DATAFLOW_NAMES = ("os", "ws", "is")


@njit(cache=True)
def gemm_block(m, n, k, dataflow):
    """(Sr, Sc, T) of the GEMM under `dataflow`: the block on the array rows and columns, and the time dimension."""
    if dataflow == OUTPUT_STATIONARY:
        return m, n, k
    if dataflow == WEIGHT_STATIONARY:
        return k, n, m
    if dataflow == INPUT_STATIONARY:
        return k, m, n
    raise ValueError("dataflow must be 0 (output), 1 (weight) or 2 (input stationary)")


@njit(cache=True)
def fold_cycles(sr, sc, t):
    """Cycles of one fold mapping sr rows x sc columns of PEs for t time steps (fill + stream + drain)."""
    return 2 * sr + sc + t - 2


@njit(cache=True)
def systolic_gemm_cycles(m, n, k, rows, cols, dataflow):
    """Cycles of C[m,n] = A[m,k] @ B[k,n] on a rows x cols systolic array, summed over its folds."""
    if rows < 1 or cols < 1:
        raise ValueError("the array needs rows >= 1 and cols >= 1")
    sr, sc, t = gemm_block(np.int64(m), np.int64(n), np.int64(k), dataflow)
    if sr < 1 or sc < 1 or t < 1:
        return np.int64(0)
    folds_r = (sr + rows - 1) // rows
    folds_c = (sc + cols - 1) // cols
    return 2 * sr * folds_c + sc * folds_r + (t - 2) * folds_r * folds_c


@njit(cache=True)
def systolic_gemm_cycles_batch(m, n, k, rows, cols, dataflow):
    """`systolic_gemm_cycles` for every entry of the equal-length 1D integer arrays m, n, k."""
    if m.shape[0] != n.shape[0] or m.shape[0] != k.shape[0]:
        raise ValueError("m, n and k must have the same length")
    out = np.empty(m.shape[0], dtype=np.int64)
    for i in range(m.shape[0]):
        out[i] = systolic_gemm_cycles(m[i], n[i], k[i], rows, cols, dataflow)
    return out
