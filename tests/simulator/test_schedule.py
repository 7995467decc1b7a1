"""The tile schedule kernel (`simulator.spatial.kernels.schedule`) against a brute-force longest-path schedule,
its steady-state extrapolation against a full simulation, and two pipelines worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.heap import keep_freed_memory
from simulator.spatial.kernels.schedule import (
    _edges,
    _run,
    _simulate,
    schedule_latency,
    schedule_latency_batch,
)
from simulator.spatial.kernels.schedule_distinct import (
    ScheduleMemo,
    ScheduleMemos,
    _distinct_latency,
    _signatures,
    schedule_latency_distinct,
)

TWO_D, ONE_D, DRAM = 0, 1, 2


def issue_order(stages: np.ndarray) -> np.ndarray:
    """Deeper stages first within a step, then task index (what `evaluate_group` passes)."""
    return np.array(sorted(range(len(stages)), key=lambda t: (-stages[t], t)))


def brute_force(durations, delivery, resources, stages, order, deps, recurrence, stride, tiles_in_flight,
                tiles) -> float:
    """Makespan as the longest path through every (tile, task) instance, built from the rules alone:
    tasks run one at a time on their resource, in issue order (step s issues tile s - stage, tasks in
    `order`); a task waits for its producers in the same tile (plus the producer's delivery lag when the
    producer runs on another resource), for its recurrence producers `stride`
    tiles back, and for every task of the tile `tiles_in_flight` back. Finish times are relaxed to a
    fixpoint over that graph (no issue-order sweep)."""
    n = len(durations)
    rank = {int(task): k for k, task in enumerate(order)}
    nodes = [(tile, task) for tile in range(tiles) for task in range(n)]
    preds: dict[tuple[int, int], list[tuple[tuple[int, int], float]]] = {node: [] for node in nodes}
    for resource in set(int(r) for r in resources):
        sequence = sorted((node for node in nodes if resources[node[1]] == resource),
                          key=lambda node: (node[0] + stages[node[1]], rank[node[1]]))
        for before, after in zip(sequence, sequence[1:], strict=False):
            preds[after].append((before, 0.0))
    for tile, task in nodes:
        for other in range(n):
            if deps[task, other]:
                lag = delivery[other] if resources[other] != resources[task] else 0.0
                preds[(tile, task)].append(((tile, other), lag))
            if recurrence[task, other] and tile - stride >= 0:
                preds[(tile, task)].append(((tile - stride, other), 0.0))
        if tile - tiles_in_flight >= 0:
            preds[(tile, task)] += [((tile - tiles_in_flight, other), 0.0) for other in range(n)]
    finish = dict.fromkeys(nodes, 0.0)
    for _ in range(len(nodes) + 1):
        changed = False
        for node in nodes:
            start = max((finish[p] + lag for p, lag in preds[node]), default=0.0)
            value = start + durations[node[1]]
            if value != finish[node]:
                finish[node], changed = value, True
        if not changed:
            return max(finish.values())
    raise AssertionError("dependency cycle")


@st.composite
def pipelines(draw, max_tiles=12):
    """Random task sets whose binding is consistent with in-order issue: producers in the same or an
    earlier stage (and earlier in the issue order), recurrence producers issued before their readers,
    and at least one tile in flight per stage."""
    n = draw(st.integers(1, 5))
    durations = np.array(draw(st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=n, max_size=n)))
    delivery = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 3.0, 40.0, 256.0]), min_size=n, max_size=n)))
    resources = np.array(draw(st.lists(st.sampled_from([TWO_D, ONE_D, DRAM]), min_size=n, max_size=n)))
    stages = np.array(sorted(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))))
    deps = np.zeros((n, n), dtype=bool)
    recurrence = np.zeros((n, n), dtype=bool)
    stride = draw(st.integers(1, 3))
    for task in range(n):
        for other in range(task):
            deps[task, other] = draw(st.booleans())
        for other in range(n):
            if stages[other] <= stages[task] + stride - 1:
                recurrence[task, other] = draw(st.booleans())
    max_stage = int(stages.max())
    tiles_in_flight = draw(st.integers(max(1, max_stage), max_stage + 2))
    tiles = draw(st.integers(1, max_tiles))
    return durations, delivery, resources, stages, issue_order(stages), deps, recurrence, stride, tiles_in_flight, \
        tiles


@settings(max_examples=150, deadline=None)
@given(pipelines())
def test_small_schedules_equal_brute_force(case):
    durations, delivery, resources, stages, order, deps, recurrence, stride, tiles_in_flight, tiles = case
    kernel = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                              tiles_in_flight, float(tiles), 64)
    expected = brute_force(durations, delivery, resources, stages, order, deps, recurrence, stride,
                           tiles_in_flight, tiles)
    assert kernel == pytest.approx(expected, rel=1e-12, abs=1e-9)


def fusemax_like():
    """The FuseMax binding's shape: QK, LM on the 2D array (stage 0); RM, PRM on the 1D array and SLN on
    the 2D array one tile behind; RM reads its own previous value; a DRAM task feeding QK. LM's result
    takes 25 cycles to leave the 2D array (its delivery lag to the 1D array)."""
    durations = np.array([40.0, 3.0, 2.0, 30.0, 5.0, 17.0])
    delivery = np.array([0.0, 25.0, 0.0, 0.0, 0.0, 0.0])
    resources = np.array([TWO_D, TWO_D, ONE_D, TWO_D, ONE_D, DRAM])
    stages = np.array([0, 0, 1, 1, 1, 0])
    deps = np.zeros((6, 6), dtype=bool)
    deps[0, 5] = deps[1, 0] = deps[2, 1] = deps[3, 2] = deps[4, 2] = True
    recurrence = np.zeros((6, 6), dtype=bool)
    recurrence[2, 2] = recurrence[4, 2] = True
    order = np.array([5, 2, 3, 4, 0, 1])  # stage 1 first, then the tile's DRAM transfer before QK reads it
    return durations, delivery, resources, stages, order, deps, recurrence


@pytest.mark.parametrize(("stride", "tiles_in_flight"), [(1, 2), (4, 2), (1, 3), (3, 1)])
@pytest.mark.parametrize("scale_dram", [0.1, 1.0, 5.0])
def test_extrapolation_equals_full_simulation(stride, tiles_in_flight, scale_dram):
    durations, delivery, resources, stages, order, deps, recurrence = fusemax_like()
    durations = durations.copy()
    durations[-1] *= scale_dram
    if tiles_in_flight < stages.max():
        stages = np.zeros_like(stages)
        order = np.array([5, 0, 1, 2, 3, 4])
    tiles = 500
    full = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                            tiles_in_flight, float(tiles), tiles)
    extrapolated = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                                    tiles_in_flight, float(tiles), 64)
    assert extrapolated == pytest.approx(full, rel=1e-9)


def test_extrapolation_measures_the_period_before_the_drain():
    # One resource, one cycle per tile (task 1), and zero-cycle tasks in stages 1 and 2 that queue
    # behind the next tiles' work: tile t is done at t + 2 in steady state, but the last tiles of any
    # run finish early (nothing left to queue behind), so the period must not be read off them.
    durations = np.array([0.0, 1.0, 0.0, 0.0])
    resources = np.zeros(4, dtype=np.int64)
    stages = np.array([0, 0, 1, 2])
    none = np.zeros((4, 4), dtype=bool)
    args = (durations, np.zeros(4), resources, stages, issue_order(stages), none, none, 1, 2, 500.0)
    assert schedule_latency(*args, 500) == 500.0
    assert schedule_latency(*args, 64) == pytest.approx(500.0, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(pipelines(max_tiles=1))
def test_extrapolation_equals_full_simulation_random(case):
    # Extrapolation is exact once the schedule is periodic. A random pipeline may approach its steady
    # state for longer than half the window (e.g. two arrays with almost equal loads per tile, the
    # difference absorbed slowly by the tiles in flight); those cases are not the property under test.
    durations, delivery, resources, stages, order, deps, recurrence, stride, tiles_in_flight, _ = case
    durations = np.round(durations)
    tiles, window = 500, 64
    full = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                            tiles_in_flight, float(tiles), tiles)
    edges = (*_edges(deps), *_edges(recurrence))
    _, done = _simulate(durations, delivery, resources, stages, order, edges, stride, tiles_in_flight, tiles)
    steps = np.diff(done[window // 2 - int(stages.max()) - 1: tiles - int(stages.max())])
    assume(np.ptp(steps) <= 1e-9 * max(1.0, float(np.abs(steps).max())))
    extrapolated = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                                    tiles_in_flight, float(tiles), window)
    assert extrapolated == pytest.approx(full, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(pipelines(max_tiles=1), st.integers(0, 2))
def test_a_run_stopped_where_it_repeats_extrapolates_exactly(case, whole):
    # `_run` stops at the first step that repeats the one before it, shifted by one tile and one period: from
    # there every step repeats, so the extrapolated makespan of a long run is the full simulation's. Whole-number
    # durations keep the repeat exact in floating point.
    durations, delivery, resources, stages, order, deps, recurrence, stride, tiles_in_flight, _ = case
    durations = np.round(durations) + whole
    edges = (*_edges(deps), *_edges(recurrence))
    _, _, run, period = _run(durations, delivery, resources, stages, order, edges, stride, tiles_in_flight, 48, True)
    assume(period > 0)
    tiles = 300
    full = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                            tiles_in_flight, float(tiles), tiles)
    stopped = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                               tiles_in_flight, float(tiles), 48)
    assert run < 48
    assert stopped == pytest.approx(full, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(pipelines(max_tiles=1), st.sampled_from([40, 47, 48, 60]), st.booleans())
def test_a_long_recurrence_and_fractional_durations_extrapolate_like_the_full_run(case, stride, dram_first):
    # a recurrence reaching back about a window (48 tiles) or further, fractional durations, and the issue
    # order the lowering gives (`task_plan`: the DRAM-like first task, then deeper stages first)
    durations, delivery, resources, stages, order, deps, recurrence, _, tiles_in_flight, _ = case
    durations = durations + 0.37
    if dram_first:
        order = np.array([0] + [t for t in order if t != 0])
        deps[0, :] = False  # the first issued task reads nothing of its own tile
        # and, as `task_plan` keeps, a slot per stage: the tile a slot waits for has issued its deepest stage
        # before the first task of a step (with fewer, that task would read a tile not yet issued as done at 0)
        tiles_in_flight = max(tiles_in_flight, int(stages.max()) + 1)
    tiles = 400
    full = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                            tiles_in_flight, float(tiles), tiles)
    stopped = schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride,
                               tiles_in_flight, float(tiles), 48)
    edges = (*_edges(deps), *_edges(recurrence))
    _, _, run, period = _run(durations, delivery, resources, stages, order, edges, stride, tiles_in_flight, 48, True)
    assume(period > 0)  # found periodic: then exact (a recurrence past the window never binds these pipelines)
    assert stopped == pytest.approx(full, rel=1e-9)


def test_a_steady_pipeline_stops_after_a_few_tiles():
    # FuseMax's shape: one tile of warm-up per stage and buffer slot, then every step repeats
    durations, delivery, resources, stages, order, deps, recurrence = fusemax_like()
    edges = (*_edges(deps), *_edges(recurrence))
    _, _, run, period = _run(durations, delivery, resources, stages, order, edges, 1, 2, 48, True)
    _, done = _simulate(durations, delivery, resources, stages, order, edges, 1, 2, 200)
    assert run <= 8 and period == done[150] - done[149]  # the full run's steady step


def two_tasks(a: float, b: float, pipelined: bool, tiles: int, window: int) -> float:
    """Task A on the 2D array (a cycles per tile), then task B on the 1D array reading A's result
    (b cycles); pipelined: B is stage 1 and two tiles are in flight, serial: both stage 0, one tile."""
    durations = np.array([a, b])
    resources = np.array([TWO_D, ONE_D])
    stages = np.array([0, 1] if pipelined else [0, 0])
    deps = np.array([[False, False], [True, False]])
    recurrence = np.zeros((2, 2), dtype=bool)
    return schedule_latency(durations, np.zeros(2), resources, stages, issue_order(stages), deps, recurrence, 1,
                            2 if pipelined else 1, float(tiles), window)


@pytest.mark.parametrize(("a", "b"), [(10.0, 4.0), (4.0, 10.0), (7.0, 7.0), (1.0, 0.0)])
@pytest.mark.parametrize("tiles", [1, 2, 3, 10, 1000])
def test_two_stage_pipeline_by_hand(a, b, tiles):
    # Pipelined, a >= b: A runs back to back and finishes tile t at (t+1)a, B follows it by b; the slot
    # of tile t - 2 frees at (t-1)a + b <= t a, so A never waits: makespan n a + b. For b > a the 1D
    # array is the bottleneck: B runs back to back from a, makespan a + n b. Period max(a, b).
    assert two_tasks(a, b, True, tiles, 64) == pytest.approx(tiles * max(a, b) + min(a, b), rel=1e-12)
    # Serial: one tile in flight, so A of tile t waits for B of tile t - 1: period a + b.
    assert two_tasks(a, b, False, tiles, 64) == pytest.approx(tiles * (a + b), rel=1e-12)


def test_two_stage_pipeline_steady_period():
    a, b = 9.0, 5.0
    for pipelined, period in ((True, max(a, b)), (False, a + b)):
        many, more = (two_tasks(a, b, pipelined, n, 64) for n in (400, 401))
        assert more - many == pytest.approx(period, rel=1e-12)


def test_distinct_schedules_equal_one_by_one():
    # A mapper batch repeats per-tile durations with different outer loop counts; simulating each
    # distinct schedule once must give what simulating every row does, bit for bit.
    durations, delivery, resources, stages, order, deps, recurrence = fusemax_like()
    rng = np.random.default_rng(3)
    variants = durations[None, :] * rng.integers(1, 4, (5, len(durations)))
    lags = delivery[None, :] * rng.integers(0, 3, (5, len(durations)))
    pick = rng.integers(0, 5, 400)
    rows, row_lags = variants[pick], lags[rng.integers(0, 5, 400)]
    tiles = rng.choice([1.0, 7.0, 48.0, 49.0, 500.0, 4096.0], 400)
    stride = rng.integers(1, 3, 400)
    slots = np.full(400, 3, dtype=np.int64)
    args = (rows, row_lags, resources, stages, order, deps, recurrence, stride, slots, tiles, 48)
    expected = np.array([schedule_latency(rows[n], row_lags[n], resources, stages, order, deps, recurrence,
                                          int(stride[n]), 3, tiles[n], 48) for n in range(400)])
    assert np.array_equal(schedule_latency_distinct(*args), expected)
    assert np.array_equal(schedule_latency_batch(*args), expected)


def test_distinct_schedules_survive_a_collision_of_the_first_signature():
    # Rows put in one slot of the table although they differ (what a collision of the first signature would do)
    # are told apart by the second and simulated each.
    durations, delivery, resources, stages, order, deps, recurrence = fusemax_like()
    rows = np.stack([durations, durations * 2.0, durations])
    lags = np.stack([delivery, delivery, delivery * 3.0])
    tiles = np.array([500.0, 500.0, 500.0])
    stride, slots = np.ones(3, dtype=np.int64), np.full(3, 3, dtype=np.int64)
    _, second = _signatures(rows, lags, stride, slots, tiles, 48, int(stages.max()))
    got, _, held = _distinct_latency(rows, lags, resources, stages, order, deps, recurrence, stride, slots, tiles, 48,
                                     (np.zeros(3, dtype=np.int64), second), ScheduleMemo().table, 0)  # one first
    expected = [schedule_latency(rows[n], lags[n], resources, stages, order, deps, recurrence, 1, 3, tiles[n], 48)
                for n in range(3)]
    assert np.array_equal(got, expected)
    assert held == 3


def test_a_memo_kept_across_batches_gives_what_each_batch_gives_alone():
    # A search keeps one memo per task plan across its batches (`ScheduleMemos`): a later batch takes the
    # schedules an earlier one simulated, grows the table as it fills, and gets what it would alone, bit for bit;
    # a budget too small for one batch empties the memos before each and changes nothing either.
    durations, delivery, resources, stages, order, deps, recurrence = fusemax_like()
    rng = np.random.default_rng(5)
    batches = []
    for _ in range(4):
        pick = rng.integers(0, 6, 300)
        rows = durations[None, :] * (1 + pick[:, None] * (np.arange(len(durations)) == pick[:, None] % 3))
        tiles = rng.choice([7.0, 48.0, 500.0, 4096.0], 300)
        batches.append((rows, np.tile(delivery, (300, 1)), resources, stages, order, deps, recurrence,
                        rng.integers(1, 3, 300), np.full(300, 3, dtype=np.int64), tiles, 48))
    key = b"fusemax_like"
    for budget in (256 * 2**20, 1):
        memos = ScheduleMemos(budget)
        for args in batches:
            memo = memos.memo(key)
            assert np.array_equal(schedule_latency_distinct(*args, memo=memo), schedule_latency_batch(*args))
        # 6 distinct rows x 3 tile keys (7, 48, and any count beyond the window) x 2 strides: each simulated once
        # over the four batches, unless the budget empties the memo before each batch
        assert memos.memo(key).count == 36 if budget > 1 else memos.memo(key).count == 0


def test_a_memo_grown_with_schedules_in_it_keeps_them():
    # A small first batch fills a small table; a large second batch makes it grow (`_with_room`) with those
    # schedules in it; the first batch run again then finds every one of its schedules (none simulated anew) with
    # its result, bit for bit.
    durations, delivery, resources, stages, order, deps, recurrence = fusemax_like()

    def batch(scales, tiles):
        rows = durations[None, :] * np.asarray(scales, dtype=float)[:, None]
        n = len(rows)
        return (rows, np.tile(delivery, (n, 1)), resources, stages, order, deps, recurrence, np.ones(n, dtype=np.int64),
                np.full(n, 3, dtype=np.int64), np.asarray(tiles, dtype=float), 48)

    small = batch([1, 2, 3, 4, 5, 6], [7.0, 500.0, 48.0, 4096.0, 7.0, 500.0])  # 6 distinct schedules
    large = batch(np.arange(10, 310), np.full(300, 500.0))  # 300 more
    memo = ScheduleMemo()
    schedule_latency_distinct(*small, memo=memo)
    slots_before = len(memo.table[2])
    schedule_latency_distinct(*large, memo=memo)
    assert len(memo.table[2]) > slots_before and memo.count == 306
    assert np.array_equal(schedule_latency_distinct(*small, memo=memo), schedule_latency_batch(*small))
    assert memo.count == 306


def test_a_round_trip_through_the_other_array_pays_the_delivery_lag_unless_pipelined():
    # Task A on the 2D array (a cycles), B on the 1D array reading A (b cycles), C on the 2D array reading B
    # (c cycles); A's result needs `lag` cycles to reach the 1D array. Serial (one tile in flight): every tile
    # is a + lag + b + c. Pipelined with C two tiles behind A and B one tile behind, the 2D array runs
    # C(t-2) then A(t) each step, and B(t) waits for A(t) + lag: with lag + b <= a + c the 2D array is never
    # idle and the period is a + c.
    a, b, c, lag = 10.0, 2.0, 5.0, 12.0
    durations, delivery = np.array([a, b, c]), np.array([lag, 0.0, 0.0])
    resources = np.array([TWO_D, ONE_D, TWO_D])
    deps = np.zeros((3, 3), dtype=bool)
    deps[1, 0] = deps[2, 1] = True
    none = np.zeros((3, 3), dtype=bool)
    tiles = 1000.0
    serial = schedule_latency(durations, delivery, resources, np.zeros(3, dtype=np.int64), np.arange(3), deps, none,
                              1, 1, tiles, 64)
    assert serial == pytest.approx(tiles * (a + lag + b + c), rel=1e-12)
    stages = np.array([0, 1, 2])
    piped = schedule_latency(durations, delivery, resources, stages, issue_order(stages), deps, none, 1, 3, tiles,
                             64)
    assert piped / tiles == pytest.approx(a + c, rel=1e-3)
    # A lag on an edge between tasks on the same resource is not charged (the value does not leave the array).
    same = schedule_latency(durations, delivery, np.array([TWO_D, TWO_D, TWO_D]), np.zeros(3, dtype=np.int64),
                            np.arange(3), deps, none, 1, 1, tiles, 64)
    assert same == pytest.approx(tiles * (a + b + c), rel=1e-12)


def steady_period(durations, delivery, resources, stages, order, deps, recurrence, stride, slots) -> float:
    """Cycles per tile in steady state: the latency's growth between 2,000 and 4,000 tiles."""
    def latency(tiles):
        return schedule_latency(durations, delivery, resources, stages, order, deps, recurrence, stride, slots,
                                float(tiles), 48)
    return (latency(4000) - latency(2000)) / 2000


