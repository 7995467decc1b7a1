"""`simulate`: the spatial-array entry point. Evaluates the groups of one concrete mapping and combines
them into one report for a cascade, an arch and a shape."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arch_models import SpatialArch
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.model import Cascade
from mappers.mapping import Mapping
from simulator.spatial.batch import combine_groups, storage_energy
from simulator.spatial.evaluate import GroupResult, SpatialReport, evaluate_group, storage_accesses
from simulator.spatial.lower import instance_ranks, reject


def simulate(cascade: Cascade, arch: SpatialArch, mapping: Mapping, shapes: dict[str, int],
             design: str | None = None, timing: str = "ideal", dataflow: str = "os",
             part_sizes: Sequence[dict[str, int]] | None = None) -> SpatialReport:
    """Evaluate one concrete mapping: not a family of variants, and every `max_fit` part given a size in
    `part_sizes` (one dict per group). Choosing those is the studies' job (simulator/studies/mapping_choice.py).

    `timing`: "ideal" (no array fill or drain, as the FuseMax paper models), "systolic" (the 2D array's
    multiply-accumulate Einsums timed fold by fold as SCALE-Sim counts them) or "systolic-unpadded" (edge
    folds charged only for the PEs they map). `dataflow` ("os", "ws" or "is") is the 2D array's dataflow
    in the systolic modes; "ideal" ignores it. Details: simulator/spatial/systolic_mode.py."""
    reject(not mapping.variants, f"mapping {mapping.name} is a family of {len(mapping.variants)} variants; the "
           "model evaluates one (simulator.studies.mapping_choice picks among them)", mapping)
    sizes = list(part_sizes) if part_sizes is not None else [{} for _ in mapping.groups]
    reject(len(sizes) == len(mapping.groups), f"{len(sizes)} part-size entries for {len(mapping.groups)} groups",
           mapping)
    groups = [evaluate_group(cascade, arch, mapping, n, shapes, timing, dataflow, sizes[n])
              for n in range(len(mapping.groups))]
    return _report(cascade, arch, mapping, shapes, design or mapping.name, groups)


def _report(cascade: Cascade, arch: SpatialArch, mapping: Mapping, shapes: dict[str, int], design: str,
            groups: list[GroupResult]) -> SpatialReport:
    """The groups combined: latency from the group schedule, energy, traffic and occupancy summed or maxed."""
    cycles = float(combine_groups([np.array([g.cycles]) for g in groups], [g.busy[None] for g in groups],
                                  [g.overlap_previous for g in groups])[0])
    useful = np.sum([g.useful for g in groups], axis=0)
    busy = np.sum([g.busy for g in groups], axis=0)
    energy: dict[str, float] = {}
    einsum_energy: dict[str, float] = {}
    for group in groups:
        for key, value in group.energy.items():
            energy[key] = energy.get(key, 0.0) + value
        einsum_energy.update(group.einsum_energy)
    einsum_cycles = {name: c for g in groups for name, c in g.einsum_cycles.items()}
    bound_index = int(np.argmax(busy))
    bound = ("compute-2d", "compute-1d", "memory")[bound_index]
    return SpatialReport(
        design=design, cascade=cascade.name, arch=arch.name, mapping=mapping.name,
        latency_s=cycles / arch.clock_hz, cycles=cycles, energy_pj=float(sum(energy.values())),
        energy_breakdown=energy, einsum_energy_pj=einsum_energy,
        einsum_share={name: c / cycles for name, c in einsum_cycles.items()},
        dram_bytes=float(sum(g.dram_bytes for g in groups)),
        util_2d=float(min(1.0, useful[0] / (cycles * arch.array_2d.pes))),
        util_1d=float(min(1.0, useful[1] / (cycles * arch.array_1d.pes))),
        area_mm2=arch.area_mm2, bound=bound,
        occupancy_bytes={level: max(g.occupancy_bytes[level] for g in groups) for level in groups[0].occupancy_bytes},
        measured_passes=_measured_passes(cascade, groups, shapes),
        pass_lower_bound=analyze_passes(cascade).passes, storage=_sum_storage(groups), groups=groups)


def padding_note(report: SpatialReport) -> str | None:
    """Where a tile that does not divide its rank leaves a padded last tile, and how much it adds (the padded
    points are computed, so they cost time and compute energy; DRAM does not move them and they do not count as
    utilization)."""
    groups: dict[tuple, list[str]] = {}  # (rank, length, covered) -> the groups that pad it so
    for group in report.groups:
        for rank, (length, covered) in group.padding.items():
            groups.setdefault((rank, length, covered), []).append(group.name)
    ranks = [rank for rank, _, _ in groups]
    padded = [f"{rank} {length:,} -> {covered:,} (+{covered / length - 1:.1%}"
              + (f", groups {', '.join(names)})" if ranks.count(rank) > 1 else ")")
              for (rank, length, covered), names in groups.items()]
    return "short last tiles padded: " + ", ".join(padded) if padded else None


def _sum_storage(groups: list[GroupResult]) -> dict[str, dict[str, float]]:
    total: dict[str, dict[str, float]] = {}
    for group in groups:
        for level, entry in group.storage.items():
            into = total.setdefault(level, {})
            for key, value in entry.items():
                into[key] = value if key == "access_words" else into.get(key, 0.0) + value
    return total


def storage_by_tensor(arch: SpatialArch, groups: list[GroupResult]) -> dict[str, dict]:
    """Per tensor and storage level, as Timeloop's stats list them: words read and written, physical accesses
    and their energy (pJ), summed over the groups; the tensors' energies add up to the levels' in the report."""
    words: dict[str, dict[str, float]] = {}
    for group in groups:
        for tensor, moved in group.tensor_words.items():
            into = words.setdefault(tensor, {})
            for key, value in moved.items():
                into[key] = into.get(key, 0.0) + value
    result = {}
    for tensor, moved in words.items():
        levels = storage_accesses(arch, moved)
        for level, pj in storage_energy(arch, moved).items():
            levels[level]["energy_pj"] = float(pj)
        result[tensor] = {level: entry for level, entry in levels.items()
                          if any(v for k, v in entry.items() if k.endswith("words") and k != "access_words")}
    return result


def _measured_passes(cascade: Cascade, groups: list[GroupResult], shapes: dict[str, int]) -> dict:
    """How often each input element carrying the key rank crosses DRAM -> buffer and buffer -> array."""
    sizes = cascade.sizes({k: v for k, v in shapes.items()})
    family = cascade.family(analyze_passes(cascade).rank)
    result = {}
    for ref in cascade.inputs:
        ranks = cascade.tensor_ranks[ref.name]
        if not set(ranks) & family:
            continue
        size = float(np.prod([sizes[cascade.shapes[r]] for r in ranks]))
        size *= float(np.prod([sizes[s] for s in instance_ranks(cascade).values()]))
        result[ref.name] = {
            "dram_reads_per_element": sum(g.tensor_dram_reads.get(ref.name, 0.0) for g in groups) / size,
            "buffer_reads_per_element": sum(g.tensor_buffer_reads.get(ref.name, 0.0) for g in groups) / size,
        }
    return result
