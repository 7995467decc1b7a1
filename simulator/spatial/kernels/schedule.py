"""Tile-level schedule of a fused group on three resources (2D array, 1D array, DRAM).

Every tile runs the same tasks (one per Einsum, plus the tile's DRAM transfer). Tasks issue in order
on their resource: step s issues, for each task in `order`, the tile s - stage(task). A task starts
when its resource is free, its producers in the same tile have finished (and, for a producer on another
resource, delivered: `delivery[producer]` cycles after it finishes, e.g. a reduction's result crossing
the array to its edge), its recurrence producers
`stride` tiles back have finished, and the tile `tiles_in_flight` back has fully finished (buffer slots).
Every read must be of a task already issued (an unissued one would read as finished at cycle 0): the lowering
stages no consumer before a producer of its tile (a selection's scores included) and keeps a slot per stage,
and `batch.recurrence_in_order` rejects a tiling whose recurrence would read ahead of its producer
(tests/simulator/test_schedule_on_mapper_spaces.py checks mapper spaces against a brute-force longest path).
A recurrence reaching back at least as far as the buffer slots (`_implied_stride`) is implied by them and not
simulated, so the run repeats sooner. The schedule is periodic after warm-up: the simulation stops at the first
step that repeats the one before it (the rest follows exactly, one period per tile), or else at `window` tiles,
and the rest is extrapolated from the period measured over the window. In a mapper's batch many candidates
share their per-tile durations (they differ only in outer loop counts), so `schedule_distinct.schedule_latency_distinct`
simulates each distinct schedule once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

DRAM_RESOURCE = 2


@njit(cache=True)
def _edges(matrix):
    """Compressed rows of a boolean dependency matrix: start offsets and target indices."""
    n = matrix.shape[0]
    start = np.zeros(n + 1, dtype=np.int64)
    for task in range(n):
        start[task + 1] = start[task] + matrix[task].sum()
    targets = np.empty(start[n], dtype=np.int64)
    for task in range(n):
        k = start[task]
        for other in range(n):
            if matrix[task, other]:
                targets[k] = other
                k += 1
    return start, targets


@njit(cache=True)
def _max_stage(stages):
    """The deepest pipeline stage of the tasks."""
    deepest = 0
    for t in range(stages.shape[0]):
        deepest = max(deepest, stages[t])
    return deepest


@njit(cache=True)
def _implied_stride(recurrence_stride, tiles_in_flight, max_stage):
    """The recurrence stride the schedule must honour, or -1 when the buffer slots already imply it: a tile starts
    after the tile `tiles_in_flight` back has finished, and with more slots than stages that tile has issued all
    its tasks before; every task finishes its tiles in order (one resource, issued in order), so a recurrence
    producer `stride` >= `tiles_in_flight` tiles back finished no later."""
    return -1 if recurrence_stride >= tiles_in_flight > max_stage else recurrence_stride


@njit(cache=True)
def _task_reads(resources, rec_start, rec_target):
    """(resources any task runs on [3], tasks a recurrence reads [tasks]): what a repeat is judged on (`_repeat`)."""
    used = np.zeros(3, dtype=np.bool_)
    recurrence_read = np.zeros(resources.shape[0], dtype=np.bool_)
    for t in range(resources.shape[0]):
        used[resources[t]] = True
        for j in range(rec_start[t], rec_start[t + 1]):
            recurrence_read[rec_target[j]] = True
    return used, recurrence_read


@njit(cache=True)
def _steady_period(period, durations, resources, done, window, max_stage):
    """Cycles per tile beyond a window run: the repeat's `period`, or where none was found (0) the one measured
    over the window between tiles timed as in the full run (the last `max_stage` tiles drain without later tiles
    competing for the resources, so their finish times `done` are early); never below the busiest resource's work
    per tile."""
    if period == 0.0:
        span = window - window // 2
        last = min(window - 1, max(window - 1 - max_stage, span))
        period = (done[last] - done[last - span]) / span
    busiest = np.zeros(3)
    for task in range(durations.shape[0]):
        busiest[resources[task]] += durations[task]
    return max(period, busiest.max())


@njit(cache=True)
def _simulate(durations, delivery, resources, stages, order, edges, recurrence_stride, tiles_in_flight, tiles):
    """Makespan and per-tile finish times for `tiles` tiles (tiles small enough to simulate).
    `edges` = (dep_start, dep_target, rec_start, rec_target), the dependency matrices compressed."""
    makespan, done, _, _ = _run(durations, delivery, resources, stages, order, edges, recurrence_stride,
                                tiles_in_flight, tiles, False)
    return makespan, done


@njit(cache=True)
def _run(durations, delivery, resources, stages, order, edges, recurrence_stride, tiles_in_flight, tiles,
         stop_when_periodic):
    """(makespan, per-tile finish times, tiles run, period). With `stop_when_periodic`, the `tiles` are the first
    of a longer run: once a step repeats the step before it one tile later and a constant `period` later
    (every finish time a later step can read, and every resource's free time), each later step repeats it too
    (the step is the same max-plus map, shifted), so the run is cut to the tiles issued so far and drained;
    the longer run then takes `period` more per tile it has beyond them. Period 0: no repeat found."""
    n_tasks = durations.shape[0]
    max_stage = _max_stage(stages)
    recurrence_stride = _implied_stride(recurrence_stride, tiles_in_flight, max_stage)
    dep_start, dep_target, rec_start, rec_target = edges
    finish = np.zeros((tiles, n_tasks))
    tile_done = np.zeros(tiles)
    resource_free = np.zeros(3)
    previous_free = np.zeros(3)
    used, recurrence_read = _task_reads(resources, rec_start, rec_target)
    # tiles back a later step can read: its stages, buffer slots and the recurrence (one reaching back past the
    # simulated tiles is never read by them)
    reach = recurrence_stride if 0 <= recurrence_stride < tiles else 0
    lookback = max_stage + max(reach, tiles_in_flight) + 1
    limit = tiles
    period = 0.0
    step = 0
    while step < limit + max_stage:
        for k in range(n_tasks):
            task = order[k]
            tile = step - stages[task]
            if tile < 0 or tile >= limit:
                continue
            start = resource_free[resources[task]]
            for j in range(dep_start[task], dep_start[task + 1]):
                producer = dep_target[j]
                lag = delivery[producer] if resources[producer] != resources[task] else 0.0
                start = max(start, finish[tile, producer] + lag)
            if recurrence_stride >= 0 and tile - recurrence_stride >= 0:
                for j in range(rec_start[task], rec_start[task + 1]):
                    start = max(start, finish[tile - recurrence_stride, rec_target[j]])
            if tile - tiles_in_flight >= 0:
                start = max(start, tile_done[tile - tiles_in_flight])
            end = start + durations[task]
            finish[tile, task] = end
            resource_free[resources[task]] = end
            tile_done[tile] = max(tile_done[tile], end)
        if stop_when_periodic and period == 0.0 and lookback <= step < limit - 1:
            period = _repeat(finish, tile_done, resource_free, previous_free, used, stages, order[0], step, max_stage,
                             recurrence_read, reach, tiles_in_flight)
            if period > 0.0:
                limit = step + 1
        for r in range(3):
            previous_free[r] = resource_free[r]
        step += 1
    makespan = 0.0
    for tile in range(limit):
        makespan = max(makespan, tile_done[tile])
    return makespan, tile_done[:limit], limit, period


@njit(cache=True, inline="always")
def _steady_shift(now, before, resource_free, previous_free, used):
    """The first test of `_repeat`, cheap enough to run before it: the shift of the first task issued in a step
    (its newest finish time `now` less the one before), if positive and every used resource's free time moved by
    it too, else 0."""
    shift = now - before
    tolerance = 1e-12 * max(1.0, abs(now))
    if shift <= 0.0:
        return 0.0
    for r in range(3):
        if used[r] and abs(resource_free[r] - previous_free[r] - shift) > tolerance:
            return 0.0
    return shift


@njit(cache=True)
def _repeat(finish, tile_done, resource_free, previous_free, used, stages, anchor, step, max_stage, recurrence_read,
            reach, tiles_in_flight):
    """The period if step `step` repeated the step before it one tile later, else 0: every value a later step can
    read, later by one constant. Those are each used resource's free time; the finish times of the tiles still
    issuing (their consumers read them); the recurrence producers' (`recurrence_read`) of the tiles a recurrence
    reaches back to (`reach`); and the finish times (`tile_done`) of the tiles issued in full that the buffer slots
    reach back to. The next step is a function of these alone, so from a repeat on, every step repeats."""
    done = step - max_stage  # the newest tile this step completes
    shift = _steady_shift(finish[done, anchor], finish[done - 1, anchor], resource_free, previous_free, used)
    if shift == 0.0:
        return 0.0
    tolerance = 1e-12 * max(1.0, abs(finish[done, anchor]))
    for back in range(max_stage + reach):
        tile = step - back
        for task in range(stages.shape[0]):
            read = back < max_stage or recurrence_read[task]
            if read and stages[task] <= back and abs(finish[tile, task] - finish[tile - 1, task] - shift) > tolerance:
                return 0.0  # written by this step or an earlier one, read later, and not repeated
    for back in range(max_stage, max_stage + tiles_in_flight):  # tiles issued in full (the rest: finish times)
        if abs(tile_done[step - back] - tile_done[step - back - 1] - shift) > tolerance:
            return 0.0
    return shift


@njit(cache=True)
def _window(durations, delivery, resources, stages, order, edges, recurrence_stride, tiles_in_flight, tiles, window):
    """(makespan, period, tiles run): the whole run's makespan when `tiles` fits the window (period 0); else the
    makespan of the first tiles and the steady-state cycles per further tile: exact once the schedule repeats
    (`_run` stops there, often after a few tiles), else measured over the window."""
    if tiles <= window:
        makespan, _ = _simulate(durations, delivery, resources, stages, order, edges, recurrence_stride,
                                tiles_in_flight, int(tiles))
        return makespan, 0.0, tiles
    makespan, done, limit, period = _run(durations, delivery, resources, stages, order, edges, recurrence_stride,
                                         tiles_in_flight, window, True)
    return makespan, _steady_period(period, durations, resources, done, window, _max_stage(stages)), limit


@njit(cache=True)
def _latency(durations, delivery, resources, stages, order, edges, recurrence_stride, tiles_in_flight, tiles,
             window):
    makespan, period, run = _window(durations, delivery, resources, stages, order, edges, recurrence_stride,
                                    tiles_in_flight, tiles, window)
    return makespan if tiles <= window else makespan + (tiles - run) * period


@njit(cache=True)
def schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                     tiles_in_flight, tiles, window):
    """Cycles to run `tiles` tiles; beyond `window` tiles the steady-state period is extrapolated."""
    dep_start, dep_target = _edges(deps)
    rec_start, rec_target = _edges(recurrence)
    return _latency(durations, delivery, resources, stages, order, (dep_start, dep_target, rec_start, rec_target),
                    recurrence_stride, tiles_in_flight, tiles, window)


@njit(cache=True)
def schedule_latency_batch(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                           tiles_in_flight, tiles, window):
    """`schedule_latency` for a batch: durations and delivery [batch, tasks], recurrence_stride/tiles_in_flight/
    tiles [batch]."""
    dep_start, dep_target = _edges(deps)
    rec_start, rec_target = _edges(recurrence)
    edges = (dep_start, dep_target, rec_start, rec_target)
    batch = durations.shape[0]
    out = np.empty(batch)
    for b in range(batch):
        out[b] = _latency(durations[b], delivery[b], resources, stages, order, edges, recurrence_stride[b],
                          tiles_in_flight[b], tiles[b], window)
    return out
