"""`schedule_cycles` (the block schedule of one kernel launch) against hand-derived numbers and against
tests/gpu/schedule_reference.py, a plain-Python event simulation of the rules its docstring states.

The arrays are built as `simulator.gpu.model.time_phase` builds them. Prefetch across blocks is on and the
masked-loop refill and epilogue bytes are off, so a block's fixed cycles are exactly work[2]."""

from __future__ import annotations

import numpy as np
import pytest
from schedule_reference import resident_blocks, schedule_reference

from simulator.gpu.kernels import resident_tile_time, schedule_cycles

REL = 1e-9


def arrays(sms, per_sm, tensor=100.0, shared=0.0, vector=0.0, hbm_bytes=0.0, fixed=0.0, mask=0.0,
           inflight=0.0, l2_bytes=0.0, streams=1, pingpong=0, stages=1):
    """demands, work, limits, flags, machine in the layout `time_phase` passes to `schedule_cycles`."""
    demands = np.array([tensor, shared, vector])
    work = np.array([hbm_bytes, 0.0, fixed, 0.0, mask, inflight, l2_bytes])
    limits = np.array([per_sm, streams, pingpong, stages], dtype=np.float64)
    flags = np.array([1, 0])  # prefetch across blocks: no first-load wait in the fixed cycles; no refill
    machine = np.array([sms, 2000.0, 800.0, 5000.0])  # SMs, HBM and L2 bytes per clock, DRAM latency (clocks)
    return demands, work, limits, flags, machine


def tile_function(tiles, demands, work, limits, machine):
    """tile_time(n, A): the SM's time per tile with n blocks on it and A on the chip."""
    total_tiles = max(float(np.sum(tiles)), 1.0)
    return lambda n, on_chip: float(resident_tile_time(n, on_chip, demands, work, limits, machine, total_tiles)[0])


def kernel(tiles, masked, demands, work, limits, flags, machine):
    return schedule_cycles(np.asarray(tiles, dtype=np.int64), np.asarray(masked, dtype=np.int64), demands, work,
                           limits, flags, machine)


def reference(tiles, masked, demands, work, limits, machine):
    return schedule_reference(list(tiles), list(masked), [work[2]] * len(tiles), work[4], int(machine[0]),
                              int(limits[0]), tile_function(tiles, demands, work, limits, machine))


def test_fewer_blocks_than_sms_one_block_per_sm():
    # (a) 3 blocks on 5 SMs: resident 1, one block per SM, each alone on its SM (n = 1); compute-bound, so the
    # time per tile does not depend on A and cycles = max over blocks of tiles * tile(1, 3) + fixed
    tiles, masked = [7, 3, 5], [0, 0, 0]
    demands, work, limits, flags, machine = arrays(sms=5, per_sm=2, tensor=100.0, vector=40.0, fixed=250.0)
    tile = tile_function(tiles, demands, work, limits, machine)
    assert tile(1, 3) == pytest.approx(140.0)  # one stream: no overlap, the sum of the demands
    cycles, _, resident, _ = kernel(tiles, masked, demands, work, limits, flags, machine)
    assert resident == 1
    assert cycles == pytest.approx(7 * 140.0 + 250.0, rel=REL)  # 1230
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


