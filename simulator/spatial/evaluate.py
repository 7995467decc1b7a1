"""Evaluate a mapping of a cascade on a spatial array: latency, energy, traffic, utilization, passes.

Method, in order: lower each group to arrays (at the sizes given for `max_fit` parts); count compute
cycles and accesses (Numba kernel); spill what overflows into DRAM where the mapping allows it; schedule
tiles on the 2D array, the 1D array and DRAM (Numba kernel); add energies per action; sum the groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arch_models import SpatialArch
from arch_models.operators import fused_operators
from einsum_cascade.model import Cascade
from mappers.mapping import Mapping
from simulator.spatial.batch import (
    evaluate_group_batch,
    out_of_order_reason,
    recurrence_stride,
    register_pj_per_cycle,
    traffic,
)
from simulator.spatial.lower import (
    CapacityRejected,
    LoweredGroup,
    MappingRejected,
    lower_group,
    padded_ranks,
    reject,
)
from simulator.spatial.systolic_mode import (
    check_timing_options,
    dataflow_code,
    einsum_systolic_cycles,
    timing_convention,
)

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
    storage: dict[str, dict[str, float]]  # level -> words and physical accesses (read/write)
    tensor_words: dict[str, dict[str, float]] = field(default_factory=dict)  # tensor -> LEVELS keys (kernels/costs.py)
    padding: dict[str, tuple[int, int]] = field(default_factory=dict)  # rank -> (length, covered): `padded_ranks`


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
    storage: dict[str, dict[str, float]] = field(default_factory=dict)  # summed over groups
    groups: list[GroupResult] = field(default_factory=list)


def evaluate_group(cascade: Cascade, arch: SpatialArch, mapping: Mapping, position: int,
                   shapes: dict[str, int], timing: str = "ideal", dataflow: str = "os",
                   part_sizes: dict[str, int] | None = None) -> GroupResult:
    """One group of a mapping in detail (the batch path with one row, plus per-Einsum breakdowns).

    `part_sizes`: the size of each part the mapping sizes `max_fit` (simulator/studies/mapping_choice.py
    chooses them). `timing` and `dataflow`: see `simulate` and simulator/spatial/systolic_mode.py."""
    check_timing_options(timing, dataflow)  # before any work
    lowered = lower_group(cascade, arch, mapping, position, shapes, part_sizes)
    unsized = [part for part in lowered.auto_parts if part not in (part_sizes or {})]
    reject(not unsized, f"group {lowered.name}: parts {unsized} are sized max_fit and no size was given "
           "(simulator.studies.mapping_choice chooses them)", mapping)
    extents = lowered.extents[None, :]
    override = None
    if timing != "ideal":
        override = systolic_cycles(lowered, arch, traffic(lowered, extents)[0][0], timing, dataflow)[None, :]
    batch = evaluate_group_batch(lowered, arch, extents, override, skip_overflow=False)  # whole, for the reasons
    cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, _, _ = (
        a[0] for a in batch.traffic)
    if arch.staging_buffer is None and staging.sum() > 0:
        raise MappingRejected(f"group {lowered.name} keeps tensors in a staging buffer, but {arch.name} has none",
                              source=mapping.source or mapping.name)
    if not batch.in_order[0]:
        reject(False, out_of_order_reason(lowered, int(recurrence_stride(lowered, extents)[0])), mapping)
    reject(bool(batch.feasible[0]), overflow_reason(arch, lowered, occupancy), mapping, CapacityRejected)
    word = arch.word_bytes
    capacity = arch.global_buffer.capacity_bytes / word
    words = {k: float(v[0]) for k, v in batch.words.items()}
    return GroupResult(
        name=lowered.name, cycles=float(batch.cycles[0]), busy=batch.busy[0], useful=batch.useful[0],
        energy={k: float(v[0]) for k, v in batch.energy_parts.items()},
        einsum_cycles={e.name: float(c) for e, c in zip(lowered.einsums, cycles, strict=True)},
        einsum_energy=_einsum_energy(arch, lowered, points), dram_bytes=float(batch.dram_bytes[0]),
        occupancy_bytes={"buffer": float(min(occupancy[0], capacity) * word), "staging": float(occupancy[2] * word),
                         "register_per_pe": float(occupancy[3] * word),
                         "register_per_lane": float(occupancy[4] * word)},
        extents={p: int(x) for p, x in zip(lowered.parts, lowered.extents, strict=True)},
        tensor_dram_reads={t: float(r) for t, r in zip(lowered.tensors, dram_read, strict=True)},
        tensor_buffer_reads={t: float(r) for t, r in zip(lowered.tensors, buffer_read, strict=True)},
        spilled_fraction=float(batch.spilled[0]), overlap_previous=lowered.overlap_previous,
        storage=storage_accesses(arch, words),
        tensor_words={t: {"buffer_read": float(buffer_read[n]), "buffer_write": float(buffer_write[n]),
                          "staging": float(staging[n]), "dram_read": float(dram_read[n]),
                          "dram_write": float(dram_write[n])} for n, t in enumerate(lowered.tensors)},
        padding=padded_ranks(lowered))


def storage_accesses(arch: SpatialArch, words: dict[str, float]) -> dict[str, dict[str, float]]:
    """Words and physical accesses (words / access width) per storage level and direction."""
    levels = {"buffer": (arch.global_buffer, ("read", "write")), "dram": (arch.dram, ("read", "write"))}
    if arch.staging_buffer is not None:
        levels["staging"] = (arch.staging_buffer, ("",))
    result = {}
    for level, (memory, directions) in levels.items():
        entry = {}
        for direction in directions:
            key = f"{level}_{direction}" if direction else level
            suffix = f"{direction}_" if direction else ""
            entry[f"{suffix}words"] = words[key]
            entry[f"{suffix}accesses"] = float(memory.accesses(words[key]))
        entry["access_words"] = memory.access_words
        result[level] = entry
    return result


def _einsum_energy(arch: SpatialArch, lowered: LoweredGroup, points: np.ndarray) -> dict[str, float]:
    """Compute and register energy of each Einsum (buffer and DRAM energy belong to tensors, not Einsums)."""
    result = {}
    for n, einsum in enumerate(lowered.einsums):
        unit = (arch.array_2d, arch.array_1d)[int(lowered.einsum_array[n])]
        work = points[n] * lowered.cycles_per_point[n]
        result[einsum.name] = float(points[n] * lowered.energy_per_point[n]
                                    + work * register_pj_per_cycle(unit))
    return result


def systolic_cycles(lowered: LoweredGroup, arch: SpatialArch, ideal: np.ndarray, timing: str = "systolic",
                    dataflow: str = "os") -> np.ndarray:
    """Per-Einsum cycles with the 2D array's multiply-accumulate Einsums timed as systolic GEMMs under
    `timing` ("systolic": SCALE-Sim's count, "systolic-unpadded") and `dataflow` (os, ws, is); every other
    Einsum keeps its `ideal` cycles. How an Einsum becomes GEMMs: simulator/spatial/systolic_mode.py."""
    convention, code = timing_convention(timing), dataflow_code(dataflow)
    cycles = ideal.copy()
    if convention is None:
        return cycles
    for n, einsum in enumerate(lowered.einsums):
        if lowered.einsum_array[n] == 0 and "mac" in fused_operators(einsum, set(arch.array_2d.operators)):
            cycles[n] = einsum_systolic_cycles(lowered, n, arch, convention, code)
    return cycles


def overflow_reason(arch: SpatialArch, lowered: LoweredGroup, occupancy: np.ndarray) -> str:
    """Which buffer, staging area or register file a group overflows, and by how much."""
    word = arch.word_bytes
    return (f"group {lowered.name} does not fit: buffer needs {(occupancy[0] - occupancy[1]) * word / 2**20:.2f} MB "
            f"of {arch.global_buffer.capacity_bytes / 2**20:.2f} MB (not counting spillable tensors), staging "
            f"{occupancy[2] * word:.0f} B of {arch.staging_buffer.capacity_bytes if arch.staging_buffer else 0} B, "
            f"registers {occupancy[3]:.1f} words per 2D PE of {arch.array_2d.register_entries}, "
            f"{occupancy[4]:.1f} per 1D lane of {arch.array_1d.register_entries}")
