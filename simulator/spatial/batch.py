"""Batch evaluation of one lowered group over many tilings (rows of extents): the mapper's hot path.

Same method as `evaluate_group` (which reports one tiling in detail): traffic kernel, capacity check,
spill of what may overflow and the costs of the traffic (one kernel each), tile schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arch_models import SpatialArch
from simulator.spatial.kernels.costs import LEVELS, group_costs
from simulator.spatial.kernels.feasibility import group_feasibility
from simulator.spatial.kernels.schedule_distinct import ScheduleMemos, schedule_latency_distinct
from simulator.spatial.kernels.traffic import group_traffic
from simulator.spatial.lower import LoweredGroup

SCHEDULE_WINDOW = 48  # tiles simulated before the steady-state period is extrapolated


@dataclass
class GroupBatch:
    fits: np.ndarray  # [B] bool: fits every level
    in_order: np.ndarray  # [B] bool: the binding's stages keep its recurrence in order (`recurrence_in_order`)
    cycles: np.ndarray  # [B] latency in cycles (inf where infeasible)
    busy: np.ndarray  # [B, 3] busy cycles of the 2D array, the 1D array and DRAM
    useful: np.ndarray  # [B, 2] useful PE-cycles of the 2D and 1D arrays
    energy_pj: np.ndarray  # [B]
    dram_bytes: np.ndarray  # [B]
    spilled: np.ndarray  # [B] fraction of the spillable tensors that went to DRAM
    words: dict  # LEVELS -> [B] words moved at each storage level
    energy_parts: dict  # [B] energy of each component (`costs`)
    traffic: tuple  # raw kernel outputs after spilling (cycles, points, dram_read, dram_write, buffer_read,
    #                 buffer_write, staging, occupancy, tiles, reduced_innermost)

    @property
    def feasible(self) -> np.ndarray:
        """[B] bool: the tiling can run (it fits, and its recurrence is in order)."""
        return self.fits & self.in_order


def traffic(lowered: LoweredGroup, extents: np.ndarray, arch: SpatialArch | None = None,
            density: np.ndarray | None = None) -> tuple:
    """The traffic kernel's outputs for these tilings; given `arch`, a tiling that does not fit it is left with
    its occupancy (and no array accesses: see `group_traffic`). `density` [rows, einsums]: each row's mask
    densities (`SpatialCost._densities`; the group's own if not given)."""
    limits = np.zeros(5) if arch is None else np.array([*_limits(arch), 1.0])
    return group_traffic(
        per_row(extents), (lowered.dram_position, lowered.buffer_loop, lowered.buffer_position),
        (lowered.spatial_part, lowered.spatial_size),
        (lowered.einsum_parts, lowered.einsum_reduced, lowered.einsum_array, lowered.cycles_per_point,
         _density_rows(lowered, density)),
        (lowered.operand_einsum, lowered.operand_tensor),
        (lowered.tensor_parts, lowered.tensor_home, lowered.tensor_from_dram, lowered.tensor_to_dram,
         lowered.tensor_copies, lowered.tensor_storage, group_plan(lowered).producer, lowered.tensor_spill), limits)


@dataclass(frozen=True)
class GroupPlan:
    """What a batch derives from its group alone, worked out once per lowered group (`group_plan`)."""
    producer: np.ndarray  # [tensors] the Einsum of the group computing each tensor, -1 for the others
    task_plan: tuple  # `task_plan`
    recurrence_inner: np.ndarray  # parts of the loops inside the one a recurrence advances (`recurrence_stride`)
    recurrence_gap: int  # stages the deepest recurrence's producer runs behind its reader; -1: no recurrence
    lag_terms: tuple  # (Einsum, part, array size, cycles per hop) of each spatial reduction (`delivery_lag`)
    schedule_key: bytes  # the task plan and dependences: groups with the same key schedule alike (`ScheduleMemos`)


_PLANS: dict[int, tuple[LoweredGroup, GroupPlan]] = {}  # id(lowered) -> (lowered, its plan)
_PLANS_KEPT = 4096  # the oldest is dropped beyond this many


def group_plan(lowered: LoweredGroup) -> GroupPlan:
    """The group's plan, cached: a mapper batch evaluates the same lowered group many times. An entry keeps its
    group alive, so its id cannot be reused by another object while it is cached; the group's arrays are not
    changed after lowering (the cached structure's are read-only)."""
    entry = _PLANS.get(id(lowered))
    if entry is None:
        if len(_PLANS) >= _PLANS_KEPT:
            del _PLANS[next(iter(_PLANS))]
        entry = _PLANS[id(lowered)] = (lowered, _plan(lowered))
    return entry[1]


def _plan(lowered: LoweredGroup) -> GroupPlan:
    producer = np.full(len(lowered.tensors), -1, dtype=np.int64)
    for n, einsum in enumerate(lowered.einsums):
        producer[lowered.tensors.index(einsum.name)] = n
    inner = np.zeros(0, dtype=np.int64)
    if lowered.recurrence_part >= 0:
        loops = sorted(np.flatnonzero(lowered.dram_position >= 0), key=lambda p: lowered.dram_position[p])
        loops += sorted(np.flatnonzero(lowered.buffer_position >= 0), key=lambda p: lowered.buffer_position[p])
        inner = np.array(loops[loops.index(lowered.recurrence_part) + 1:], dtype=np.int64)
    deepest = _deepest_recurrence(lowered)
    einsum, part, size, hop = [], [], [], []  # a term per reduction over a spread part, in the order they add
    for n in range(len(lowered.einsums)):
        array = lowered.einsum_array[n]
        for d in range(2):
            spread = lowered.spatial_part[array, d]
            if spread >= 0 and lowered.einsum_reduced[n, spread]:
                einsum.append(n)
                part.append(spread)
                size.append(lowered.spatial_size[array, d])
                hop.append(lowered.reduce_hop_cycles[n])
    lag_terms = (np.array(einsum, dtype=np.int64), np.array(part, dtype=np.int64), np.array(size, dtype=float),
                 np.array(hop, dtype=float))
    plan = _task_plan(lowered)
    resources, stages, order, _ = plan
    schedule_key = b"/".join(np.ascontiguousarray(a).tobytes() for a in (resources, stages, order, lowered.deps,
                                                                         lowered.recurrence))
    return GroupPlan(producer, plan, inner, -1 if deepest is None else deepest[0], lag_terms, schedule_key)


def _density_rows(lowered: LoweredGroup, density: np.ndarray | None) -> np.ndarray:
    """[rows or 1, einsums]: each row's mask densities, or the group's own as one row for all (`per_row`)."""
    return per_row(lowered.density[None, :] if density is None else density)


def per_row(array: np.ndarray) -> np.ndarray:
    """A batch's per-row array as the kernels take it: float64, C-contiguous and writable (a read-only one, such
    as a view of a lowered group's frozen arrays, is copied). Numba compiles a kernel once per argument type,
    read-only being a type of its own: one kind of array keeps one compiled kernel, which the install step
    caches (`cli.warm_kernels`), for the simulator and the mapper alike."""
    return np.require(array, dtype=np.float64, requirements=("C", "W"))


def _limits(arch: SpatialArch) -> tuple[float, float, float, float]:
    """Words of the buffer and the staging buffer, register words per 2D PE and per 1D lane."""
    staging = arch.staging_buffer.capacity_bytes / arch.word_bytes if arch.staging_buffer else 0.0
    return (arch.global_buffer.capacity_bytes / arch.word_bytes, staging, float(arch.array_2d.register_entries),
            float(arch.array_1d.register_entries))


def fits(arch: SpatialArch, occupancy: np.ndarray) -> np.ndarray:
    """Which rows of an occupancy batch fit every level (spillable tensors may overflow the buffer); each array's
    register words per PE or lane against its own register file (`group_feasibility`)."""
    rows, none = len(occupancy), np.zeros(0, dtype=np.int64)
    return group_feasibility(np.zeros((rows, 1)), per_row(occupancy),
                             np.zeros((rows, 0)), np.array(_limits(arch)), False, none, 0, -1, none, none,
                             np.zeros(0), np.zeros(0), 1)[0]


def checks(lowered: LoweredGroup, extents: np.ndarray, arch: SpatialArch | None = None,
           occupancy: np.ndarray | None = None, staging: np.ndarray | None = None) -> tuple:
    """(fit, placed, in_order, stride, lag) of each row (`group_feasibility`): whether it fits `arch` with the
    traffic kernel's `occupancy` and `staging` (every row, without them), whether it is placed (fits, and stages
    nothing where the arch has no staging buffer), whether its recurrence is in order (`recurrence_in_order`),
    its recurrence stride (`recurrence_stride`) and its tasks' delivery lags (`delivery_lag`)."""
    plan, rows = group_plan(lowered), len(extents)
    occupancy = np.zeros((rows, 5)) if occupancy is None else occupancy
    staging = np.zeros((rows, 0)) if staging is None else staging
    limits = np.array(_limits(arch)) if arch is not None else np.zeros(4)
    return group_feasibility(per_row(extents), per_row(occupancy), per_row(staging), limits,
                             arch is not None and arch.staging_buffer is None, plan.recurrence_inner,
                             lowered.recurrence_part, plan.recurrence_gap, *plan.lag_terms, len(lowered.einsums) + 1)


def recurrence_in_order(lowered: LoweredGroup, extents: np.ndarray) -> np.ndarray:
    """Rows whose recurrence reads a result already issued. A task of tile t reads its recurrence producer of
    tile t - stride, which issues stride - (producer's stage - task's stage) steps earlier: fewer than none and the
    binding issues the task before the result it waits for (on an array issuing in order, a wait that never
    ends). Such a tiling cannot run with this binding: too few tiles between two steps of the recurrence to fill
    its pipeline (a buffer loop inside the recurrence's loop gives more). A recurrence whose loop runs once takes
    no step, so any stages keep it in order."""
    return checks(lowered, extents)[2]


def out_of_order_reason(lowered: LoweredGroup, stride: int) -> str:
    """Which recurrence a binding's stages run ahead of its producer, and at what stride (stages as the mapping
    numbers them)."""
    _, task, producer = _deepest_recurrence(lowered)
    stages = np.append(lowered.stages, 0)
    names = [e.name for e in lowered.einsums] + ["DRAM"]
    return (f"group {lowered.name}: its binding runs {names[task]} in stage {stages[task]} and {names[producer]}, "
            f"whose result of {stride} tile(s) back {names[task]} reads (a recurrence over "
            f"{lowered.parts[lowered.recurrence_part]}), in stage {stages[producer]}: {names[task]} would wait for a "
            "result not yet issued; give the recurrence more tiles between its steps or bind more shallowly")


def _deepest_recurrence(lowered: LoweredGroup) -> tuple[int, int, int] | None:
    """(stages the producer runs behind its reader, reader, producer) of the recurrence edge where that gap is
    largest, or None without a recurrence. The DRAM task (last) is in stage 0."""
    edges = np.argwhere(lowered.recurrence)
    if not len(edges):
        return None
    stages = np.append(lowered.stages, 0)
    gaps = stages[edges[:, 1]] - stages[edges[:, 0]]
    task, producer = edges[np.argmax(gaps)]
    return int(gaps.max()), int(task), int(producer)


def recurrence_stride(lowered: LoweredGroup, extents: np.ndarray) -> np.ndarray:
    """Tiles between two steps of a recurrence: the product of the loops inside the one it advances."""
    return checks(lowered, extents)[3]


ENERGY_PARTS = ("compute_2d", "registers_2d", "compute_1d", "registers_1d")  # then the storage levels


def costs(lowered: LoweredGroup, arch: SpatialArch, raw: tuple, extents: np.ndarray,
          unpriced: np.ndarray | None = None, density: np.ndarray | None = None) -> tuple:
    """(spilled, words, dram_bytes, durations, busy, useful, energy parts, energy) of the traffic `raw`
    (`group_costs`).
    The overflowing fraction of the spillable tensors' buffer traffic moves to DRAM, in `raw` itself: an
    intermediate that does not fit is written out and read back (FLAT's spill of the score rows); `spilled` is
    that fraction per row. `words` and the energy parts are dicts of per-row arrays (LEVELS; compute and
    registers per array, then the storage levels of `storage_energy`). Rows marked `unpriced` (skipped by the
    traffic kernel) are NaN, their traffic in `raw` too. A short last tile that the rows' `extents` pad
    (`lower.part_extents`) is computed whole, but only its real points are useful work and DRAM moves only its
    real elements (`group_costs`); its buffer and register traffic stay whole."""
    cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles, _ = raw
    unpriced = np.zeros(len(tiles), dtype=np.bool_) if unpriced is None else unpriced
    units = (arch.array_2d, arch.array_1d)
    access_words, access_pj = level_prices(arch)
    spilled, words, dram_bytes, durations, busy, useful, energy, total = group_costs(
        cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles,
        lowered.einsum_array, lowered.cycles_per_point, lowered.energy_per_point, lowered.tensor_spill,
        _limits(arch)[0], arch.dram_bytes_per_cycle, float(arch.word_bytes),
        np.array([register_pj_per_cycle(u) for u in units]), access_words, access_pj, unpriced,
        (per_row(extents), lowered.split_parts, lowered.split_totals,
         lowered.split_shared, lowered.span_patterns, lowered.einsum_span, lowered.tensor_span,
         lowered.real_density, _density_rows(lowered, density)))
    names = (*ENERGY_PARTS, "buffer", *(("staging",) if arch.staging_buffer is not None else ()), "dram")
    return (spilled, dict(zip(LEVELS, words.T, strict=True)), dram_bytes, durations, busy, useful,
            dict(zip(names, energy.T, strict=True)), total)


def level_prices(arch: SpatialArch) -> tuple[np.ndarray, np.ndarray]:
    """Words per physical access and pJ per access of each LEVELS column: the buffer's reads and writes, the
    staging buffer (reads and writes together, each access the mean of the two; pJ -1 where there is none),
    DRAM's reads and writes. Every storage charge is words / access words x pJ per access."""
    buffer, staging, dram = arch.global_buffer, arch.staging_buffer, arch.dram
    return (np.array([buffer.access_words, buffer.access_words, staging.access_words if staging else 1.0,
                      dram.access_words, dram.access_words], dtype=float),
            np.array([buffer.read_pj, buffer.write_pj, (staging.read_pj + staging.write_pj) / 2 if staging else -1.0,
                      dram.read_pj, dram.write_pj], dtype=float))


def register_pj_per_cycle(unit) -> float:
    """Register energy of one busy PE cycle: one update of the accumulator (or of the temporary of a
    multi-cycle operation such as the Taylor exp), a read-modify-write that Accelergy's register file
    counts as one `update` action, priced as a write (docs/accelergy/*_ERT_summary.yaml: update = write).
    Operands arrive from the buffer or a neighbouring PE, not from the register file."""
    return unit.register_write_pj


def storage_energy(arch: SpatialArch, words: dict) -> dict:
    """Energy of the storage levels for `words` moved (LEVELS keys; arrays or numbers), per physical access of
    each level's access width (`level_prices`, as `group_costs` charges a batch)."""
    access_words, access_pj = (dict(zip(LEVELS, prices, strict=True)) for prices in level_prices(arch))

    def charge(level):
        return words[level] / access_words[level] * access_pj[level]

    parts = {"buffer": charge("buffer_read") + charge("buffer_write")}
    if arch.staging_buffer is not None:
        parts["staging"] = charge("staging")
    parts["dram"] = charge("dram_read") + charge("dram_write")
    return parts


def delivery_lag(lowered: LoweredGroup, extents: np.ndarray) -> np.ndarray:
    """[B, tasks] cycles after a task finishes before its result reaches a consumer on another resource.
    A reduction over a part spread across an array dimension ends as a chain of partial results crossing
    that dimension, one PE per hop (FuseMax's LM: 256 hops of a max on a 256x256 array, REFERENCE.md §1
    "How the artifact's model charges time and energy"); the result leaves the array only after the last
    hop, at most the array's size (`group_plan`'s lag terms). Whether a consumer waits for it is left to the
    schedule (a binding that overlaps the next tile hides it)."""
    return checks(lowered, extents)[4]


def task_plan(lowered: LoweredGroup) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """`_task_plan`, cached (`group_plan`)."""
    return group_plan(lowered).task_plan


def _task_plan(lowered: LoweredGroup) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
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
                         cycles_override: np.ndarray | None = None, skip_overflow: bool = True,
                         density: np.ndarray | None = None, schedules: ScheduleMemos | None = None) -> GroupBatch:
    """Every tiling's cost; a tiling that does not fit, or whose recurrence runs out of order, has latency and
    energy inf (it cannot run). With
    `skip_overflow` (the mapper's batches) its traffic is not worked out beyond its occupancy, and its other
    figures are NaN. `density`: each row's mask densities (see `traffic`). `schedules`: a search's schedules
    already simulated, which its later batches take rather than simulate again."""
    raw = traffic(lowered, extents, arch if skip_overflow else None, density)
    cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles, _ = raw
    if cycles_override is not None:
        cycles = per_row(cycles_override)
        raw = (cycles, *raw[1:])
    fit, placed, in_order, stride, lag = checks(lowered, extents, arch, occupancy, staging)
    feasible = placed & in_order
    spilled, words, dram_bytes, durations, busy, useful, energy_parts, energy = costs(
        lowered, arch, raw, extents, ~fit if skip_overflow else None, density)
    resources, stages, order, slots = task_plan(lowered)
    latency = np.full(len(extents), np.inf)  # only feasible tilings are scheduled
    rows = slice(None) if feasible.all() else np.flatnonzero(feasible)  # (no copies when all are)
    scheduled = durations[rows]
    memo = None if schedules is None else schedules.memo(group_plan(lowered).schedule_key)
    latency[rows] = schedule_latency_distinct(
        scheduled, lag[rows], resources, stages, order, lowered.deps, lowered.recurrence, stride[rows],
        np.full(len(scheduled), slots, dtype=np.int64), tiles[rows], SCHEDULE_WINDOW, memo)
    latency = np.fmax(latency, busy[:, 2])  # inf where it does not fit (its DRAM time may be NaN: not priced)
    energy[~feasible] = np.inf
    return GroupBatch(placed, in_order, latency, busy, useful, energy, dram_bytes, spilled, words,
                      energy_parts, (cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging,
                                     occupancy, tiles, raw[9]))


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
