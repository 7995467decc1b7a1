"""Numba leaves of the GPU threadblock model: the per-SM queueing solution and the block schedule.

- `mva_cycle`: exact mean-value analysis (Reiser & Lavenberg, JACM 1980) of a closed network in which
  `customers` independent instruction streams (resident blocks, or loads in flight) circulate through
  queueing stations with the given service demands per tile (tensor pipe, special-function pipe, HBM
  share, ...). Returns the SM's time per tile. One customer gives the sum of the demands (no overlap);
  many customers approach the largest demand (the bottleneck).
- `makespan`: list scheduling of blocks in launch order onto `slots` identical slots (SMs x resident
  blocks); each block takes the next free slot, as the hardware block scheduler does. Gives waves,
  the partial last wave and causal load imbalance in one number.
- `schedule_cycles`: one kernel launch from its blocks' tile counts and per-tile demands (used by
  `simulator.gpu.model.time_phase`), and `fused_batch_cycles`: the same for a batch of tilings of a fused
  attention kernel (the mapper's cost function), with `query_block_tiles` building each tiling's blocks.

Kernels import nothing from the project and take arrays and scalars only.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def mva_cycle(demands, customers):
    """Time per completed tile of a closed product-form network with `customers` customers."""
    k = demands.shape[0]
    queue = np.zeros(k)
    time = 0.0
    for n in range(1, customers + 1):
        total = 0.0
        residence = np.empty(k)
        for s in range(k):
            residence[s] = demands[s] * (1.0 + queue[s])
            total += residence[s]
        if total <= 0.0:
            return 0.0
        throughput = n / total
        for s in range(k):
            queue[s] = throughput * residence[s]
        time = 1.0 / throughput
    return time


@njit(cache=True)
def makespan(durations, slots):
    """Finish time of the last block when blocks (in launch order) go to the earliest free slot."""
    count = durations.shape[0]
    slots = max(1, min(slots, count))
    heap = np.zeros(slots)  # min-heap of slot free times
    for b in range(count):
        start = heap[0]
        # replace root with start + duration and sift down
        value = start + durations[b]
        i = 0
        while True:
            left = 2 * i + 1
            if left >= slots:
                break
            child = left
            right = left + 1
            if right < slots and heap[right] < heap[left]:
                child = right
            if heap[child] < value:
                heap[i] = heap[child]
                i = child
            else:
                break
        heap[i] = value
    return heap.max()


@njit(cache=True)
def combined_tile_time(tensor, shared, vector, memory, pingpong, groups, streams, memory_customers):
    """SM time per tile: compute (tensor/shared-memory and special-function/FP32 work) then memory.

    `pingpong`: consumer warpgroups are scheduled against each other explicitly (FA3), so compute takes
    max(tensor, vector, (tensor + vector) / groups); otherwise `streams` independent resident streams
    overlap by queueing (MVA). Memory loads are prefetched: `memory_customers` loads in flight overlap
    the compute by the same queueing rule.
    """
    feed = max(tensor, shared)
    if pingpong:
        compute = max(feed, vector, (feed + vector) / max(groups, 1))
    else:
        compute = mva_cycle(np.array([feed, vector]), max(streams, 1))
    return mva_cycle(np.array([compute, memory]), max(memory_customers, 1))


@njit(cache=True)
def schedule_cycles(tiles, masked, demands, work, limits, flags, machine):
    """Cycles of one kernel launch: occupancy, memory demand, per-tile time, per-block overhead, makespan.

    tiles, masked: per block in launch order (key tiles, partial tiles).
    demands: tensor, shared-memory, vector cycles per tile (one SM).
    work: hbm_bytes (the phase's), epilogue_bytes (per block), fixed overhead cycles per block, first_load_bytes
          (from L2, per block), mask cycles per partial tile, inflight bytes per block, l2_bytes (per tile: what
          one tile iteration moves from L2 into the SM, hits and misses alike).
    limits: blocks per SM (resources), streams per block, ping-pong groups (0 = none), stages.
    flags: prefetch across blocks (0/1), masked-loop refill (0/1).
    machine: SMs, HBM bytes per clock (x efficiency), latency cycles, L2 bytes per clock.
    Returns (cycles, tile cycles, resident blocks, HBM demand per tile).
    """
    count = tiles.shape[0]
    sms = int(machine[0])
    blocks = max(count, 1)
    resident = max(1, min(int(limits[0]), (blocks + sms - 1) // sms))
    active = min(sms, blocks)
    latency = machine[2]
    bandwidth = machine[1] / active
    if work[5] > 0:
        bandwidth = min(bandwidth, resident * work[5] / latency)
    total_tiles = 0.0
    for b in range(count):
        total_tiles += tiles[b]
    total_tiles = max(total_tiles, 1.0)
    # every load crosses L2: a tile's memory time is the slower of its HBM share and its L2 -> SM share
    hbm = work[0] / total_tiles / bandwidth
    memory = max(hbm, work[6] / (machine[3] / active))
    tile = combined_tile_time(demands[0], demands[1], demands[2], memory, limits[2] > 0, int(limits[2]),
                                 resident * int(limits[1]), resident * (int(limits[3]) + 1))
    first_wait = latency + work[3] / (machine[3] / active)
    overhead = work[2] + work[1] / bandwidth
    if flags[0] == 0:
        overhead += first_wait
    durations = np.empty(count)
    for b in range(count):
        durations[b] = (tiles[b] * tile + masked[b] * work[4]) * resident + overhead
        if flags[1] != 0 and masked[b] > 0:  # a second pipelined loop waits for its first K/V tile again
            durations[b] += latency + work[3] / (machine[3] / active)
    cycles = makespan(durations, sms * resident) if count > 0 else 0.0
    return cycles, tile, resident, hbm


@njit(cache=True)
def query_block_tiles(rows, seqlen_kv, br, bc, causal, offset, dense=False):
    """Key tiles and partial tiles of every query block (FlashAttention-2's bottom-right causal alignment;
    fully masked tiles skipped, or with `dense` computed and masked). The numba twin of
    `simulator.gpu.attention.tile_grid`."""
    nq = (rows + br - 1) // br
    nk = (seqlen_kv + bc - 1) // bc
    ragged = 1 if seqlen_kv % bc != 0 else 0
    needed = np.empty(nq, dtype=np.int64)
    partial = np.empty(nq, dtype=np.int64)
    for i in range(nq):
        if not causal:
            needed[i] = nk
            partial[i] = ragged
            continue
        last_row = min((i + 1) * br, rows) - 1
        first_row = i * br
        n = 0
        p = 0
        for j in range(nk):
            k_first = j * bc
            k_last = min(k_first + bc, seqlen_kv) - 1
            if k_first <= last_row + offset:
                n += 1
                if k_last > first_row + offset or (k_last - k_first + 1) < bc:
                    p += 1
        needed[i] = nk if dense else n
        partial[i] = p + (nk - n if dense else 0)
    return needed, partial


@njit(cache=True)
def fused_batch_cycles(br, bc, splits, demands, work, limits, flags, machine, rows, seqlen_kv, causal, instances,
                       query_fastest, longest_first, dense=False):
    """`schedule_cycles` for a batch of tilings of one fused attention kernel (row i = candidate i)."""
    n = br.shape[0]
    out = np.empty(n)
    for c in range(n):
        needed, partial = query_block_tiles(rows, seqlen_kv, br[c], bc[c], causal, seqlen_kv - rows, dense)
        nq = needed.shape[0]
        s = splits[c]
        pattern_tiles = np.zeros(nq * s, dtype=np.int64)
        pattern_masked = np.zeros(nq * s, dtype=np.int64)
        kept = 0
        for i in range(nq):
            per = (needed[i] + s - 1) // s
            for k in range(s):
                chunk = min(per, needed[i] - k * per)
                if chunk > 0:
                    pattern_tiles[kept] = chunk
                    last = (k + 1) * per >= needed[i]
                    pattern_masked[kept] = partial[i] if (last or s == 1) else 0
                    kept += 1
        total = kept * instances
        tiles = np.empty(total, dtype=np.int64)
        masked = np.empty(total, dtype=np.int64)
        for inst in range(instances):
            for i in range(kept):
                index = inst * kept + i if query_fastest else i * instances + inst
                tiles[index] = pattern_tiles[i]
                masked[index] = pattern_masked[i]
        if longest_first:
            order = np.argsort(-tiles, kind="mergesort")
            tiles = tiles[order]
            masked = masked[order]
        out[c] = schedule_cycles(tiles, masked, demands[c], work[c], limits[c], flags, machine)[0]
    return out
