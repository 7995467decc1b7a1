"""The spatial cost model as the batch cost function the mapper takes: genomes -> objective values."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

import numpy as np

from arch_models import SpatialArch
from einsum_cascade.errors import SpecError
from mappers.space import LONG_BUFFER_LOOP, SpatialMappingSpace, fill_extents
from simulator.heap import keep_freed_memory
from simulator.spatial.batch import combine_groups, evaluate_group_batch
from simulator.spatial.kernels.schedule_distinct import ScheduleMemos
from simulator.spatial.lower import at_covered_lengths, covered_lengths, lower_group
from simulator.spatial.shared_groups import GroupResult, SharedGroups

OBJECTIVES = ("latency", "energy", "edp", "weighted")
OVERFLOW = "buffers overflow (global, staging or registers)"  # the rejection a larger buffer would lift
OUT_OF_ORDER = "the binding's stages run a recurrence ahead of its producer (too few tiles between its steps)"


class SpatialCost:
    """Evaluates batches of genomes of a SpatialMappingSpace; illegal ones cost inf, with the reason.

    The structure of each genome is lowered once (cached); its tilings then run as one kernel batch.
    """

    def __init__(self, space: SpatialMappingSpace, objective: str = "latency", weights=(1.0, 1.0)):
        self.space, self.objective, self.weights = space, objective, weights
        self._lowered: dict[int, object] = {}
        self._at_lengths: dict[tuple, np.ndarray] = {}  # (structure, group, covered lengths) -> densities
        self._shared = SharedGroups({}, 0)  # none until `canonicalize` finds them
        self._schedules = ScheduleMemos()  # schedules simulated so far, by task plan
        self.arch: SpatialArch = space.arch
        keep_freed_memory()  # its batches' arrays are reused, not faulted in anew (`simulator.heap`)

    def _structure(self, structure: int, genome: np.ndarray):
        if structure not in self._lowered:
            self._lowered[structure] = self._lower(genome)
        return self._lowered[structure]

    def _lower(self, genome: np.ndarray) -> list | str:
        """The genome's groups lowered, or why the mapping is rejected."""
        mapping = self.space.decode(genome)
        try:
            return [lower_group(self.space.cascade, self.arch, mapping, n, self.space.shapes)
                    for n in range(len(mapping.groups))]
        except SpecError as rejected:
            return rejected.message

    def canonicalize(self) -> dict[int, int]:
        """Keep one structure per distinct loop nest: two structures whose groups lower to the same arrays (the
        same loops, placements, bindings, storage and dependences) cost the same at every size, since a
        structure's lowering does not depend on its sizes (the search lowers it once, `_structure`, and gives each
        tiling its extents), so they are one candidate (on a GEMM, placement and binding policies collapse:
        nothing runs on the 1D array). Each structure is lowered once, at its smallest sizes (which divide every
        rank), and that lowering serves the search. The first of each class in enumeration order is kept.
        A group that kept structures share is then evaluated once per size (`SharedGroups`).
        Returns each structure's index (before) -> the index (before) of the structure kept for it."""
        probe = np.zeros(len(self.space.dimensions), dtype=np.int64)
        classes, kept_for, nests = {}, {}, {}  # signature -> the first structure with it; its groups' loop nests
        for structure in range(self.space.dimensions[0]):
            probe[0] = structure
            groups = self._structure(structure, probe)
            signature = groups if isinstance(groups, str) else tuple(_loop_nest(g) for g in groups)
            kept_for[structure] = classes.setdefault(signature, structure)
            nests[structure] = () if isinstance(groups, str) else signature
        keep, lowered = list(classes.values()), self._lowered
        self.space.keep_structures(keep)
        self._lowered = {new: lowered[old] for new, old in enumerate(keep)}
        where = defaultdict(list)  # loop nest -> (kept structure, position) of the groups that have it
        for new, old in enumerate(keep):
            for position, nest in enumerate(nests[old]):
                where[nest].append((new, position))
        shared = [places for places in where.values() if len(places) > 1]
        self._shared = SharedGroups({place: n for n, places in enumerate(shared) for place in places},
                                    int(self.space.strides[0]))  # sizes per structure
        return kept_for

    def metrics(self, genomes: np.ndarray) -> tuple[np.ndarray, np.ndarray, Counter]:
        """Latency (s) and energy (pJ) of every genome (inf when illegal), and how many were rejected why."""
        latency = np.full(len(genomes), np.inf)
        energy = np.full(len(genomes), np.inf)
        reasons: Counter = Counter()
        legal = self.space.legal_sizes(genomes)
        if (~legal).any():
            reasons[LONG_BUFFER_LOOP] += int((~legal).sum())
        structures = genomes[:, 0]
        strides = self.space.strides
        everyone = self.space.part_values(genomes)  # (worked out once for the batch, then taken per structure)
        every_size = (genomes @ strides) % strides[0]  # each genome's index among a structure's sizes
        for structure, rows in _rows_by_structure(structures, legal):
            lowered = self._structure(int(structure), genomes[rows[0]])
            if isinstance(lowered, str):
                reasons[lowered] += len(rows)
                continue
            values, sizes = {part: value[rows] for part, value in everyone.items()}, every_size[rows]
            batches = [self._group(int(structure), position, g, values, sizes) for position, g in enumerate(lowered)]
            if len(batches) == 1:  # (what the general case gives for one group, without its copies)
                cycles, feasible, placed, group_energy = (batches[0].cycles, batches[0].feasible, batches[0].fits,
                                                    batches[0].energy_pj)
            else:
                cycles = combine_groups([b.cycles for b in batches], [b.busy for b in batches],
                                        [g.overlap_previous for g in lowered])
                feasible = np.logical_and.reduce([b.feasible for b in batches])
                placed = np.logical_and.reduce([b.fits for b in batches])
                group_energy = np.sum([b.energy_pj for b in batches], axis=0)
            latency[rows] = np.where(feasible, cycles / self.arch.clock_hz, np.inf)
            energy[rows] = np.where(feasible, group_energy, np.inf)
            if (~placed).any():  # a larger buffer would lift this, whatever the binding
                reasons[OVERFLOW] += int((~placed).sum())
            if (placed & ~feasible).any():
                reasons[OUT_OF_ORDER] += int((placed & ~feasible).sum())
        return latency, energy, reasons

    def _group(self, structure: int, position: int, group, values: dict, sizes: np.ndarray) -> GroupResult:
        """The group's results for the genomes whose part extents are `values` and whose sizes are `sizes`; a group
        that structures share is evaluated only at sizes no structure evaluated it at before."""

        def evaluate(rows):
            chosen = values if rows is None else {part: v[rows] for part, v in values.items()}
            extents = fill_extents(group.parts, group.extents, chosen)
            return GroupResult.of(evaluate_group_batch(group, self.arch, extents,
                                                       density=self._densities(structure, position, group, extents),
                                                       schedules=self._schedules))

        key = self._shared.key(structure, position)
        return evaluate(None) if key is None else self._shared.take(key, sizes, evaluate)

    def _densities(self, structure: int, position: int, group, extents: np.ndarray) -> np.ndarray | None:
        """[rows, einsums] each row's mask densities at the lengths its tiles cover (`at_covered_lengths`: a
        padded problem runs as the problem at its padded length); None where the cascade has no mask (no
        density depends on a length)."""
        if not self.space.cascade.masks:
            return None
        lengths, which = np.unique(covered_lengths(group, extents), axis=0, return_inverse=True)
        table = np.empty((len(lengths), len(group.einsums)))
        for n, key in enumerate(lengths):
            memo = (structure, position, tuple(key))
            if memo not in self._at_lengths:
                self._at_lengths[memo] = at_covered_lengths(self.space.cascade, group, self.space.shapes, key).density
            table[n] = self._at_lengths[memo]
        return table[which.ravel()]

    def __call__(self, genomes: np.ndarray) -> tuple[np.ndarray, Counter]:
        latency, energy, reasons = self.metrics(genomes)
        if self.objective == "latency":
            return latency, reasons
        if self.objective == "energy":
            return energy, reasons
        if self.objective == "edp":
            return latency * energy, reasons
        return self.weights[0] * latency * self.arch.clock_hz + self.weights[1] * energy / 1e3, reasons


def _rows_by_structure(structures: np.ndarray, legal: np.ndarray):
    """(structure, its legal rows in increasing order) for each structure of the batch, by increasing structure
    (an enumerated batch comes sorted by structure: then no sort)."""
    rows = np.flatnonzero(legal)
    kinds = structures[rows]
    if not (kinds[1:] >= kinds[:-1]).all():
        order = np.argsort(kinds, kind="stable")
        rows, kinds = rows[order], kinds[order]
    starts = np.flatnonzero(np.diff(kinds)) + 1
    for chunk in np.split(rows, starts) if len(rows) else ():
        yield structures[chunk[0]], chunk


def _loop_nest(group) -> tuple:
    """Every field of a lowered group but its name, hashable: what the cost model sees of it."""
    signature = []
    for field in dataclasses.fields(group):
        value = getattr(group, field.name)
        if field.name == "name":
            continue
        if isinstance(value, np.ndarray):
            signature.append((value.shape, value.dtype.str, value.tobytes()))
        elif field.name == "einsums":
            signature.append(tuple(e.name for e in value))
        else:
            signature.append(repr(value))
    return tuple(signature)