def two_task_recurrence(first_resource: int, order: np.ndarray) -> tuple:
    """Resources, stages, issue order, dependences and recurrence of two tasks: the second (stage 1) reads the
    first of its tile; the first reads the second of a tile some tiles back."""
    resources, stages = np.array([first_resource, TWO_D if first_resource == DRAM else ONE_D]), np.array([0, 1])
    deps = np.array([[False, False], [True, False]])
    recurrence = np.array([[False, True], [False, False]])
    return resources, stages, order, deps, recurrence


@pytest.mark.parametrize(("first", "durations", "lag", "slots", "order"), [
    # A (2D, 10 cycles) then B (1D, 10 cycles) reads A after a lag of 20; A of tile t reads B of tile t - 2, with
    # 3 tiles in flight. The cycle A -> B -> A spans 2 tiles: (10 + 20 + 10) / 2 per tile, above the slots'
    # (10 + 20 + 10) / 3 and each resource's 10: the recurrence sets the period.
    (TWO_D, (10.0, 10.0), 20.0, 3, np.array([1, 0])),
    # D (DRAM, 1 cycle, issued first in its step) then A (2D, 10 cycles) reads D after a lag of 30; D of tile t
    # reads A of tile t - 2. One tile in flight, but when D of tile t issues, A of tile t - 1 has not: the slot
    # alone would let D run ahead. The cycle D -> A -> D spans 2 tiles: (1 + 30 + 10) / 2 per tile.
    (DRAM, (1.0, 10.0), 30.0, 1, np.array([0, 1])),
])
def test_a_recurrence_the_buffer_slots_do_not_imply_paces_the_pipeline(first, durations, lag, slots, order):
    resources, stages, order, deps, recurrence = two_task_recurrence(first, order)
    period = steady_period(np.array(durations), np.array([lag, 0.0]), resources, stages, order, deps, recurrence,
                           2, slots)
    assert period == pytest.approx((durations[0] + lag + durations[1]) / 2, rel=1e-9)


