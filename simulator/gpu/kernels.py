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

Kernels import nothing from the project but the start-up helper, and take arrays and scalars only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.numba_start import skip_blas_probe

skip_blas_probe()


@njit(cache=True)
def mva_cycle(demands, customers):
    """Time per completed tile of a closed product-form network with `customers` customers."""
    k = demands.shape[0]
    queue = np.zeros(k)
    residence = np.empty(k)
    time = 0.0
    for n in range(1, customers + 1):
        total = 0.0
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
def mva_pair(first, second, customers):
    """`mva_cycle` of a two-station network, without arrays (the schedule calls it at every event)."""
    queue_first = 0.0
    queue_second = 0.0
    time = 0.0
    for n in range(1, customers + 1):
        first_residence = first * (1.0 + queue_first)
        second_residence = second * (1.0 + queue_second)
        total = first_residence + second_residence
        if total <= 0.0:
            return 0.0
        time = total / n
        queue_first = first_residence / time
        queue_second = second_residence / time
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
        compute = mva_pair(feed, vector, max(streams, 1))
    return mva_pair(compute, memory, max(memory_customers, 1))


@njit(cache=True)
def resident_tile_time(n, on_chip, demands, work, limits, machine, total_tiles):
    """(SM time per tile, its HBM part) with `n` blocks resident on this SM and `on_chip` on the whole GPU.

    The SM's own pipes (tensor, shared memory, special-function, FP32 and issue) serve only the blocks resident
    on it: the customers of the MVA are those blocks' streams and loads in flight, so a lone block has the whole
    SM but overlaps no more than its own warps and loads allow. HBM and L2 bandwidth are the chip's, shared by
    the blocks resident on the chip (each keeps the same loads in flight); a block's HBM share is capped by its
    own loads in flight over the DRAM latency.
    """
    per_block = machine[1] / on_chip
    if work[5] > 0:
        per_block = min(per_block, work[5] / machine[2])
    hbm = work[0] / total_tiles / (n * per_block)
    # every load crosses L2: a tile's memory time is the slower of its HBM share and its L2 -> SM share
    memory = max(hbm, work[6] / (n * machine[3] / on_chip))
    tile = combined_tile_time(demands[0], demands[1], demands[2], memory, limits[2] > 0, int(limits[2]),
                              n * int(limits[1]), n * (int(limits[3]) + 1))
    return tile, hbm


@njit(cache=True)
def _heap_less(time, slot, i, j):
    return time[i] < time[j] or (time[i] == time[j] and slot[i] < slot[j])


