"""A mapper batch's tile schedules (`schedule`), each distinct one simulated once, many at once.

All rows of a batch share one group's tasks (resources, stages, issue order, dependences); they differ in the
per-tile durations, delivery lags and recurrence stride. Rows with the same of these share one simulation (found
by signature in an open-addressing table). The distinct ones run side by side, one per lane of a block
(`_run_lanes`): every lane does the same operations in the same order as `schedule._run` would on its own row,
so each result is the same, bit for bit, while the arithmetic runs over vectors of lanes. A search keeps the
table across its batches (`ScheduleMemo`, one per task plan: `ScheduleMemos`), so a schedule met again in a later
batch is not simulated again.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.spatial.kernels.schedule import (
    _edges,
    _implied_stride,
    _max_stage,
    _repeat,
    _steady_period,
    _steady_shift,
    _task_reads,
    _window,
)

LANES = 64  # schedules simulated side by side


@njit(cache=True, inline="always")
def _mix(h, word):
    """One step of the second signature: xor the word in, multiply, fold the high bits down (a multiply-xorshift,
    unlike FNV's xor-multiply, so the two signatures fail on different inputs)."""
    h = (h ^ np.uint64(word)) * np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(29))


@njit(cache=True)
def _signatures(durations, delivery, recurrence_stride, tiles_in_flight, tiles, window, max_stage):
    """Two independent 64-bit hashes per row of what decides its schedule (a 64-bit FNV-1a and a multiply-xorshift,
    `_mix`): per-tile durations and delivery lags, recurrence stride (-1 where the slots imply it), buffer slots,
    and the tile count when it is within the window (beyond it, tiles only scale the extrapolation). Rows equal in
    both are taken as the same schedule (a false match would give a row another schedule's latency). The first is
    weak on these inputs (whole-cycle doubles): among BERT-1500 FuseMax's 0.67x10^6 distinct schedules it collides
    84 times, about 31 effective bits; the second, a 64-bit mix, carries the weight. Together, some 95 bits: over
    a search's 10^6 distinct schedules a false match is about 10^12 / 2^96, near 10^-17."""
    batch, tasks = durations.shape
    first = np.empty(batch, dtype=np.int64)
    second = np.empty(batch, dtype=np.int64)
    bits = durations.view(np.int64)
    lag_bits = delivery.view(np.int64)
    prime = np.int64(1099511628211)
    for b in range(batch):
        h = np.int64(-3750763034362895579)  # FNV offset basis 14695981039346656037 as int64
        g = np.uint64(0x9E3779B97F4A7C15)
        for t in range(tasks):
            h = (h ^ bits[b, t]) * prime
            h = (h ^ lag_bits[b, t]) * prime
            g = _mix(_mix(g, bits[b, t]), lag_bits[b, t])
        stride = _implied_stride(recurrence_stride[b], tiles_in_flight[b], max_stage)
        tiles_key = np.int64(tiles[b]) if tiles[b] <= window else np.int64(-1)
        h = (h ^ stride) * prime
        h = (h ^ tiles_in_flight[b]) * prime
        h = (h ^ tiles_key) * prime
        first[b] = h
        second[b] = np.int64(_mix(_mix(_mix(g, stride), tiles_in_flight[b]), tiles_key))
    return first, second


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
    finish = np.empty((kept, n_tasks, lanes))  # a tile's rows are zeroed at the step that issues its first tasks
    tile_done = np.empty((kept, lanes))  # (no step reads a later tile): most runs repeat within a few tiles
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
        if step < kept:
            finish[step] = 0.0
            tile_done[step] = 0.0
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
def _place(keys, filled, first, second):
    """The table slot holding the signature pair (`first`, `second`), or the empty slot where it goes (open
    addressing on `first`, linear probing)."""
    size = keys.shape[0]
    bits = 0
    while (1 << bits) < size:
        bits += 1
    slot = _slot(first, bits)
    while filled[slot] and (keys[slot, 0] != first or keys[slot, 1] != second):
        slot = (slot + 1) & (size - 1)
    return slot


@njit(cache=True)
def _with_room(table, count, rows):
    """`table` if it has at least twice as many slots as `count` + `rows` schedules (probes stay short), else a
    table of the next power of two that does, doubling at least, holding the same schedules."""
    keys, results, filled = table
    need = 2 * (count + rows)
    if need <= keys.shape[0]:
        return table
    size = max(keys.shape[0], 1)
    while size < need:
        size *= 2
    grown = (np.empty((size, 2), dtype=np.int64), np.empty((size, 3)), np.zeros(size, dtype=np.bool_))  # (a slot
    # is read only once filled)
    new_keys, new_results, new_filled = grown
    for n in range(keys.shape[0]):
        if filled[n]:
            slot = _place(new_keys, new_filled, keys[n, 0], keys[n, 1])
            new_keys[slot, 0], new_keys[slot, 1] = keys[n, 0], keys[n, 1]
            new_results[slot] = results[n]
            new_filled[slot] = True
    return grown