def test_a_recurrence_the_slots_cover_changes_nothing():
    # The first pipeline above, with 2 tiles of recurrence and 2 in flight: tile t starts after tile t - 2
    # has finished, B of tile t - 2 included, so the recurrence is implied; the period is the slots' cycle
    # A -> B -> (tile t + 2's) A over 2 tiles, (a + L + b) / 2, with or without the recurrence.
    a, b, lag = 10.0, 10.0, 20.0
    resources, stages, order, deps, recurrence = two_task_recurrence(TWO_D, np.array([1, 0]))
    args = (np.array([a, b]), np.array([lag, 0.0]), resources, stages, order, deps)
    with_recurrence = steady_period(*args, recurrence, 2, 2)
    assert with_recurrence == pytest.approx((a + lag + b) / 2, rel=1e-9)
    assert with_recurrence == pytest.approx(steady_period(*args, np.zeros((2, 2), dtype=bool), 2, 2), rel=1e-12)


def _dirty_heap() -> None:
    """Leave NaN in the memory the next allocations get: the lanes allocate their work arrays uninitialized
    (`np.empty`) and must clear what they read; on fresh pages from the kernel (zeros) a missing clear would pass
    unseen. With glibc keeping freed memory (`keep_freed_memory`), a freed block of NaN is handed out again."""
    keep_freed_memory()
    dirty = np.full(1 << 22, np.nan)
    del dirty


