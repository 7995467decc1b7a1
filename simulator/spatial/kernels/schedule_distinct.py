"""A mapper batch's tile schedules (`schedule`), each distinct one simulated once, many at once.

All rows of a batch share one group's tasks (resources, stages, issue order, dependences); they differ in the
per-tile durations, delivery lags and recurrence stride. Rows with the same of these share one simulation (found
by signature in an open-addressing table). The distinct ones run side by side, one per lane of a block
(`_run_lanes`): every lane does the same operations in the same order as `schedule._run` would on its own row,
so each result is the same, bit for bit, while the arithmetic runs over vectors of lanes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.spatial.kernels.schedule import (
    _edges,
    _implied_stride,
    _latency,
    _max_stage,
    _repeat,
    _steady_period,
    _steady_shift,
    _task_reads,
    _window,
)

LANES = 64  # schedules simulated side by side


@njit(cache=True)
def _signatures(durations, delivery, recurrence_stride, tiles_in_flight, tiles, window, max_stage):
    """A 64-bit FNV-1a hash per row of what decides its schedule: per-tile durations and delivery lags,
    recurrence stride (-1 where the slots imply it), buffer slots, and the tile count when it is within the window
    (beyond it, tiles only scale the extrapolation)."""
    batch, tasks = durations.shape
    out = np.empty(batch, dtype=np.int64)
    bits = durations.view(np.int64)
    lag_bits = delivery.view(np.int64)
    prime = np.int64(1099511628211)
    for b in range(batch):
        h = np.int64(-3750763034362895579)  # FNV offset basis 14695981039346656037 as int64
        for t in range(tasks):
            h = (h ^ bits[b, t]) * prime
            h = (h ^ lag_bits[b, t]) * prime
        h = (h ^ _implied_stride(recurrence_stride[b], tiles_in_flight[b], max_stage)) * prime
        h = (h ^ tiles_in_flight[b]) * prime
        h = (h ^ (np.int64(tiles[b]) if tiles[b] <= window else np.int64(-1))) * prime
        out[b] = h
    return out


@njit(cache=True, inline="always")
def _slot(signature, bits):
    """A table slot of `bits` bits from a signature's high bits after a Fibonacci multiply (FNV's low bits
    follow the inputs' low bits, which durations in whole cycles share)."""
    if bits == 0:
        return 0
    return np.int64((np.uint64(signature) * np.uint64(11400714819323198485)) >> np.uint64(64 - bits))


