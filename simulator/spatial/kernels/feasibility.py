"""Per-row checks and schedule inputs of a mapper batch, in one pass: which tilings fit the buffers and keep
their recurrence in order, the recurrence stride, and the delivery lags of spatial reductions (`batch.fits`,
`batch.recurrence_stride`, `batch.recurrence_in_order` and `batch.delivery_lag` say what each one means; this
kernel computes the same values row by row, so that a batch is not some twenty array operations)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def group_feasibility(extents, occupancy, staging, limits, staging_forbidden, inner_parts, recurrence_part,
                      recurrence_gap, lag_einsum, lag_part, lag_size, lag_hop, n_tasks):
    """(fit [B], placed [B], in_order [B], stride [B], lag [B, n_tasks]) of rows of `extents` and the traffic
    kernel's `occupancy` [B, 5] and `staging` [B, T]. `limits`: buffer words, staging words, register words per
    2D PE and per 1D lane; `staging_forbidden`: the arch has no staging buffer, so a row that stages anything is
    not placed. The stride is the product of the extents of `inner_parts` (the loops inside the recurrence's);
    `recurrence_gap` < 0: no recurrence. Lag terms, in order: Einsum `lag_einsum` waits `lag_hop` cycles per PE
    of the extent of `lag_part` its reduction crosses, at most `lag_size`."""
    batch = extents.shape[0]
    fit = np.empty(batch, dtype=np.bool_)
    placed = np.empty(batch, dtype=np.bool_)
    in_order = np.empty(batch, dtype=np.bool_)
    stride = np.empty(batch, dtype=np.int64)
    lag = np.zeros((batch, n_tasks))
    for b in range(batch):
        fit[b] = (occupancy[b, 0] - occupancy[b, 1] <= limits[0] and occupancy[b, 2] <= limits[1]
                  and occupancy[b, 3] <= limits[2] and occupancy[b, 4] <= limits[3])
        staged = 0.0
        if staging_forbidden:
            for t in range(staging.shape[1]):
                staged += staging[b, t]
        placed[b] = fit[b] and staged == 0.0
        product = 1.0
        for k in range(inner_parts.shape[0]):
            product *= extents[b, inner_parts[k]]
        stride[b] = np.int64(product)
        in_order[b] = recurrence_gap < 0 or stride[b] >= recurrence_gap or extents[b, recurrence_part] == 1.0
        for k in range(lag_einsum.shape[0]):
            hops = min(extents[b, lag_part[k]], lag_size[k])
            lag[b, lag_einsum[k]] += hops * lag_hop[k]
    return fit, placed, in_order, stride, lag
