"""Optional systolic timing of a GEMM on a design's 2D array (SCALE-Sim's analytical fill/drain model).

The cost model (`evaluate.py`) times every Einsum in the "ideal" mode: temporal extents x
ceil(spatial extent / array side) x cycles per point, with no pipeline fill or drain. The FuseMax
reproduction uses that mode, as the FuseMax paper does. This module is the alternative for one GEMM
on a systolic 2D array, where each fold also pays the fill and drain of the array; the exact cycle
convention is in `simulator/kernels/systolic.py`. It assumes one MAC per PE per cycle. Inside the cost
model the same timing is selected with `simulate(..., timing="systolic")` (`cascade simulate --timing
systolic`), which applies it to every multiply-accumulate Einsum on the 2D array.
"""

from __future__ import annotations

import numpy as np

from arch_models import SpatialArch
from simulator.kernels.systolic import DATAFLOW_NAMES, systolic_gemm_cycles


def systolic_cycles_for_gemm(rows_m: int, cols_n: int, reduction_k: int, arch: SpatialArch,
                             dataflow: int | str) -> int:
    """Cycles of C[rows_m, cols_n] = A[rows_m, reduction_k] @ B[reduction_k, cols_n] on `arch.array_2d`.

    `dataflow` is 0 / "os" (output stationary), 1 / "ws" (weight stationary) or 2 / "is" (input stationary).
    """
    code = DATAFLOW_NAMES.index(dataflow) if dataflow in DATAFLOW_NAMES else dataflow
    if not _is_int(code) or code not in (0, 1, 2):
        raise ValueError(f"dataflow {dataflow!r} must be 0/'os', 1/'ws' or 2/'is'")
    for name, size in (("rows_m", rows_m), ("cols_n", cols_n), ("reduction_k", reduction_k)):
        if not _is_int(size) or size < 0:
            raise ValueError(f"{name} = {size!r} must be a non-negative integer")
    array = arch.array_2d
    return int(systolic_gemm_cycles(int(rows_m), int(cols_n), int(reduction_k), array.rows, array.cols, int(code)))


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
