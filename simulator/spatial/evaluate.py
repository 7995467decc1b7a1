"""Evaluate a mapping of a cascade on a spatial array: latency, energy, traffic, utilization, passes.

Method, in order: lower each group to arrays; size `max_fit` tiles (largest that fits the buffer,
all candidates evaluated as one batch); count compute cycles and accesses (Numba kernel); spill
what overflows into DRAM where the mapping allows it; schedule tiles on the 2D array, the 1D array
and DRAM (Numba kernel); add energies per action; sum the groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arch_models import SpatialArch
from einsum_cascade.model import Cascade
from mappers.mapping import Mapping
from simulator.kernels.schedule import schedule_latency
from simulator.kernels.systolic import OUTPUT_STATIONARY, systolic_gemm_cycles
from simulator.kernels.traffic import group_traffic
from simulator.spatial.lower import LoweredGroup, MappingRejected, fused_operators, lower_group, reject

SCHEDULE_WINDOW = 96  # tiles simulated before the steady-state period is extrapolated
LEVELS = ("reg", "staging", "buffer", "dram")


@dataclass
class GroupResult:
    name: str
    cycles: float
    busy: np.ndarray  # [3] busy cycles of 2D, 1D, DRAM
    useful: np.ndarray  # [2] useful PE-cycles of the 2D and 1D arrays
    energy: dict[str, float]
    einsum_cycles: dict[str, float]
    einsum_energy: dict[str, float]
    dram_bytes: float
    occupancy_bytes: dict[str, float]
    extents: dict[str, int]
    tensor_dram_reads: dict[str, float]  # words read from DRAM per tensor
    tensor_buffer_reads: dict[str, float]
    spilled_fraction: float
    overlap_previous: bool


@dataclass
class SpatialReport:
    design: str
    cascade: str
    arch: str
    mapping: str
    latency_s: float
    cycles: float
    energy_pj: float
    energy_breakdown: dict[str, float]
    einsum_energy_pj: dict[str, float]
    einsum_share: dict[str, float]
    dram_bytes: float
    util_2d: float
    util_1d: float
    area_mm2: float
    bound: str
    occupancy_bytes: dict[str, float]
    measured_passes: dict[str, dict[str, float]]
    pass_lower_bound: int
    groups: list[GroupResult] = field(default_factory=list)

    def as_dict(self) -> dict:
        keys = ("design", "cascade", "arch", "mapping", "latency_s", "cycles", "energy_pj", "energy_breakdown",
                "einsum_energy_pj", "einsum_share", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound",
                "occupancy_bytes", "measured_passes", "pass_lower_bound")
        data = {key: getattr(self, key) for key in keys}
        data["groups"] = [{"name": g.name, "cycles": g.cycles, "extents": g.extents,
                           "spilled_fraction": g.spilled_fraction} for g in self.groups]
        return data


def _traffic(lowered: LoweredGroup, extents: np.ndarray):
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
         lowered.tensor_copies, lowered.tensor_storage, producer, lowered.tensor_spill))


def _fits(arch: SpatialArch, lowered: LoweredGroup, occupancy: np.ndarray) -> np.ndarray:
    """Which rows of an occupancy batch fit every level (spillable tensors may overflow the buffer)."""
    words = arch.global_buffer.capacity_bytes / arch.word_bytes
    staging = arch.staging_buffer.capacity_bytes / arch.word_bytes if arch.staging_buffer else 0.0
    registers = min(arch.array_2d.register_entries, arch.array_1d.register_entries)
    return (occupancy[:, 0] - occupancy[:, 1] <= words) & (occupancy[:, 2] <= staging) & (occupancy[:, 3] <= registers)


def _choose_auto_sizes(cascade, arch, mapping, position, shapes) -> dict[str, int]:
    """Largest power-of-two size of a `max_fit` part whose buffer needs fit (candidates run as one batch)."""
    probe = lower_group(cascade, arch, mapping, position, shapes)
    if not probe.auto_parts:
        return {}
    part = probe.auto_parts[0]
    parts = next(p for p in mapping.groups[position].splits.values() if part in p)
    extent = {p: int(probe.extents[probe.parts.index(p)]) for p in parts}
    room = int(np.prod([extent[p] for p in parts])) // int(np.prod([extent[p] for p in parts[1:] if p != part]))
    candidates = [1 << k for k in range(room.bit_length()) if room % (1 << k) == 0]
    rows = np.array([lower_group(cascade, arch, mapping, position, shapes, {part: size}).extents
                     for size in candidates])
    occupancy = _traffic(probe, rows)[7]
    fitting = [size for size, ok in zip(candidates, _fits(arch, probe, occupancy), strict=True) if ok]
    reject(bool(fitting), f"group {probe.name}: no size of {part} fits the buffers: "
           + _overflow_reason(arch, probe, occupancy[0]), mapping)
    return {part: max(fitting)}


def evaluate_group(cascade: Cascade, arch: SpatialArch, mapping: Mapping, position: int,
                   shapes: dict[str, int], timing: str = "ideal") -> GroupResult:
    auto = _choose_auto_sizes(cascade, arch, mapping, position, shapes)
    lowered = lower_group(cascade, arch, mapping, position, shapes, auto)
    cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles, _ = _traffic(
        lowered, lowered.extents[None, :])
    cycles, points, staging, occupancy = cycles[0], points[0], staging[0], occupancy[0]
    if timing == "systolic":
        cycles = systolic_cycles(lowered, arch, cycles)
    dram_read, dram_write, buffer_read, buffer_write = dram_read[0], dram_write[0], buffer_read[0], buffer_write[0]
    word = arch.word_bytes
    capacity = arch.global_buffer.capacity_bytes / word
    reject(bool(_fits(arch, lowered, occupancy[None, :])[0]), _overflow_reason(arch, lowered, occupancy), mapping)
    spilled = 0.0
    if occupancy[0] > capacity and occupancy[1] > 0:
        spilled = min(1.0, (occupancy[0] - capacity) / occupancy[1])
        for t in np.flatnonzero(lowered.tensor_spill):
            dram_read[t] += spilled * buffer_read[t]
            dram_write[t] += spilled * buffer_write[t]
            buffer_read[t] *= 1 - spilled
            buffer_write[t] *= 1 - spilled
    dram_bytes = float((dram_read.sum() + dram_write.sum()) * word)
    dram_cycles = dram_bytes / arch.dram_bytes_per_cycle
    n_tiles = float(tiles[0])
    durations = np.append(cycles / n_tiles, dram_cycles / n_tiles)
    resources = np.append(lowered.einsum_array, 2)
    stages = np.append(lowered.stages, 0)
    order = np.array(sorted(range(len(durations)), key=lambda t: (-stages[t], t)))
    stride = _recurrence_stride(lowered)
    latency = schedule_latency(durations, resources, stages, order, lowered.deps, lowered.recurrence, stride,
                               lowered.tiles_in_flight, n_tiles, SCHEDULE_WINDOW)
    latency = max(latency, dram_cycles)
    busy = np.array([cycles[lowered.einsum_array == a].sum() for a in (0, 1)] + [dram_cycles])
    useful = np.array([(points * lowered.cycles_per_point)[lowered.einsum_array == a].sum() for a in (0, 1)])
    energy, einsum_energy = _energy(arch, lowered, points, buffer_read, buffer_write, staging, dram_bytes)
    return GroupResult(
        name=lowered.name, cycles=float(latency), busy=busy, useful=useful, energy=energy,
        einsum_cycles={e.name: float(c) for e, c in zip(lowered.einsums, cycles, strict=True)},
        einsum_energy=einsum_energy, dram_bytes=dram_bytes,
        occupancy_bytes={"buffer": float(min(occupancy[0], capacity) * word), "staging": float(occupancy[2] * word),
                         "register_per_pe": float(occupancy[3] * word)},
        extents={p: int(x) for p, x in zip(lowered.parts, lowered.extents, strict=True)},
        tensor_dram_reads={t: float(r) for t, r in zip(lowered.tensors, dram_read, strict=True)},
        tensor_buffer_reads={t: float(r) for t, r in zip(lowered.tensors, buffer_read, strict=True)},
        spilled_fraction=spilled, overlap_previous=lowered.overlap_previous)


def systolic_cycles(lowered: LoweredGroup, arch: SpatialArch, ideal: np.ndarray) -> np.ndarray:
    """Systolic timing of the 2D array's multiply-accumulate Einsums, each fold paying its fill and drain
    (SCALE-Sim's model, simulator/kernels/systolic.py): Sr is the part on the rows, Sc the part on the
    columns, T the parts walked in time inside a tile; every tile (loop iteration) is a new GEMM."""
    cycles = ideal.copy()
    array = arch.array_2d
    rows_part, cols_part = lowered.spatial_part[0]
    for n, einsum in enumerate(lowered.einsums):
        if lowered.einsum_array[n] != 0 or "mac" not in fused_operators(einsum, set(array.operators)):
            continue
        parts = lowered.einsum_parts[n]
        extent = lowered.extents
        sr = extent[rows_part] if rows_part >= 0 and parts[rows_part] else 1
        sc = extent[cols_part] if cols_part >= 0 and parts[cols_part] else 1
        looped = parts & ((lowered.dram_position >= 0) | (lowered.buffer_position >= 0))
        inside = parts & ~looped
        for p in (rows_part, cols_part):
            if p >= 0:
                inside[p] = False
        repeats = float(np.prod(extent[looped]))
        steps = int(np.prod(extent[inside]))
        cycles[n] = repeats * lowered.density[n] * systolic_gemm_cycles(
            int(sr), int(sc), steps, array.rows, array.cols, OUTPUT_STATIONARY)
    return cycles


def _overflow_reason(arch: SpatialArch, lowered: LoweredGroup, occupancy: np.ndarray) -> str:
    word = arch.word_bytes
    return (f"group {lowered.name} does not fit: buffer needs {(occupancy[0] - occupancy[1]) * word / 2**20:.2f} MB "
            f"of {arch.global_buffer.capacity_bytes / 2**20:.2f} MB (not counting spillable tensors), staging "
            f"{occupancy[2] * word:.0f} B of {arch.staging_buffer.capacity_bytes if arch.staging_buffer else 0} B, "
            f"registers {occupancy[3]:.1f} words per PE")


def _recurrence_stride(lowered: LoweredGroup) -> int:
    if lowered.recurrence_part < 0:
        return 1
    loops = sorted([p for p in range(len(lowered.parts)) if lowered.dram_position[p] >= 0],
                   key=lambda p: lowered.dram_position[p]) + [p for p in range(len(lowered.parts))
                                                              if lowered.buffer_loop[p]]
    inner = loops[loops.index(lowered.recurrence_part) + 1:]
    return int(np.prod([lowered.extents[p] for p in inner])) if inner else 1


def _energy(arch, lowered, points, buffer_read, buffer_write, staging, dram_bytes):
    arrays = (arch.array_2d, arch.array_1d)
    energy = {"compute_2d": 0.0, "compute_1d": 0.0, "registers_2d": 0.0, "registers_1d": 0.0}
    einsum_energy = {}
    for n, einsum in enumerate(lowered.einsums):
        array = int(lowered.einsum_array[n])
        unit = arrays[array]
        label = ("2d", "1d")[array]
        compute = points[n] * lowered.energy_per_point[n]
        # one register read and one write per busy PE cycle: the accumulator (or the temporary of a
        # multi-cycle operation) is read-modified-written; operands arrive from the buffer or a neighbour
        registers = points[n] * lowered.cycles_per_point[n] * (unit.register_read_pj + unit.register_write_pj)
        energy[f"compute_{label}"] += compute
        energy[f"registers_{label}"] += registers
        einsum_energy[einsum.name] = float(compute + registers)
    words_per_access = arch.global_buffer.access_bytes / arch.word_bytes
    energy["buffer"] = float((buffer_read.sum() * arch.global_buffer.read_pj
                              + buffer_write.sum() * arch.global_buffer.write_pj) / words_per_access)
    if arch.staging_buffer is not None:
        per_access = arch.staging_buffer.access_bytes / arch.word_bytes
        energy["staging"] = float(staging.sum() * (arch.staging_buffer.read_pj + arch.staging_buffer.write_pj) / 2
                                  / per_access)
    else:
        reject_staging = staging.sum() == 0
        if not reject_staging:
            raise MappingRejected(f"group {lowered.name} keeps tensors in a staging buffer, but {arch.name} has none")
    energy["dram"] = float(dram_bytes * arch.dram.energy_pj_per_byte)
    return {k: float(v) for k, v in energy.items()}, einsum_energy