def test_fewer_blocks_than_sms_equal_blocks_memory_bound():
    # (a) with HBM traffic the time per tile depends on A, but equal blocks all finish together at tile(1, A = 4)
    tiles, masked = [6, 6, 6, 6], [0, 0, 0, 0]
    demands, work, limits, flags, machine = arrays(sms=8, per_sm=3, tensor=50.0, hbm_bytes=4e6, fixed=100.0,
                                                   l2_bytes=1e4, stages=2)
    tile = tile_function(tiles, demands, work, limits, machine)
    assert tile(1, 4) < tile(1, 8) and tile(1, 4) > 50.0  # fewer blocks on the chip: a larger HBM share each
    cycles = kernel(tiles, masked, demands, work, limits, flags, machine)[0]
    assert cycles == pytest.approx(6 * tile(1, 4) + 100.0, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


@pytest.mark.parametrize("vector", [0.0, 100.0])
def test_one_sm_two_blocks_the_short_one_leaves_first(vector):
    # (b) one SM, resident 2, blocks of 4 and 2 tiles; T(n) the SM's time per tile with n blocks on it.
    # Both run side by side (n = 2), each at 1 / (2 x tiles x T(2)) of its tiles per cycle: the 2-tile block ends
    # at 2 x 2 x T(2) = 4 T(2), when the 4-tile block has done 4 T(2) / (2 x 4 x T(2)) = half its tiles. The other
    # two tiles run alone (n = 1): 2 T(1). Total 4 T(2) + 2 T(1) (+ the fixed cycles of the last block).
    # With vector = 0 the time per tile is the tensor demand whatever n: T = 100, total 600. With tensor = vector
    # = 100 and one stream per block, MVA gives T(1) = 200 and T(2) = (200^2 + 2 x 100^2) / 200 / 2 = 150 (the
    # two-customer step: residences 100 x 1.5 each, total 300, over 2), so the total is 4 x 150 + 2 x 200 = 1000.
    tiles, masked = [4, 2], [0, 0]
    demands, work, limits, flags, machine = arrays(sms=1, per_sm=2, tensor=100.0, vector=vector, fixed=30.0)
    tile = tile_function(tiles, demands, work, limits, machine)
    expected = {0.0: (100.0, 100.0, 600.0), 100.0: (200.0, 150.0, 1000.0)}[vector]
    assert (tile(1, 1), tile(2, 2)) == pytest.approx(expected[:2])
    cycles, _, resident, _ = kernel(tiles, masked, demands, work, limits, flags, machine)
    assert resident == 2
    assert cycles == pytest.approx(expected[2] + 30.0, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


def test_one_sm_masked_tiles_count_at_the_mask_rate():
    # (b) with partial tiles: block 0 has 3 tiles + 1 partial, block 1 one tile; T = 100, mask cycles 20.
    # Side by side block 1 needs 2 x 100 = 200 cycles, block 0 then has 1 - 200 / (2 x 320) of its 320 left:
    # 220 cycles alone. Total 420 + fixed 10.
    tiles, masked = [3, 1], [1, 0]
    demands, work, limits, flags, machine = arrays(sms=1, per_sm=4, tensor=100.0, mask=20.0, fixed=10.0)
    cycles = kernel(tiles, masked, demands, work, limits, flags, machine)[0]
    assert cycles == pytest.approx(430.0, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


@pytest.mark.parametrize("sms, per_sm, waves", [(2, 2, 3), (3, 1, 4), (4, 3, 2), (1, 2, 5)])
def test_full_waves_of_equal_blocks(sms, per_sm, waves):
    # (c) waves x slots equal blocks: every wave runs at full residency, so cycles = waves x per-wave time,
    # a wave taking resident x tiles x T(resident, slots) + fixed
    slots = sms * per_sm
    tiles, masked = [5] * (waves * slots), [1] * (waves * slots)
    demands, work, limits, flags, machine = arrays(sms=sms, per_sm=per_sm, tensor=80.0, vector=50.0,
                                                   hbm_bytes=3e6, fixed=40.0, mask=7.0, inflight=32768.0,
                                                   l2_bytes=8192.0, streams=2, stages=2)
    tile = tile_function(tiles, demands, work, limits, machine)
    per_wave = per_sm * (5 * tile(per_sm, slots) + 7.0) + 40.0
    cycles, tile_cycles, resident, _ = kernel(tiles, masked, demands, work, limits, flags, machine)
    assert resident == per_sm and tile_cycles == pytest.approx(tile(per_sm, slots), rel=REL)
    assert cycles == pytest.approx(waves * per_wave, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


def test_list_scheduling_then_the_tail_by_hand():
    # one SM, resident 1 (a single slot): blocks run one after another, each alone: sum of tiles x T + fixed
    tiles, masked = [3, 1, 2], [0, 0, 0]
    demands, work, limits, flags, machine = arrays(sms=1, per_sm=1, tensor=100.0, fixed=5.0)
    assert kernel(tiles, masked, demands, work, limits, flags, machine)[0] == pytest.approx(615.0, rel=REL)
    # two SMs, resident 1, blocks [4, 1, 1, 1] at T = 100: block 0 on slot 0 until 400, blocks 1, 2, 3 on slot 1
    # one after another (ends 100, 200, 300): 400 + fixed
    tiles, masked = [4, 1, 1, 1], [0, 0, 0, 0]
    demands, work, limits, flags, machine = arrays(sms=2, per_sm=1, tensor=100.0, fixed=5.0)
    assert kernel(tiles, masked, demands, work, limits, flags, machine)[0] == pytest.approx(405.0, rel=REL)
    # two SMs, resident 2 (4 slots), 5 blocks of [4, 4, 4, 4, 2] tiles at T = 100 whatever n: the first wave
    # ends at 2 x 4 x 100 = 800 on every slot; the last block launches then, alone on SM 0: 2 x 100 more
    tiles, masked = [4, 4, 4, 4, 2], [0] * 5
    demands, work, limits, flags, machine = arrays(sms=2, per_sm=2, tensor=100.0, fixed=0.0)
    assert kernel(tiles, masked, demands, work, limits, flags, machine)[0] == pytest.approx(1000.0, rel=REL)


def test_the_last_block_goes_to_the_least_occupied_sm():
    # two SMs, resident 2: slots 0, 2 on SM 0 and 1, 3 on SM 1. Blocks 0..3 fill them; block 1 (slot 1, SM 1)
    # is short and frees first, at 2 x 1 x 100 = 200, and block 4 is the last to launch: SM 1 now holds one
    # block, SM 0 two, so it goes to SM 1 (its freed slot) and shares it with block 3.
    # T = 100 whatever n. At 200: blocks 0, 2 (SM 0) have 3 of 4 tiles' work left at n = 2: 600 more, ends 800.
    # Block 3 (SM 1) has 6 x 100 left at n = 2 (it has 8 tiles: 1600 at n = 2, 200 done), block 4 (2 tiles)
    # needs 2 x 2 x 100 = 400 at n = 2: ends at 600, when block 3 has 1600 - 200 - 400 = 1000 of its n = 2 work
    # left, i.e. 5 tiles, 500 alone: ends at 1100.
    tiles, masked = [4, 1, 4, 8, 2], [0] * 5
    demands, work, limits, flags, machine = arrays(sms=2, per_sm=2, tensor=100.0, fixed=0.0)
    cycles = kernel(tiles, masked, demands, work, limits, flags, machine)[0]
    assert cycles == pytest.approx(1100.0, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


def test_blocks_in_their_fixed_cycles_hold_a_slot_but_no_pipe():
    # one SM, resident 2, blocks of [1, 2, 1] tiles, fixed 500, tensor = vector = 100: T(1) = 200, T(2) = 150.
    # Block 0 (slot 0) ends its tiles at 2 x 1 x 150 = 300 and its slot at 800; block 1 (slot 1) its tiles at
    # 2 x 2 x 150 = 600 and its slot at 1100. The last block launches at 800 into SM 0 beside block 1, which is
    # in its fixed cycles: it holds a slot but no pipe, so block 2 runs alone (n = 1): 200, then 500 fixed,
    # ends at 1500 (at n = 2 it would be 2 x 150 = 300: 1600).
    tiles, masked = [1, 2, 1], [0, 0, 0]
    demands, work, limits, flags, machine = arrays(sms=1, per_sm=2, tensor=100.0, vector=100.0, fixed=500.0)
    cycles = kernel(tiles, masked, demands, work, limits, flags, machine)[0]
    assert cycles == pytest.approx(1500.0, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)
    # block 1 still running tiles at the last launch: [1, 3, 1] -> block 1's tiles end at 900 (slot 1400) and
    # block 2 launches at 800 beside it (n = 2): block 1 has 1/9 of its 900 left (100 cycles), block 2 needs
    # 2 x 150 = 300 at n = 2; at 900 block 2 has 2/3 of a tile left, alone 2/3 x 200: tiles end 1033.33, + 500
    tiles = [1, 3, 1]
    cycles = kernel(tiles, masked, demands, work, limits, flags, machine)[0]
    assert cycles == pytest.approx(900.0 + 200.0 * 2 / 3 + 500.0, rel=REL)
    assert cycles == pytest.approx(reference(tiles, masked, demands, work, limits, machine), rel=REL)


def test_empty_grid():
    demands, work, limits, flags, machine = arrays(sms=4, per_sm=2)
    assert kernel([], [], demands, work, limits, flags, machine)[0] == 0.0


def random_case(rng):
    sms = int(rng.integers(1, 6))
    per_sm = int(rng.integers(1, 4))
    count = int(rng.integers(1, 4 * sms * per_sm + 3))
    tiles = rng.integers(0, 21, count)
    masked = rng.integers(0, 4, count)
    memory = rng.random() < 0.7
    demands, work, limits, flags, machine = arrays(
        sms=sms, per_sm=per_sm, tensor=float(rng.uniform(10, 200)), shared=float(rng.uniform(0, 150)),
        vector=float(rng.uniform(0, 200)), hbm_bytes=float(rng.uniform(1e5, 1e7)) if memory else 0.0,
        fixed=float(rng.uniform(1, 500)), mask=float(rng.uniform(0, 50)),
        inflight=float(rng.choice([0.0, 16384.0, 65536.0])), l2_bytes=float(rng.uniform(0, 3e4)) if memory else 0.0,
        streams=int(rng.integers(1, 4)), pingpong=int(rng.choice([0, 0, 2])), stages=int(rng.integers(1, 4)))
    return tiles, masked, demands, work, limits, flags, machine


@pytest.mark.parametrize("seed", range(6))
def test_random_grids_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        tiles, masked, demands, work, limits, flags, machine = random_case(rng)
        cycles, _, resident, _ = kernel(tiles, masked, demands, work, limits, flags, machine)
        assert resident == resident_blocks(len(tiles), int(machine[0]), int(limits[0]))
        expected = reference(tiles, masked, demands, work, limits, machine)
        assert cycles == pytest.approx(expected, rel=REL), (tiles.tolist(), masked.tolist(), limits, machine[0])


@pytest.mark.parametrize("seed", range(3))
def test_random_grids_of_equal_blocks_and_ties(seed):
    # equal blocks free their slots at the same instant: ties go to the lowest slot id
    rng = np.random.default_rng(100 + seed)
    for _ in range(30):
        tiles, masked, demands, work, limits, flags, machine = random_case(rng)
        count = len(tiles)
        tiles = np.resize(rng.integers(0, 21, 2), count)  # two tile counts, alternating
        masked = np.resize(rng.integers(0, 4, 2), count)
        cycles = kernel(tiles, masked, demands, work, limits, flags, machine)[0]
        expected = reference(tiles, masked, demands, work, limits, machine)
        assert cycles == pytest.approx(expected, rel=REL), (tiles.tolist(), masked.tolist(), limits, machine[0])
