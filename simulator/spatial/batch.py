"""Batch evaluation of one lowered group over many tilings (rows of extents): the mapper's hot path.

Same method as `evaluate_group` (which reports one tiling in detail): traffic kernel, capacity check,
spill of what may overflow, tile schedule, energy per action; all of it vectorized over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arch_models import SpatialArch
from simulator.spatial.kernels.schedule import schedule_latency_distinct
from simulator.spatial.kernels.traffic import group_traffic
from simulator.spatial.lower import LoweredGroup

SCHEDULE_WINDOW = 48  # tiles simulated before the steady-state period is extrapolated


@dataclass
class GroupBatch:
    feasible: np.ndarray  # [B] bool: fits every level
    cycles: np.ndarray  # [B] latency in cycles (inf where infeasible)
    busy: np.ndarray  # [B, 3] busy cycles of the 2D array, the 1D array and DRAM
    useful: np.ndarray  # [B, 2] useful PE-cycles of the 2D and 1D arrays
    energy_pj: np.ndarray  # [B]
    dram_bytes: np.ndarray  # [B]
    spilled: np.ndarray  # [B] fraction of the spillable tensors that went to DRAM
    traffic: tuple  # raw kernel outputs after spilling (cycles, points, dram_read, dram_write, buffer_read,
    #                 buffer_write, staging, occupancy, tiles, reduced_innermost)


def traffic(lowered: LoweredGroup, extents: np.ndarray, arch: SpatialArch | None = None) -> tuple:
    """The traffic kernel's outputs for these tilings; given `arch`, a tiling that does not fit it is left with
    its occupancy (and no array accesses: see `group_traffic`)."""
    limits = np.zeros(5) if arch is None else np.array([*_limits(arch), 1.0])
    producer = np.full(len(lowered.tensors), -1, dtype=np.int64)
    for n, einsum in enumerate(lowered.einsums):
        producer[lowered.tensors.index(einsum.name)] = n
    return group_traffic(
        extents, (lowered.dram_position, lowered.buffer_loop, lowered.buffer_position),
        (lowered.spatial_part, lowered.spatial_size),
        (lowered.einsum_parts, lowered.einsum_reduced, lowered.einsum_array, lowered.cycles_per_point,
         lowered.density),
        (lowered.operand_einsum, lowered.operand_tensor),
        (lowered.tensor_parts, lowered.tensor_home, lowered.tensor_from_dram, lowered.tensor_to_dram,
         lowered.tensor_copies, lowered.tensor_storage, producer, lowered.tensor_spill), limits)


def _limits(arch: SpatialArch) -> tuple[float, float, float, float]:
    """Words of the buffer and the staging buffer, register words per 2D PE and per 1D lane."""
    staging = arch.staging_buffer.capacity_bytes / arch.word_bytes if arch.staging_buffer else 0.0
    return (arch.global_buffer.capacity_bytes / arch.word_bytes, staging, float(arch.array_2d.register_entries),
            float(arch.array_1d.register_entries))


def fits(arch: SpatialArch, occupancy: np.ndarray) -> np.ndarray:
    """Which rows of an occupancy batch fit every level (spillable tensors may overflow the buffer); each array's
    register words per PE or lane against its own register file."""
    words, staging, per_pe, per_lane = _limits(arch)
    return ((occupancy[:, 0] - occupancy[:, 1] <= words) & (occupancy[:, 2] <= staging) & (occupancy[:, 3] <= per_pe)
            & (occupancy[:, 4] <= per_lane))


def recurrence_stride(lowered: LoweredGroup, extents: np.ndarray) -> np.ndarray:
    """Tiles between two steps of a recurrence: the product of the loops inside the one it advances."""
    if lowered.recurrence_part < 0:
        return np.ones(len(extents), dtype=np.int64)
    loops = sorted(np.flatnonzero(lowered.dram_position >= 0), key=lambda p: lowered.dram_position[p])
    loops += sorted(np.flatnonzero(lowered.buffer_position >= 0), key=lambda p: lowered.buffer_position[p])
    inner = loops[loops.index(lowered.recurrence_part) + 1:]
    return np.prod(extents[:, inner], axis=1).astype(np.int64) if inner else np.ones(len(extents), dtype=np.int64)


def spill(lowered: LoweredGroup, arch: SpatialArch, raw: tuple) -> np.ndarray:
    """Move the overflowing fraction of spillable tensors' buffer traffic to DRAM (in place); returns it."""
    _, _, dram_read, dram_write, buffer_read, buffer_write, _, occupancy, _, _ = raw
    capacity = arch.global_buffer.capacity_bytes / arch.word_bytes
    spillable = np.maximum(occupancy[:, 1], 1e-30)
    fraction = np.where((occupancy[:, 0] > capacity) & (occupancy[:, 1] > 0),
                        np.minimum(1.0, (occupancy[:, 0] - capacity) / spillable), 0.0)
    columns = np.flatnonzero(lowered.tensor_spill)
    if len(columns):
        moved_read = buffer_read[:, columns] * fraction[:, None]
        moved_write = buffer_write[:, columns] * fraction[:, None]
        dram_read[:, columns] += moved_read
        dram_write[:, columns] += moved_write
        buffer_read[:, columns] -= moved_read
        buffer_write[:, columns] -= moved_write
    return fraction


