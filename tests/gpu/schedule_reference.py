"""A plain-Python event simulation of the block schedule that `simulator.gpu.kernels.schedule_cycles` states in
its docstring, written from those rules (not from the kernel's code) for tests/gpu/test_gpu_schedule.py.

The rules:
- Each SM holds up to `resident` blocks: the blocks per SM its resources allow, but no more than one wave needs
  (ceil(blocks / SMs)). Slot k of SM m has id k * SMs + m.
- A block runs its tiles, then its fixed cycles (they keep its slot but use no pipe). With n blocks running tiles
  on its SM and A on the chip, all of a block's tiles take n * (tiles * tile_time(n, A) + masked * mask_cycles).
- While blocks wait to launch, every SM holds `resident` blocks (a freed slot is refilled at once), so blocks run
  at the full-residency rate tile_time(resident, SMs * resident): list scheduling, the next block to the slot
  freed first, slots freed at the same instant taken in slot-id order.
- At the instant the last block launches, the blocks launched then go one by one, in launch order, to the SM
  holding the fewest blocks (the lowest such SM; blocks in their fixed cycles still hold a slot). From then on
  (processor sharing) every block still running tiles progresses at the rate for the n and A that hold now,
  recomputed whenever one finishes its tiles.
- The launch's cycles: when the last block finishes its fixed cycles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

TIE = 1e-9  # relative: free times this close count as one instant (sums of floats differ in their last bits)


def resident_blocks(count: int, sms: int, per_sm_limit: int) -> int:
    """Blocks resident per SM at full residency."""
    return max(1, min(per_sm_limit, math.ceil(max(count, 1) / sms)))


def schedule_reference(tiles: Sequence[int], masked: Sequence[int], fixed: Sequence[float], mask_cycles: float,
                       sms: int, per_sm_limit: int, tile_time: Callable[[int, int], float]) -> float:
    """Cycles of one launch of blocks (in launch order) under the rules above."""
    count = len(tiles)
    if count == 0:
        return 0.0
    resident = resident_blocks(count, sms, per_sm_limit)
    slots = sms * resident

    def work(b: int, n: int, on_chip: int) -> float:
        """Cycles of block b's tiles at a constant n and A."""
        return n * (tiles[b] * tile_time(n, on_chip) + masked[b] * mask_cycles)

    # --- full residency: list scheduling while blocks wait to launch
    holder: dict[int, int] = {}  # slot id -> block
    started: dict[int, float] = {}  # slot id -> start time of its block
    free_at: dict[int, float] = {}  # slot id -> when its block leaves it
    now = 0.0
    next_block = 0
    if count > slots:
        for s in range(slots):
            holder[s], started[s] = s, 0.0
            free_at[s] = work(s, resident, slots) + fixed[s]
        next_block = slots
        while True:
            now = min(free_at.values())
            freed = sorted(s for s, t in free_at.items() if t <= now * (1 + TIE))
            for s in freed:
                del holder[s], started[s], free_at[s]
            if count - next_block <= len(freed):
                break  # the last block launches now
            for s in freed:
                holder[s], started[s] = next_block, now
                free_at[s] = now + work(next_block, resident, slots) + fixed[next_block]
                next_block += 1

    # --- what each resident block has left at the last launch
    finish = 0.0
    left: dict[int, float] = {}  # block running tiles -> fraction of its tile work left
    sm_of: dict[int, int] = {}
    held = [0] * sms  # blocks holding a slot, per SM
    for s, b in holder.items():
        held[s % sms] += 1
        total = work(b, resident, slots)
        done = now - started[s]
        if done >= total:  # in its fixed cycles: it ends when its slot frees
            finish = max(finish, free_at[s])
        else:
            left[b] = 1.0 - done / total
            sm_of[b] = s % sms
    for b in range(next_block, count):  # the last blocks, each to the least-occupied SM
        m = min(range(sms), key=lambda k: (held[k], k))
        held[m] += 1
        left[b] = 1.0
        sm_of[b] = m

    # --- processor sharing until every block has finished its tiles
    while left:
        on_chip = len(left)
        beside = [0] * sms
        for b in left:
            beside[sm_of[b]] += 1
        rate = {b: 1.0 / work(b, beside[sm_of[b]], on_chip) if work(b, beside[sm_of[b]], on_chip) > 0 else math.inf
                for b in left}
        step = min(left[b] / rate[b] for b in left)
        now += step
        for b in list(left):
            remaining = left[b] - step * rate[b] if rate[b] < math.inf else 0.0
            if remaining <= 1e-12:  # done within rounding
                del left[b]
                finish = max(finish, now + fixed[b])
            else:
                left[b] = remaining
    return finish