@njit(cache=True)
def _heap_push(time, slot, size, t, s):
    """Push (t, s) onto the min-heap of (free time, slot id) pairs holding `size` entries; returns the new size."""
    i = size
    time[i] = t
    slot[i] = s
    while i > 0:
        parent = (i - 1) // 2
        if not _heap_less(time, slot, i, parent):
            break
        time[i], time[parent] = time[parent], time[i]
        slot[i], slot[parent] = slot[parent], slot[i]
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(time, slot, size):
    """Remove the smallest (free time, slot id) pair (read it from index 0 first); returns the new size."""
    size -= 1
    time[0] = time[size]
    slot[0] = slot[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and _heap_less(time, slot, left + 1, left):
            child = left + 1
        if not _heap_less(time, slot, child, i):
            break
        time[i], time[child] = time[child], time[i]
        slot[i], slot[child] = slot[child], slot[i]
        i = child
    return size


@njit(cache=True)
def schedule_cycles(tiles, masked, demands, work, limits, flags, machine):
    """Cycles of one kernel launch: occupancy, memory demand, per-tile time, per-block overhead, block schedule.

    tiles, masked: per block in launch order (key tiles, partial tiles).
    demands: tensor, shared-memory, vector cycles per tile (one SM).
    work: hbm_bytes (the phase's), epilogue_bytes (per block), fixed overhead cycles per block, first_load_bytes
          (from L2, per block), mask cycles per partial tile, inflight bytes per block, l2_bytes (per tile: what
          one tile iteration moves from L2 into the SM, hits and misses alike).
    limits: blocks per SM (resources), streams per block, ping-pong groups (0 = none), stages.
    flags: prefetch across blocks (0/1), masked-loop refill (0/1).
    machine: SMs, HBM bytes per clock (x efficiency), latency cycles, L2 bytes per clock.
    Returns (cycles, tile cycles, resident blocks, HBM demand per tile), the last three at full residency.

    Each SM holds up to `resident` blocks (slot k of SM m has id k x SMs + m). A block runs its tiles, then its
    fixed cycles (prologue wait and epilogue, which occupy its slot but no pipe); with n blocks running tiles on
    its SM and A on the chip, its tiles take n x (tiles x tile(n, A) + masked x mask cycles): the SM's time per
    tile (`resident_tile_time`) divided among the n blocks. While blocks wait to launch, a freed slot is
    refilled at once, so every SM holds `resident` blocks: list scheduling at that fixed rate (a heap of slot
    free times, ties to the lowest slot id). From the moment the last block launches, SMs hold fewer blocks
    (the tail of the last wave, or from the start a grid smaller than one wave): each block runs at the rate
    of the blocks actually beside it, recomputed whenever one finishes its tiles (processor sharing). The
    last blocks go each to the SM with the fewest resident blocks (the lowest SM of those), so a grid of
    fewer blocks than SMs runs one block per SM.
    """
    count = tiles.shape[0]
    sms = int(machine[0])
    blocks = max(count, 1)
    resident = max(1, min(int(limits[0]), (blocks + sms - 1) // sms))
    active = min(sms, blocks)
    slots = sms * resident
    latency = machine[2]
    total_tiles = 0.0
    for b in range(count):
        total_tiles += tiles[b]
    total_tiles = max(total_tiles, 1.0)
    tile, hbm = resident_tile_time(resident, min(blocks, slots), demands, work, limits, machine, total_tiles)
    # per-block fixed cycles, at the first wave's shares
    bandwidth = machine[1] / active
    if work[5] > 0:
        bandwidth = min(bandwidth, resident * work[5] / latency)
    first_wait = latency + work[3] / (machine[3] / active)
    overhead = work[2] + work[1] / bandwidth
    if flags[0] == 0:
        overhead += first_wait
    fixed = np.empty(count)
    for b in range(count):
        fixed[b] = overhead
        if flags[1] != 0 and masked[b] > 0:  # a second pipelined loop waits for its first K/V tile again
            fixed[b] += first_wait
    if count == 0:
        return 0.0, tile, resident, hbm

    slot_block = np.full(slots, -1, dtype=np.int64)
    running_block = np.empty(slots, dtype=np.int64)  # blocks running tiles when the last block launches
    running_sm = np.empty(slots, dtype=np.int64)
    running_left = np.empty(slots)  # fraction of their tile work left
    on_sm = np.zeros(sms, dtype=np.int64)  # blocks running tiles, per SM
    running = 0
    now = 0.0
    finish = 0.0
    launched = 0
    if count > slots:  # full waves: list scheduling at full residency until the last block launches
        start = np.zeros(slots)
        heap_time = np.empty(slots)
        heap_slot = np.empty(slots, dtype=np.int64)
        size = 0
        for s in range(slots):
            slot_block[s] = s
            size = _heap_push(heap_time, heap_slot, size, resident * (tiles[s] * tile + masked[s] * work[4])
                              + fixed[s], s)
        launched = slots
        freed = np.empty(slots, dtype=np.int64)
        group = 0
        while True:
            now = heap_time[0]
            group = 0  # every slot freed at this instant
            while size > 0 and heap_time[0] <= now * (1.0 + 1e-9):  # ties within rounding
                freed[group] = heap_slot[0]
                group += 1
                size = _heap_pop(heap_time, heap_slot, size)
            for i in range(1, group):  # near-ties by slot id, whatever their last bits (insertion sort)
                s = freed[i]
                j = i - 1
                while j >= 0 and freed[j] > s:
                    freed[j + 1] = freed[j]
                    j -= 1
                freed[j + 1] = s
            if count - launched <= group:
                break
            for i in range(group):
                s = freed[i]
                slot_block[s] = launched
                start[s] = now
                size = _heap_push(heap_time, heap_slot, size, now + resident * (
                    tiles[launched] * tile + masked[launched] * work[4]) + fixed[launched], s)
                launched += 1
        for i in range(group):
            slot_block[freed[i]] = -1
        for i in range(size):  # blocks still resident: what is left of their tiles at full residency
            s = heap_slot[i]
            b = slot_block[s]
            share = resident * (tiles[b] * tile + masked[b] * work[4])
            done = now - start[s]
            if done >= share:  # in its fixed cycles
                finish = max(finish, heap_time[i])
                continue
            running_block[running] = b
            running_sm[running] = s % sms
            running_left[running] = 1.0 - done / share
            on_sm[s % sms] += 1
            running += 1
    resident_on = np.zeros(sms, dtype=np.int64)  # slots taken, per SM
    for s in range(slots):
        if slot_block[s] >= 0:
            resident_on[s % sms] += 1
    while launched < count:  # the last blocks, each to the SM with the fewest resident blocks
        best = 0
        for m in range(1, sms):
            if resident_on[m] < resident_on[best]:
                best = m
        resident_on[best] += 1
        on_sm[best] += 1
        running_block[running] = launched
        running_sm[running] = best
        running_left[running] = 1.0
        running += 1
        launched += 1

    # the tail: the running blocks share their SMs and the chip, rates recomputed whenever one finishes its tiles
    per_tile = np.empty(resident + 1)
    until = np.empty(slots)
    while running > 0:
        per_tile[:] = -1.0
        step = np.inf
        for i in range(running):
            b = running_block[i]
            n = on_sm[running_sm[i]]
            if per_tile[n] < 0:
                per_tile[n] = resident_tile_time(n, running, demands, work, limits, machine, total_tiles)[0]
            until[i] = running_left[i] * n * (tiles[b] * per_tile[n] + masked[b] * work[4])
            step = min(step, until[i])
        now += step
        kept = 0
        for i in range(running):
            b = running_block[i]
            m = running_sm[i]
            if until[i] <= step * (1.0 + 1e-12):
                on_sm[m] -= 1
                finish = max(finish, now + fixed[b])
                continue
            running_left[i] -= running_left[i] * step / until[i]
            running_block[kept] = b
            running_sm[kept] = m
            running_left[kept] = running_left[i]
            kept += 1
        running = kept
    return finish, tile, resident, hbm


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