def level_words(buffer_read, buffer_write, staging, dram_read, dram_write) -> dict[str, np.ndarray]:
    """Words moved at each storage level per row, by direction (staging counts reads and writes together)."""
    return {"buffer_read": buffer_read.sum(axis=1), "buffer_write": buffer_write.sum(axis=1),
            "staging": staging.sum(axis=1), "dram_read": dram_read.sum(axis=1), "dram_write": dram_write.sum(axis=1)}


def register_pj_per_cycle(unit) -> float:
    """Register energy of one busy PE cycle: one update of the accumulator (or of the temporary of a
    multi-cycle operation such as the Taylor exp), a read-modify-write that Accelergy's register file
    counts as one `update` action, priced as a write (docs/accelergy/*_ERT_summary.yaml: update = write).
    Operands arrive from the buffer or a neighbouring PE, not from the register file."""
    return unit.register_write_pj


def energy_pj(lowered: LoweredGroup, arch: SpatialArch, points, words: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Energy per row and the per-component parts: compute and registers per array, buffer, staging, DRAM.
    A storage level is charged per physical access of its access width (`level_words` / access_words)."""
    parts = {}
    for code, label, unit in ((0, "2d", arch.array_2d), (1, "1d", arch.array_1d)):
        on = lowered.einsum_array == code
        parts[f"compute_{label}"] = ordered_dot(points[:, on], lowered.energy_per_point[on])
        busy = ordered_dot(points[:, on], lowered.cycles_per_point[on])
        parts[f"registers_{label}"] = busy * register_pj_per_cycle(unit)
    return {**parts, **storage_energy(arch, words)}


def ordered_dot(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """rows @ weights, added column by column: a BLAS product orders its additions by the CPU's kernel, so its
    last digit differs between machines, and outputs must not."""
    total = np.zeros(rows.shape[0])
    for column, weight in enumerate(weights):
        total += rows[:, column] * weight
    return total


def storage_energy(arch: SpatialArch, words: dict) -> dict:
    """Energy of the storage levels for `words` moved (`level_words` keys; arrays or numbers), per physical
    access of each level's access width."""
    buffer = arch.global_buffer
    parts = {"buffer": buffer.accesses(words["buffer_read"]) * buffer.read_pj
             + buffer.accesses(words["buffer_write"]) * buffer.write_pj}
    if arch.staging_buffer is not None:
        staging = arch.staging_buffer
        parts["staging"] = staging.accesses(words["staging"]) * (staging.read_pj + staging.write_pj) / 2
    parts["dram"] = (arch.dram.accesses(words["dram_read"]) * arch.dram.read_pj
                     + arch.dram.accesses(words["dram_write"]) * arch.dram.write_pj)
    return parts


def delivery_lag(lowered: LoweredGroup, extents: np.ndarray) -> np.ndarray:
    """[B, tasks] cycles after a task finishes before its result reaches a consumer on another resource.
    A reduction over a part spread across an array dimension ends as a chain of partial results crossing
    that dimension, one PE per hop (FuseMax's LM: 256 hops of a max on a 256x256 array, REFERENCE.md §1
    "How the artifact's model charges time and energy"); the result leaves the array only after the last
    hop. Whether a consumer waits for it is left to the schedule (a binding that overlaps the next tile
    hides it)."""
    lag = np.zeros((len(extents), len(lowered.einsums) + 1))
    for n in range(len(lowered.einsums)):
        array = lowered.einsum_array[n]
        for d in range(2):
            part = lowered.spatial_part[array, d]
            if part >= 0 and lowered.einsum_reduced[n, part]:
                hops = np.minimum(extents[:, part], lowered.spatial_size[array, d])
                lag[:, n] += hops * lowered.reduce_hop_cycles[n]
    return lag


def task_plan(lowered: LoweredGroup) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Resources, stages, issue order and buffer slots of a group's per-tile tasks (Einsums, then DRAM).

    The DRAM task loads a tile's inputs (and drains its outputs). `tiles_in_flight` counts the tiles whose
    buffers coexist: one per pipeline stage, plus one being loaded when the buffer is double-buffered
    (the default), in which case the load of tile t+1 is issued while tile t computes (every Einsum runs
    one stage after its load). Within a step the DRAM task issues first and older stages before younger
    ones, so every dependency is honoured in order."""
    prefetch = lowered.tiles_in_flight >= int(lowered.stages.max(initial=0)) + 2
    resources = np.append(lowered.einsum_array, 2)
    stages = np.append(lowered.stages + int(prefetch), 0)
    dram = len(resources) - 1
    order = np.array([dram] + sorted(range(dram), key=lambda t: (-stages[t], t)))
    return resources, stages, order, lowered.tiles_in_flight


def evaluate_group_batch(lowered: LoweredGroup, arch: SpatialArch, extents: np.ndarray,
                         cycles_override: np.ndarray | None = None, skip_overflow: bool = True) -> GroupBatch:
    """Every tiling's cost; a tiling that does not fit has latency and energy inf (it cannot run). With
    `skip_overflow` (the mapper's batches) its traffic is not worked out beyond its occupancy."""
    raw = traffic(lowered, extents, arch if skip_overflow else None)
    cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles, _ = raw
    if cycles_override is not None:
        cycles = cycles_override
    feasible = fits(arch, occupancy)
    if arch.staging_buffer is None:
        feasible &= staging.sum(axis=1) == 0
    spilled = spill(lowered, arch, raw)
    dram_bytes = (dram_read.sum(axis=1) + dram_write.sum(axis=1)) * arch.word_bytes
    dram_cycles = dram_bytes / arch.dram_bytes_per_cycle
    durations = np.concatenate([cycles, dram_cycles[:, None]], axis=1) / tiles[:, None]
    resources, stages, order, slots = task_plan(lowered)
    latency = np.full(len(extents), np.inf)  # only tilings that fit are scheduled
    rows = np.flatnonzero(feasible)
    latency[rows] = schedule_latency_distinct(
        durations[rows], delivery_lag(lowered, extents[rows]), resources, stages, order, lowered.deps,
        lowered.recurrence,
        recurrence_stride(lowered, extents[rows]), np.full(len(rows), slots, dtype=np.int64), tiles[rows],
        SCHEDULE_WINDOW)
    latency = np.maximum(latency, dram_cycles)
    busy = np.stack([cycles[:, lowered.einsum_array == 0].sum(axis=1), cycles[:, lowered.einsum_array == 1].sum(axis=1),
                     dram_cycles], axis=1)
    work = points * lowered.cycles_per_point
    useful = np.stack([work[:, lowered.einsum_array == a].sum(axis=1) for a in (0, 1)], axis=1)
    words = level_words(buffer_read, buffer_write, staging, dram_read, dram_write)
    energy = np.where(feasible, sum(energy_pj(lowered, arch, points, words).values()), np.inf)
    return GroupBatch(feasible, latency, busy, useful, energy, dram_bytes, spilled,
                      (cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles,
                       raw[9]))


def combine_groups(cycles: list[np.ndarray], busy: list[np.ndarray], overlap_previous: list[bool]) -> np.ndarray:
    """Latency per row of a multi-group mapping: groups run in order; a group that overlaps the previous
    one streams with it, the chain bounded by its busiest resource and by its slowest group."""
    chains: list[list[int]] = []
    for n, overlaps in enumerate(overlap_previous):
        if overlaps and chains:
            chains[-1].append(n)
        else:
            chains.append([n])
    total = np.zeros_like(cycles[0])
    for chain in chains:
        if len(chain) == 1:
            total = total + cycles[chain[0]]
        else:
            resource = np.sum([busy[n] for n in chain], axis=0).max(axis=-1)
            total = total + np.maximum(resource, np.max([cycles[n] for n in chain], axis=0))
    return total