@settings(max_examples=80, deadline=None)
@given(pipelines(max_tiles=1), st.integers(0, 2**32 - 1))
def test_schedules_side_by_side_equal_each_simulated_alone(case, seed):
    # `schedule_latency_distinct` runs the distinct schedules of a batch in lanes (`_run_lanes`), more than one
    # block of them here; each must equal its row simulated alone, bit for bit, whether its run repeats within
    # the window or not (near-equal loads on two resources approach their steady state slowly)
    durations, delivery, resources, stages, order, deps, recurrence, _, tiles_in_flight, _ = case
    rng = np.random.default_rng(seed)
    rows = 150
    scaled = durations[None, :] * rng.choice([0.5, 1.0, 1.0, 1.01, 3.0], (rows, len(durations)))
    lags = delivery[None, :] * rng.integers(0, 3, (rows, len(durations)))
    stride = rng.integers(1, 4, rows)
    slots = np.full(rows, tiles_in_flight, dtype=np.int64)
    tiles = rng.choice([49.0, 60.0, 500.0, 4096.0], rows)
    expected = [schedule_latency(scaled[n], lags[n], resources, stages, order, deps, recurrence, int(stride[n]),
                                 tiles_in_flight, tiles[n], 48) for n in range(rows)]
    _dirty_heap()
    got = schedule_latency_distinct(scaled, lags, resources, stages, order, deps, recurrence, stride, slots, tiles, 48)
    assert np.array_equal(got, expected)
