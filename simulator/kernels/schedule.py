"""Tile-level schedule of a fused group on three resources (2D array, 1D array, DRAM).

Every tile runs the same tasks (one per Einsum, plus the tile's DRAM transfer). Tasks issue in order
on their resource: step s issues, for each task in `order`, the tile s - stage(task). A task starts
when its resource is free, its producers in the same tile have finished, its recurrence producers
`stride` tiles back have finished, and the tile `tiles_in_flight` back has fully finished (buffer slots).
The schedule is periodic after warm-up, so only the first `window` tiles are simulated and the rest
is extrapolated from the measured period.
"""

from __future__ import annotations

import numpy as np
from numba import njit

DRAM_RESOURCE = 2


@njit(cache=True)
def _simulate(durations, resources, stages, order, deps, recurrence, recurrence_stride, tiles_in_flight, tiles):
    """Makespan and per-tile finish times for `tiles` tiles (tiles small enough to simulate)."""
    n_tasks = durations.shape[0]
    max_stage = 0
    for t in range(n_tasks):
        max_stage = max(max_stage, stages[t])
    finish = np.zeros((tiles, n_tasks))
    tile_done = np.zeros(tiles)
    resource_free = np.zeros(3)
    for step in range(tiles + max_stage):
        for k in range(n_tasks):
            task = order[k]
            tile = step - stages[task]
            if tile < 0 or tile >= tiles:
                continue
            start = resource_free[resources[task]]
            for other in range(n_tasks):
                if deps[task, other]:
                    start = max(start, finish[tile, other])
                if recurrence[task, other] and tile - recurrence_stride >= 0:
                    start = max(start, finish[tile - recurrence_stride, other])
            if tile - tiles_in_flight >= 0:
                start = max(start, tile_done[tile - tiles_in_flight])
            end = start + durations[task]
            finish[tile, task] = end
            resource_free[resources[task]] = end
            tile_done[tile] = max(tile_done[tile], end)
    makespan = 0.0
    for tile in range(tiles):
        makespan = max(makespan, tile_done[tile])
    return makespan, tile_done


@njit(cache=True)
def schedule_latency(durations, resources, stages, order, deps, recurrence, recurrence_stride, tiles_in_flight,
                     tiles, window):
    """Cycles to run `tiles` tiles; beyond `window` tiles the steady-state period is extrapolated."""
    if tiles <= window:
        makespan, _ = _simulate(durations, resources, stages, order, deps, recurrence, recurrence_stride,
                                tiles_in_flight, int(tiles))
        return makespan
    makespan, done = _simulate(durations, resources, stages, order, deps, recurrence, recurrence_stride,
                               tiles_in_flight, window)
    # The period is measured between tiles timed as in the full run: the last `max_stage` tiles of the
    # window drain without later tiles competing for the resources, so their finish times are early.
    max_stage = 0
    for t in range(stages.shape[0]):
        max_stage = max(max_stage, stages[t])
    span = window - window // 2
    last = min(window - 1, max(window - 1 - max_stage, span))
    period = (done[last] - done[last - span]) / span
    return makespan + (tiles - window) * period


@njit(cache=True)
def schedule_latency_batch(durations, resources, stages, order, deps, recurrence, recurrence_stride,
                           tiles_in_flight, tiles, window):
    """`schedule_latency` for a batch: durations [batch, tasks], recurrence_stride/tiles_in_flight/tiles [batch]."""
    batch = durations.shape[0]
    out = np.empty(batch)
    for b in range(batch):
        out[b] = schedule_latency(durations[b], resources, stages, order, deps, recurrence, recurrence_stride[b],
                                  tiles_in_flight[b], tiles[b], window)
    return out
