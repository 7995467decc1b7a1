"""Systolic timing of one GEMM C[M,N] = A[M,K] @ B[K,N] on a rows x cols systolic array, two conventions.

This is an optional alternative to the "ideal" timing of `traffic.py` (temporal extents x spatial folds
x cycles per point, no fill or drain), which the FuseMax reproduction uses. Both conventions follow
SCALE-Sim's analytical model (Samajdar et al., arXiv 1811.02883, ISPASS 2020): the GEMM is mapped as an
Sr x Sc block held on the array rows and columns with T the temporal dimension,

    dataflow            Sr        Sc        T       stationary in the PEs
    0 output stationary M         N         K       the outputs C (A streams from the left, B from the top)
    1 weight stationary K         N         M       B (A streams from the left)
    2 input stationary  K         M         N       A, transposed (B streams from the left)

and a block larger than the array is split into F = ceil(Sr/rows) * ceil(Sc/cols) folds, run one after
the other with no overlap (a fold starts after the previous one has drained). They differ in what a fold
costs.

SCALE-Sim convention (`scalesim_gemm_cycles`), what SCALE-Sim itself reports. Read from the source of
scalesim 3.0.0 (compute/systolic_compute_{os,ws,is}.py; 2.0.2 gives the same cycles): every fold is
padded to the full array (an edge fold pads its unused rows and columns with null requests), and its
demand schedule is

    os: rows + cols + T - 2         (T operand rows plus cols - 1 drain rows, skewed over rows - 1)
    ws, is: 2*rows + cols + T - 2   (rows cycles to load the stationary block, T + cols - 1, skewed
                                     over rows - 1)

cycles long; the layer's "Total Cycles" is the 0-based index of the last cycle of the folds' schedules
laid end to end, i.e. F * fold - 1. tests/simulator/data/scalesim_cycles.csv holds SCALE-Sim's own
numbers for 432 GEMMs, arrays and dataflows, and tests/simulator/test_scalesim_table.py matches every
row exactly.

Unpadded convention (`unpadded_gemm_cycles`), a clocked array verified cycle by cycle by the simulator
in tests/simulator/test_systolic.py. A fold's count runs from its first cycle up to and including the
cycle in which its last result leaves the array, and the GEMM's count is the sum over its folds of

    2*Sr + Sc + T - 2   with Sr, Sc the rows and columns the fold really maps (min(array side, what is
                        left)): the paper's formula, in every dataflow.

* Weight / input stationary: the stationary block is loaded from the top edge, shifting down one row per
  cycle, in Sr cycles. The streaming operand enters the left edge, row r skewed by (Sr - 1 - r) cycles,
  and moves right one PE per cycle; partial sums start in the bottom mapped row, move up one PE per cycle
  and leave through the top edge: Sr (load) + T + Sr + Sc - 2.
* Output stationary: A enters the left edge (row i skewed by i), B the top edge (column j skewed by j);
  the last MAC is in the bottom-right mapped PE after T + Sr + Sc - 2 cycles, then the outputs shift up
  one row per cycle and leave through the top edge in Sr more cycles. SCALE-Sim's output-stationary fold
  ends when its last output row is written, rows + cols + T - 2 cycles after it starts, with no separate
  shift-out, so on a full fold the two conventions differ by rows cycles there (and agree for ws, is).
* A fold that maps fewer than rows x cols PEs sits in the top-left corner; every operand enters and every
  result leaves through the top and left edges, so the unused PEs are on no data path and the fold costs
  what an Sr x Sc array would. This is where the conventions differ on edge folds: SCALE-Sim charges the
  full array for them.
* Reductions split over row folds (K for weight and input stationary) leave the array as partial sums
  that are added outside it, at no cycle cost. One MAC per PE per cycle; memory stalls are not modelled.

Decision on an overlapped mode (a fold's fill overlapping the previous fold's drain): not provided.
The unpadded convention is kept, under that name, instead: it is the one a cycle-level simulator checks
here, whereas an overlapped count would have no such check, and SCALE-Sim, the reference users compare
with, does not overlap folds either.

An empty GEMM (m, n or k < 1) takes 0 cycles. Leaf module: imports nothing from the project.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OUTPUT_STATIONARY, WEIGHT_STATIONARY, INPUT_STATIONARY = 0, 1, 2
DATAFLOW_NAMES = ("os", "ws", "is")
SCALESIM, UNPADDED = 0, 1
CONVENTION_NAMES = ("scalesim", "unpadded")


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
def scalesim_fold_cycles(rows, cols, t, dataflow):
    """Length of one fold's schedule in SCALE-Sim: the fold padded to the full rows x cols array."""
    if dataflow == OUTPUT_STATIONARY:
        return rows + cols + t - 2
    return 2 * rows + cols + t - 2