@njit(cache=True)
def _distinct_latency(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                      tiles_in_flight, tiles, window, signatures, table, count):
    """Latency of every row, simulating each distinct schedule once: a row whose signatures (`_signatures`) the
    memo `table` of `count` schedules (`ScheduleMemo`: per slot the two signatures, the result (makespan, period,
    tiles run) and whether it is filled) holds takes its result; the first row of new signatures is simulated and
    filled in (the table grown first if it might fill: `_with_room`). Runs beyond the window go side by side in
    lanes (`_run_lanes`). Returns the latencies, the table and the schedules it now holds."""
    first, second = signatures
    table = _with_room(table, count, durations.shape[0])
    keys, results, filled = table
    dep_start, dep_target = _edges(deps)
    rec_start, rec_target = _edges(recurrence)
    edges = (dep_start, dep_target, rec_start, rec_target)
    batch = durations.shape[0]
    max_stage = _max_stage(stages)
    slot_of = np.empty(batch, dtype=np.int64)
    long_slots = np.empty(batch, dtype=np.int64)  # new slots whose run goes beyond the window, in lanes
    long_rows = np.empty(batch, dtype=np.int64)  # the row simulated for each
    n_long = 0
    for b in range(batch):
        slot = _place(keys, filled, first[b], second[b])
        if not filled[slot]:
            keys[slot, 0], keys[slot, 1], filled[slot] = first[b], second[b], True
            count += 1
            if tiles[b] <= window:
                results[slot, 0], results[slot, 1], results[slot, 2] = _window(
                    durations[b], delivery[b], resources, stages, order, edges, recurrence_stride[b],
                    tiles_in_flight[b], tiles[b], window)
            else:
                long_slots[n_long], long_rows[n_long] = slot, b
                n_long += 1
        slot_of[b] = slot
    for block in range(0, n_long, LANES):
        block_slots = long_slots[block:min(n_long, block + LANES)]
        rows = long_rows[block:min(n_long, block + LANES)]
        makespan, period, run, finished = _run_lanes(durations, delivery, resources, stages, order, edges,
                                                     recurrence_stride, tiles_in_flight, rows, window,
                                                     window + max_stage)
        for lane in range(rows.shape[0]):
            slot, row = block_slots[lane], rows[lane]
            if finished[lane]:
                results[slot, 0], results[slot, 1], results[slot, 2] = makespan[lane], period[lane], run[lane]
            else:
                results[slot, 0], results[slot, 1], results[slot, 2] = _window(
                    durations[row], delivery[row], resources, stages, order, edges, recurrence_stride[row],
                    tiles_in_flight[row], tiles[row], window)
    out = np.empty(batch)
    for b in range(batch):
        slot = slot_of[b]
        out[b] = results[slot, 0] if tiles[b] <= window else results[slot, 0] + (tiles[b] - results[slot, 2]) * \
            results[slot, 1]
    return out, table, count


class ScheduleMemo:
    """The schedules a search has simulated for one task plan (resources, stages, order, dependences: `GroupPlan`),
    kept across its batches: structures that differ only in their outer loops run the same tiles, so a schedule
    met in one batch recurs in others (on BERT-1500 FuseMax, 2.23x10^6 distinct schedules summed over the batches
    are 0.67x10^6 over the whole search). A slot holds a schedule's two signatures (`_signatures`) and its result."""

    def __init__(self):
        self.count = 0
        self.table = self._empty(0)

    @staticmethod
    def _empty(slots: int) -> tuple:
        return np.zeros((slots, 2), dtype=np.int64), np.zeros((slots, 3)), np.zeros(slots, dtype=np.bool_)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.table)

    def clear(self) -> None:
        self.count = 0
        self.table = self._empty(0)


def schedule_latency_distinct(durations, delivery, resources, stages, order, deps, recurrence, recurrence_stride,
                              tiles_in_flight, tiles, window, memo: ScheduleMemo | None = None):
    """`schedule.schedule_latency_batch`, with each distinct schedule simulated once (same results, bit for
    bit); given a `memo` of the same task plan and window, a schedule it holds is not simulated again."""
    durations = np.ascontiguousarray(durations, dtype=np.float64)
    delivery = np.ascontiguousarray(delivery, dtype=np.float64)
    recurrence_stride = np.asarray(recurrence_stride, dtype=np.int64)
    tiles_in_flight = np.asarray(tiles_in_flight, dtype=np.int64)
    tiles = np.asarray(tiles, dtype=np.float64)
    if len(durations) == 0:
        return np.empty(0)
    memo = ScheduleMemo() if memo is None else memo
    signatures = _signatures(durations, delivery, recurrence_stride, tiles_in_flight, tiles, window, _max_stage(stages))
    latency, memo.table, memo.count = _distinct_latency(durations, delivery, resources, stages, order, deps,
                                                        recurrence, recurrence_stride, tiles_in_flight, tiles, window,
                                                        signatures, memo.table, memo.count)
    return latency


class ScheduleMemos:
    """A search's `ScheduleMemo` per task plan, within a memory budget: once the memos pass it, every memo is emptied
    (their schedules are simulated again as met; results do not change). The budget is soft: it is checked when a
    memo is handed out, before its batch runs, and that batch may grow the memo's table (41 bytes a slot, doubling,
    at least twice the schedules held: `_with_room`), so the memos can reach about twice the budget (512 MiB)."""

    def __init__(self, budget_bytes: int = 256 * 2**20):
        self.budget_bytes, self._total = budget_bytes, 0
        self._memos: dict[bytes, ScheduleMemo] = {}
        self._bytes: dict[bytes, int] = {}  # each memo's bytes as last counted
        self._last: bytes | None = None  # the memo handed out last: its batch may have grown it

    def memo(self, plan: bytes) -> ScheduleMemo:
        """The memo of task plan `plan` (`GroupPlan.schedule_key`)."""
        if self._last is not None:
            grown = self._memos[self._last].nbytes
            self._total += grown - self._bytes[self._last]
            self._bytes[self._last] = grown
        if self._total > self.budget_bytes:
            for other in self._memos.values():
                other.clear()
            self._bytes, self._total = dict.fromkeys(self._memos, 0), 0
        memo = self._memos.setdefault(plan, ScheduleMemo())
        self._bytes.setdefault(plan, memo.nbytes)
        self._last = plan
        return memo
