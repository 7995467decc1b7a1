"""Systolic timing of the 2D array's multiply-accumulate Einsums (SCALE-Sim's fold model), and its options.

The cost model (`evaluate.py`) times every Einsum in the "ideal" mode by default: temporal extents x
ceil(spatial extent / array side) x cycles per point, with no pipeline fill or drain. The FuseMax
reproduction uses that mode, as the FuseMax paper does. `simulate(..., timing=...)` (`cascade simulate
--timing`) selects instead, for every multiply-accumulate Einsum on the 2D array:

* "systolic": SCALE-Sim's own count (edge folds padded to the full array, folds in sequence), which
  reproduces SCALE-Sim's reported cycles exactly (tests/simulator/test_scalesim_table.py);
* "systolic-unpadded": each fold charged only for the PEs it maps, the count a cycle-level simulator
  verifies (tests/simulator/test_systolic.py).

Both take a dataflow, "os" (default), "ws" or "is"; the conventions are in `simulator/spatial/kernels/systolic.py`.

How an Einsum becomes GEMMs (`tile_gemm`): the array runs each DRAM-level tile of the Einsum (everything
below the mapping's DRAM loops, which the global buffer holds) as one GEMM in its dataflow's fold order;
the DRAM loops repeat that GEMM. In a tile, K is the product of the parts the Einsum reduces, N the
output part bound to the array columns, and M the product of the other output parts: the one bound to
the rows and those walked in time (buffer loops and parts inside the tile). The dataflow then picks
(Sr, Sc, T) from (M, N, K) as SCALE-Sim does. The loops below the buffer therefore do not reorder the
folds: for the GEMM mapping, a tile that holds all of M and N (or all of M, split over N by a DRAM loop,
under os and ws) costs exactly what SCALE-Sim reports for the whole GEMM.

SCALE-Sim reports a layer's cycles as the index of its last cycle counted from 0, one less than the
cycles of its schedule; the "systolic" mode reports each Einsum as one such layer (all its tiles' folds
end to end), so it takes that one cycle off once per Einsum.
"""

from __future__ import annotations

import numpy as np

from arch_models import SpatialArch
from simulator.spatial.kernels.systolic import CONVENTION_NAMES, DATAFLOW_NAMES, SCALESIM, gemm_cycles, schedule_cycles
from simulator.spatial.lower import LoweredGroup

TIMINGS = ("ideal", "systolic", "systolic-unpadded")
DATAFLOWS = DATAFLOW_NAMES
_CONVENTION_OF_TIMING = {"systolic": "scalesim", "systolic-unpadded": "unpadded"}


def dataflow_code(dataflow: int | str) -> int:
    """0 / "os" (output stationary), 1 / "ws" (weight stationary) or 2 / "is" (input stationary) -> 0, 1, 2."""
    code = DATAFLOW_NAMES.index(dataflow) if dataflow in DATAFLOW_NAMES else dataflow
    if not _is_int(code) or code not in (0, 1, 2):
        raise ValueError(f"dataflow {dataflow!r} must be 0/'os', 1/'ws' or 2/'is'")
    return int(code)


def convention_code(convention: int | str) -> int:
    """0 / "scalesim" or 1 / "unpadded" -> 0, 1."""
    code = CONVENTION_NAMES.index(convention) if convention in CONVENTION_NAMES else convention
    if not _is_int(code) or code not in (0, 1):
        raise ValueError(f"convention {convention!r} must be 0/'scalesim' or 1/'unpadded'")
    return int(code)


def timing_convention(timing: str) -> int | None:
    """The systolic convention a timing mode uses, None for "ideal"; a ValueError for an unknown mode."""
    if timing not in TIMINGS:
        raise ValueError(f"timing {timing!r} must be one of {', '.join(TIMINGS)}")
    return None if timing == "ideal" else convention_code(_CONVENTION_OF_TIMING[timing])


def check_timing_options(timing: str, dataflow: int | str) -> None:
    """A ValueError for an unknown timing mode or dataflow (a bad dataflow too when "ideal" ignores it)."""
    timing_convention(timing)
    dataflow_code(dataflow)


def systolic_cycles_for_gemm(rows_m: int, cols_n: int, reduction_k: int, arch: SpatialArch,
                             dataflow: int | str, convention: int | str = "scalesim") -> int:
    """Cycles of C[rows_m, cols_n] = A[rows_m, reduction_k] @ B[reduction_k, cols_n] on `arch.array_2d`."""
    code = dataflow_code(dataflow)
    for name, size in (("rows_m", rows_m), ("cols_n", cols_n), ("reduction_k", reduction_k)):
        if not _is_int(size) or size < 0:
            raise ValueError(f"{name} = {size!r} must be a non-negative integer")
    array = arch.array_2d
    return int(gemm_cycles(int(rows_m), int(cols_n), int(reduction_k), array.rows, array.cols, code,
                           convention_code(convention)))


def tile_gemm(lowered: LoweredGroup, einsum: int) -> tuple[float, int, int, int]:
    """(repeats, M, N, K): the Einsum as `repeats` GEMMs C[M,N] = A[M,K] @ B[K,N], one per DRAM-level tile."""
    parts = lowered.einsum_parts[einsum]
    extent = lowered.extents
    looped = parts & (lowered.dram_position >= 0)
    in_tile = parts & ~looped
    reduced = in_tile & lowered.einsum_reduced[einsum]
    output = in_tile & ~reduced
    cols_part = lowered.spatial_part[0][1]
    on_cols = np.zeros_like(output)
    if cols_part >= 0:
        on_cols[cols_part] = True
    repeats = float(np.prod(extent[looped]))
    m, n, k = (int(np.prod(extent[mask])) for mask in (output & ~on_cols, output & on_cols, reduced))
    return repeats, m, n, k


def einsum_systolic_cycles(lowered: LoweredGroup, einsum: int, arch: SpatialArch, convention: int,
                           dataflow: int) -> float:
    """Cycles of one Einsum's GEMMs on the 2D array, scaled by its mask density (see the module docstring)."""
    repeats, m, n, k = tile_gemm(lowered, einsum)
    array = arch.array_2d
    busy = repeats * lowered.density[einsum] * int(schedule_cycles(m, n, k, array.rows, array.cols, dataflow,
                                                                    convention))
    # SCALE-Sim reports a layer (here the Einsum: all its tiles' folds end to end) one cycle short of its schedule
    return busy - 1 if convention == SCALESIM and busy > 0 else busy


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