@njit(cache=True)
def _folds(m, n, k, rows, cols, dataflow):
    """(Sr, Sc, T, row folds, column folds) of the GEMM under `dataflow`; zero folds for an empty GEMM."""
    _check_array(rows, cols)
    sr, sc, t = gemm_block(np.int64(m), np.int64(n), np.int64(k), dataflow)
    if sr < 1 or sc < 1 or t < 1:
        return sr, sc, t, np.int64(0), np.int64(0)
    return sr, sc, t, (sr + rows - 1) // rows, (sc + cols - 1) // cols


@njit(cache=True)
def scalesim_schedule_cycles(m, n, k, rows, cols, dataflow):
    """Cycles of SCALE-Sim's schedule of C[m,n] = A[m,k] @ B[k,n]: its padded folds end to end."""
    _, _, t, folds_r, folds_c = _folds(m, n, k, rows, cols, dataflow)
    if folds_r == 0:
        return np.int64(0)
    return folds_r * folds_c * scalesim_fold_cycles(np.int64(rows), np.int64(cols), t, dataflow)


@njit(cache=True)
def scalesim_gemm_cycles(m, n, k, rows, cols, dataflow):
    """The compute cycles SCALE-Sim reports for the GEMM ("Total Cycles"): its schedule's last cycle index."""
    schedule = scalesim_schedule_cycles(m, n, k, rows, cols, dataflow)
    return schedule - 1 if schedule > 0 else schedule


@njit(cache=True)
def unpadded_fold_cycles(sr, sc, t):
    """Cycles of one fold mapping sr rows x sc columns of PEs for t time steps (fill + stream + drain)."""
    return 2 * sr + sc + t - 2


@njit(cache=True)
def unpadded_gemm_cycles(m, n, k, rows, cols, dataflow):
    """Cycles of C[m,n] = A[m,k] @ B[k,n] summed over its folds, each charged for the PEs it maps."""
    sr, sc, t, folds_r, folds_c = _folds(m, n, k, rows, cols, dataflow)
    if folds_r == 0:
        return np.int64(0)
    return 2 * sr * folds_c + sc * folds_r + (t - 2) * folds_r * folds_c


@njit(cache=True)
def gemm_cycles(m, n, k, rows, cols, dataflow, convention):
    """`scalesim_gemm_cycles` (convention 0) or `unpadded_gemm_cycles` (convention 1)."""
    if convention == SCALESIM:
        return scalesim_gemm_cycles(m, n, k, rows, cols, dataflow)
    if convention == UNPADDED:
        return unpadded_gemm_cycles(m, n, k, rows, cols, dataflow)
    raise ValueError("convention must be 0 (SCALE-Sim) or 1 (unpadded)")


@njit(cache=True)
def schedule_cycles(m, n, k, rows, cols, dataflow, convention):
    """Cycles the array is busy with the GEMM, counted from 1: `scalesim_schedule_cycles` (convention 0) or
    `unpadded_gemm_cycles` (convention 1, already such a count). Back-to-back GEMMs add up in this count."""
    if convention == SCALESIM:
        return scalesim_schedule_cycles(m, n, k, rows, cols, dataflow)
    return gemm_cycles(m, n, k, rows, cols, dataflow, convention)


@njit(cache=True)
def gemm_cycles_batch(m, n, k, rows, cols, dataflow, convention):
    """`gemm_cycles` for every entry of the equal-length 1D integer arrays m, n, k."""
    if m.shape[0] != n.shape[0] or m.shape[0] != k.shape[0]:
        raise ValueError("m, n and k must have the same length")
    out = np.empty(m.shape[0], dtype=np.int64)
    for i in range(m.shape[0]):
        out[i] = gemm_cycles(m[i], n[i], k[i], rows, cols, dataflow, convention)
    return out


@njit(cache=True)
def _check_array(rows, cols):
    if rows < 1 or cols < 1:
        raise ValueError("the array needs rows >= 1 and cols >= 1")