@njit(cache=True)
def _run_lanes(durations, delivery, resources, stages, order, edges, recurrence_stride, tiles_in_flight, rows,
               window, steps):
    """`schedule._window` (beyond the window) of the rows `rows`, one per lane, for at most `steps` steps:
    (makespan, period, tiles run, finished) per lane, finished False where the lane's run had not ended by then
    (repeated and drained, or the whole window run; its other outputs are then meaningless). The lanes run until
    the last one ends: the window and its drain at most."""
    dep_start, dep_target, rec_start, rec_target = edges
    lanes = rows.shape[0]
    n_tasks = durations.shape[1]
    max_stage = _max_stage(stages)
    duration = np.empty((n_tasks, lanes))
    lags = np.zeros((dep_target.shape[0], lanes))  # each dependency's delivery lag per lane
    stride = np.empty(lanes, dtype=np.int64)
    slots = np.empty(lanes, dtype=np.int64)
    reach = np.empty(lanes, dtype=np.int64)
    lookback = np.empty(lanes, dtype=np.int64)
    limit = np.full(lanes, window, dtype=np.int64)
    period = np.zeros(lanes)
    for lane in range(lanes):
        row = rows[lane]
        for task in range(n_tasks):
            duration[task, lane] = durations[row, task]
            for j in range(dep_start[task], dep_start[task + 1]):
                producer = dep_target[j]
                if resources[producer] != resources[task]:
                    lags[j, lane] = delivery[row, producer]
        slots[lane] = tiles_in_flight[row]
        stride[lane] = _implied_stride(recurrence_stride[row], slots[lane], max_stage)
        reach[lane] = stride[lane] if 0 <= stride[lane] < window else 0
        lookback[lane] = max_stage + max(reach[lane], slots[lane]) + 1
    used, recurrence_read = _task_reads(resources, rec_start, rec_target)
    kept = min(window, steps)  # tiles a run of `steps` steps issues
    finish = np.zeros((kept, n_tasks, lanes))
    tile_done = np.zeros((kept, lanes))
    resource_free = np.zeros((3, lanes))
    previous_free = np.zeros((3, lanes))
    start = np.empty(lanes)
    step = 0
    while step < steps:
        running = False
        for lane in range(lanes):
            running = running or step < limit[lane] + max_stage
        if not running:
            break
        for k in range(n_tasks):
            task = order[k]
            tile = step - stages[task]
            if tile < 0 or tile >= kept:
                continue
            resource = resources[task]
            for lane in range(lanes):
                start[lane] = resource_free[resource, lane]
            for j in range(dep_start[task], dep_start[task + 1]):
                producer = dep_target[j]
                for lane in range(lanes):
                    start[lane] = max(start[lane], finish[tile, producer, lane] + lags[j, lane])
            if rec_start[task + 1] > rec_start[task]:
                for lane in range(lanes):
                    if stride[lane] >= 0 and tile - stride[lane] >= 0:
                        for j in range(rec_start[task], rec_start[task + 1]):
                            start[lane] = max(start[lane], finish[tile - stride[lane], rec_target[j], lane])
            for lane in range(lanes):
                if tile - slots[lane] >= 0:
                    start[lane] = max(start[lane], tile_done[tile - slots[lane], lane])
            for lane in range(lanes):
                if tile < limit[lane]:
                    end = start[lane] + duration[task, lane]
                    finish[tile, task, lane] = end
                    resource_free[resource, lane] = end
                    tile_done[tile, lane] = max(tile_done[tile, lane], end)
        for lane in range(lanes):
            if period[lane] == 0.0 and lookback[lane] <= step < limit[lane] - 1:
                newest = step - max_stage  # `_repeat` after its cheap first test, which most steps fail
                if _steady_shift(finish[newest, order[0], lane], finish[newest - 1, order[0], lane],
                                 resource_free[:, lane], previous_free[:, lane], used) == 0.0:
                    continue
                period[lane] = _repeat(finish[:, :, lane], tile_done[:, lane], resource_free[:, lane],
                                       previous_free[:, lane], used, stages, order[0], step, max_stage,
                                       recurrence_read, reach[lane], slots[lane])
                if period[lane] > 0.0:
                    limit[lane] = step + 1
        for r in range(3):
            for lane in range(lanes):
                previous_free[r, lane] = resource_free[r, lane]
        step += 1
    makespan = np.zeros(lanes)
    finished = np.zeros(lanes, dtype=np.bool_)
    for lane in range(lanes):
        finished[lane] = step >= limit[lane] + max_stage and (period[lane] > 0.0 or limit[lane] == window)
        for tile in range(min(limit[lane], kept)):
            makespan[lane] = max(makespan[lane], tile_done[tile, lane])
        if finished[lane]:  # as `schedule._window`
            period[lane] = _steady_period(period[lane], duration[:, lane], resources, tile_done[:, lane], window,
                                          max_stage)
    return makespan, period, limit.astype(np.float64), finished


@njit(cache=True)
def _distinct_latency(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                      tiles_in_flight, tiles, window, signatures):
    """Latency of every row, simulating each distinct schedule once: the first row with a signature
    (`_signatures`) is simulated, and a later row with the same signature and the same inputs takes its result
    (an open-addressing table keyed by signature); a row whose signature matches but whose inputs differ (a hash
    collision) is simulated on its own. Runs beyond the window go side by side in lanes (`_run_lanes`)."""
    dep_start, dep_target = _edges(deps)
    rec_start, rec_target = _edges(recurrence)
    edges = (dep_start, dep_target, rec_start, rec_target)
    batch, tasks = durations.shape
    size, bits = 1, 0
    while size < 2 * batch:
        size, bits = size * 2, bits + 1
    keys = np.empty(size, dtype=np.int64)
    first = -np.ones(size, dtype=np.int64)  # the row simulated for each slot
    makespans, periods, runs = np.empty(size), np.empty(size), np.empty(size)
    slot_of = np.empty(batch, dtype=np.int64)
    long_slots = np.empty(batch, dtype=np.int64)  # slots whose run goes beyond the window, simulated in lanes
    n_long = 0
    for b in range(batch):
        slot = _slot(signatures[b], bits)
        while first[slot] >= 0 and keys[slot] != signatures[b]:
            slot = (slot + 1) & (size - 1)
        slot_of[b] = slot
        if first[slot] < 0:
            first[slot], keys[slot] = b, signatures[b]
            if tiles[b] <= window:
                makespans[slot], periods[slot], runs[slot] = _window(
                    durations[b], delivery[b], resources, stages, order, edges, recurrence_stride[b],
                    tiles_in_flight[b], tiles[b], window)
            else:
                long_slots[n_long] = slot
                n_long += 1
    max_stage = _max_stage(stages)
    for block in range(0, n_long, LANES):
        block_slots = long_slots[block:min(n_long, block + LANES)]
        rows = first[block_slots]
        makespan, period, run, finished = _run_lanes(durations, delivery, resources, stages, order, edges,
                                                     recurrence_stride, tiles_in_flight, rows, window,
                                                     window + max_stage)
        for lane in range(rows.shape[0]):
            slot, row = block_slots[lane], rows[lane]
            if finished[lane]:
                makespans[slot], periods[slot], runs[slot] = makespan[lane], period[lane], run[lane]
            else:
                makespans[slot], periods[slot], runs[slot] = _window(
                    durations[row], delivery[row], resources, stages, order, edges, recurrence_stride[row],
                    tiles_in_flight[row], tiles[row], window)
    out = np.empty(batch)
    for b in range(batch):
        slot = slot_of[b]
        r = first[slot]
        same = (_implied_stride(recurrence_stride[b], tiles_in_flight[b], max_stage)
                == _implied_stride(recurrence_stride[r], tiles_in_flight[r], max_stage)
                and tiles_in_flight[b] == tiles_in_flight[r])
        for t in range(tasks):
            same = same and durations[b, t] == durations[r, t] and delivery[b, t] == delivery[r, t]
        within = tiles[b] <= window
        same = same and ((within and tiles[b] == tiles[r]) or (not within and tiles[r] > window))
        if same:
            out[b] = makespans[slot] if within else makespans[slot] + (tiles[b] - runs[slot]) * periods[slot]
        else:  # a hash collision: simulate this row on its own
            out[b] = _latency(durations[b], delivery[b], resources, stages, order, edges, recurrence_stride[b],
                              tiles_in_flight[b], tiles[b], window)
    return out


def schedule_latency_distinct(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                              tiles_in_flight, tiles, window):
    """`schedule.schedule_latency_batch`, with each distinct schedule simulated once (same results, bit for
    bit)."""
    durations = np.ascontiguousarray(durations, dtype=np.float64)
    delivery = np.ascontiguousarray(delivery, dtype=np.float64)
    recurrence_stride = np.asarray(recurrence_stride, dtype=np.int64)
    tiles_in_flight = np.asarray(tiles_in_flight, dtype=np.int64)
    tiles = np.asarray(tiles, dtype=np.float64)
    if len(durations) == 0:
        return np.empty(0)
    signatures = _signatures(durations, delivery, recurrence_stride, tiles_in_flight, tiles, window, _max_stage(stages))
    return _distinct_latency(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                             tiles_in_flight, tiles, window, signatures)
