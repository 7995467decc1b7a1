"""Lower one fused group of a mapping to plain arrays the cost kernels take.

Everything design-specific lives in the mapping and the arch; this module only resolves names
(parts of ranks, tensors, Einsums) to indices and checks legality, rejecting a mapping with the
reason (unsupported operator, a pass boundary inside a group, a binding out of order, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from arch_models import SpatialArch
from arch_models.operators import fused_operators
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.errors import SpecError
from einsum_cascade.expr import RankIndex
from einsum_cascade.model import Cascade, Einsum
from mappers.mapping import Group, Mapping

HOME_CODES = {"reg": 0, "staging": 1, "buffer": 2, "dram": 3}
ARRAY_CODES = {"2d": 0, "1d": 1}


class MappingRejected(SpecError):
    """The mapping is illegal for this cascade, arch and shape; the message says why."""


class CapacityRejected(MappingRejected):
    """The mapping is legal but its tiles do not fit the buffers: a larger buffer would take it."""


def reject(condition: bool, message: str, mapping: Mapping, kind: type[MappingRejected] = MappingRejected) -> None:
    if not condition:
        raise kind(message, source=mapping.source or mapping.name)


@dataclass
class LoweredGroup:
    """One group as arrays. Parts are the loop ranks after splitting (p2, p1, p0, m1, m0, e, ...)."""

    name: str
    parts: list[str]
    extents: np.ndarray  # [parts] float64
    dram_position: np.ndarray  # [parts] int: order among DRAM loops, -1 if not one
    buffer_loop: np.ndarray  # [parts] bool
    buffer_position: np.ndarray  # [parts] int: order among buffer loops, -1 if not one
    spatial_part: np.ndarray  # [2 arrays, 2 dims] int part index or -1
    spatial_size: np.ndarray  # [2, 2] float
    einsums: list[Einsum]
    einsum_parts: np.ndarray  # [einsums, parts] bool
    einsum_reduced: np.ndarray  # [einsums, parts] bool: parts the Einsum reduces
    einsum_array: np.ndarray  # [einsums] int
    cycles_per_point: np.ndarray
    energy_per_point: np.ndarray
    reduce_hop_cycles: np.ndarray  # [einsums] cycles a partial result takes per PE it crosses when reduced spatially
    density: np.ndarray  # [einsums] the masks' densities at the lengths the tiles cover (`at_covered_lengths`)
    stages: np.ndarray
    operand_einsum: np.ndarray  # [operands] int
    operand_tensor: np.ndarray  # [operands] int
    tensors: list[str]
    tensor_parts: np.ndarray  # [tensors, parts] bool
    tensor_home: np.ndarray  # [tensors] int (HOME_CODES)
    tensor_from_dram: np.ndarray  # [tensors] bool: read from DRAM (input of the cascade or of an earlier group)
    tensor_to_dram: np.ndarray  # [tensors] bool: written to DRAM (output, read by a later group, or home dram)
    tensor_spill: np.ndarray  # [tensors] bool
    tensor_copies: np.ndarray  # [tensors] float: buffer copies (pipeline stages it stays live, double buffering)
    tensor_storage: np.ndarray  # [tensors] bool: owns storage (False when written in place of an operand)
    deps: np.ndarray  # [tasks, tasks] bool (tasks = einsums + 1 DRAM task)
    recurrence: np.ndarray  # [tasks, tasks] bool
    recurrence_part: int  # part index of the loop a recurrence advances over, -1 if none
    tiles_in_flight: int
    overlap_previous: bool
    auto_parts: list[str]  # parts sized "max_fit"
    split_ranks: list[str]  # ranks cut into several parts: where a tile that does not divide leaves padding
    split_parts: np.ndarray  # [split ranks, parts] bool
    split_totals: np.ndarray  # [split ranks] float: each one's length at these shapes (per call: `lower_group`)
    split_shared: np.ndarray  # [split ranks] int: the outer part it shares with another split rank (chunks), or -1
    span_patterns: np.ndarray  # [patterns, split ranks] bool: the distinct sets of split ranks spanned whole
    einsum_span: np.ndarray  # [einsums] int: the pattern of the split ranks an Einsum iterates over every part of
    tensor_span: np.ndarray  # [tensors] int: the pattern of the split ranks a tensor has every part of
    real_density: np.ndarray  # [einsums] the masks' densities at the real lengths: what is useful work


def instance_ranks(cascade: Cascade) -> MappingProxyType:
    """Implicit outer ranks for the independent copies: `B*H` -> {b: B, h: H} (read-only: every caller shares it)."""
    return _instance_ranks(cascade.instances)


@lru_cache(maxsize=64)
def _instance_ranks(instances: str) -> MappingProxyType:
    symbols = [s.strip() for s in instances.split("*") if s.strip() and not s.strip().isdigit()]
    return MappingProxyType({s.lower(): s for s in symbols})


def rank_parts(cascade: Cascade, group: Group) -> dict[str, tuple[str, ...]]:
    """Cascade rank (or cascade partition part, or instance rank) -> the loop parts it expands to."""
    expansion: dict[str, tuple[str, ...]] = {}
    for rank in list(cascade.shapes) + list(instance_ranks(cascade)):
        if cascade.partition_of_parent(rank):
            expansion[rank] = cascade.partition_of_parent(rank).parts
        else:
            expansion[rank] = group.splits.get(rank, (rank,))
    return expansion


def array_dimension(arch: SpatialArch, name: str) -> int:
    """A size written as an array dimension: `rows`/`cols` of the 2D array, `lanes` of the 1D array."""
    return {"rows": arch.array_2d.rows, "cols": arch.array_2d.cols, "lanes": arch.array_1d.cols}[name]


def part_extents(cascade: Cascade, mapping: Mapping, group: Group, shapes: dict[str, int],
                 auto_values: dict[str, int], arch: SpatialArch) -> dict[str, int]:
    """Size of every loop part. A tile that does not divide the rank it splits leaves a short last tile,
    padded: the outermost part counts ceil(rank / inner tiles) and every tile is costed whole (a fixed schedule
    runs the full tile; `padded_ranks` says how much is padding). An algorithm's blocks (`Cascade.fixed_tiles`)
    are padded the same way."""
    group_sizes = _resolved_sizes(group, arch)
    sizes = dict(shapes)
    extents: dict[str, int] = {}
    instances = instance_ranks(cascade)
    for rank, symbol in instances.items():
        reject(symbol in sizes, f"no size for {symbol} (instances {cascade.instances})", mapping)
        extents[rank] = sizes[symbol]
    fixed = cascade.fixed_tiles()
    for partition in cascade.partitions:  # the cascade's own tile, possibly sized by the mapping
        default_tile = cascade.algorithm_block(partition, sizes) if partition.tile_symbol in fixed else \
            sizes.get(partition.tile_symbol, cascade.params[partition.tile_symbol])
        tile = group_sizes.get(partition.inner, default_tile)
        total = sizes.get(cascade.shapes[partition.parent])
        if partition.tile_symbol in fixed and total is not None and tile >= total == default_tile:
            tile = default_tile  # a block at least as long as the rank is the rank: one block either way
        reject(partition.tile_symbol not in fixed or tile == default_tile,
               f"group {group.name} sizes {partition.inner} = {tile}, but cascade {cascade.name}'s outputs depend "
               f"on {partition.tile_symbol} = {float(default_tile):g} (its blocks are part of the algorithm, not a "
               "tiling)",
               mapping)
        sizes[partition.tile_symbol] = int(tile)
    for rank, symbol in cascade.shapes.items():
        if cascade.partition_of_part(rank):
            continue
        total = sizes.get(symbol, cascade.params.get(symbol))
        reject(total is not None, f"no size for rank {rank} ({symbol})", mapping)
        partition = cascade.partition_of_parent(rank)
        if partition:
            tile = sizes[partition.tile_symbol]
            shared = [p for p in cascade.partitions if p.outer == partition.outer]
            reject(len({sizes[p.tile_symbol] for p in shared}) == 1,
                   f"group {group.name} sizes {' and '.join(p.inner for p in shared)} differently, but they cut ranks "
                   f"{' and '.join(p.parent for p in shared)} into the same chunks {partition.outer}: one size",
                   mapping)
            # a short last tile is padded; a chunk rank shared by queries and keys runs to the longer of its parents
            extents[partition.inner] = tile
            extents[partition.outer] = max(extents.get(partition.outer, 0), -(-total // tile))
            continue
        parts = group.splits.get(rank, (rank,))
        inner = 1
        for part in reversed(parts[1:]):
            size = group_sizes.get(part, 1)
            size = auto_values.get(part, 1) if size == "max_fit" else int(size)
            extents[part] = size
            inner *= size
        extents[parts[0]] = -(-total // inner)  # a short last tile is padded
    return extents


def _resolved_sizes(group: Group, arch: SpatialArch) -> dict:
    """The group's sizes with those written as an array dimension (`rows`, `cols`, `lanes`) made numbers."""
    named = {part: array_dimension(arch, size) for part, size in group.sizes.items()
             if size in ("rows", "cols", "lanes")}
    return {**group.sizes, **named} if named else group.sizes


def lower_group(cascade: Cascade, arch: SpatialArch, mapping: Mapping, position: int, shapes: dict[str, int],
                auto_values: dict[str, int] | None = None) -> LoweredGroup:
    """Group `position` of `mapping` as arrays at these shapes (and `max_fit` sizes). The shape-free structure
    is lowered once per (cascade, arch, group and its place among the groups: `_structure`) and reused; only
    the extents and densities are per call (a sweep lowers the same group at every point and for every probe
    of a `max_fit` size)."""
    structure = _structure(cascade, arch, mapping, position, shapes)
    extents = part_extents(cascade, mapping, mapping.groups[position], shapes, auto_values or {}, arch)
    density = _frozen(np.array([_density(cascade, e, shapes) for e in structure.einsums]))
    lowered = replace(structure, extents=_frozen(np.array([float(extents[p]) for p in structure.parts])),
                      density=density, real_density=density,
                      split_totals=_frozen(_rank_lengths(cascade, structure.split_ranks, shapes)))
    lowered = _with_choices(cascade, arch, lowered, shapes)
    return at_covered_lengths(cascade, lowered, shapes, covered_lengths(lowered, lowered.extents[None, :])[0])


def covered_lengths(lowered: LoweredGroup, extents: np.ndarray) -> np.ndarray:
    """[rows, split ranks] the length the tiles of each row cover: a split rank's length, padded."""
    return np.stack([np.prod(extents[:, parts], axis=1) for parts in lowered.split_parts], axis=1).reshape(
        len(extents), len(lowered.split_ranks))


def at_covered_lengths(cascade: Cascade, lowered: LoweredGroup, shapes: dict[str, int],
                       covered: np.ndarray) -> LoweredGroup:
    """The group with its masks' densities at the lengths its tiles cover (`covered`, one per split rank): a
    padded problem runs as the problem at its padded length, the padding being positions past the end (a
    window mask keeps W of Lp keys, not W of L). `real_density` keeps the densities at the real lengths, for
    the useful work."""
    if not cascade.masks:
        return lowered
    if np.array_equal(covered, lowered.split_totals):  # whatever lengths the group was lowered at
        return replace(lowered, density=lowered.real_density)
    padded = dict(shapes)
    for symbol, length in zip(_rank_symbols(cascade, lowered.split_ranks), covered, strict=True):
        padded[symbol] = int(length)
    return replace(lowered, density=_frozen(np.array([_density(cascade, e, padded) for e in lowered.einsums])))


def _rank_symbols(cascade: Cascade, ranks: list[str]) -> list[str]:
    return [cascade.shapes.get(r) or instance_ranks(cascade)[r] for r in ranks]


def _rank_lengths(cascade: Cascade, ranks: list[str], shapes: dict[str, int]) -> np.ndarray:
    sizes = {**cascade.params, **shapes}  # every one has a size: `part_extents` refused the mapping otherwise
    return np.array([float(sizes[s]) for s in _rank_symbols(cascade, ranks)])


def padded_ranks(lowered: LoweredGroup) -> dict[str, tuple[int, int]]:
    """Split rank -> (its length, the length its tiles cover) where a short last tile is padded."""
    covered = covered_lengths(lowered, lowered.extents[None, :])[0]
    return {rank: (int(total), int(cover)) for rank, total, cover in
            zip(lowered.split_ranks, lowered.split_totals, covered, strict=True) if cover > total}


def _with_choices(cascade: Cascade, arch: SpatialArch, lowered: LoweredGroup, shapes: dict) -> LoweredGroup:
    """The compares of a selection's top-KB choice on the Einsum computing its scores, with KB of these shapes
    (the cached structure is shape-free)."""
    counts = [cascade.selection_compares(e.name, shapes) for e in lowered.einsums]
    if not any(counts):
        return lowered
    units = (arch.array_2d, arch.array_1d)
    compare = [units[code].cost("max") for code in lowered.einsum_array]
    return replace(lowered, cycles_per_point=_frozen(lowered.cycles_per_point + np.array(
        [n * c.cycles for n, c in zip(counts, compare, strict=True)])), energy_per_point=_frozen(
        lowered.energy_per_point + np.array([n * c.energy_pj for n, c in zip(counts, compare, strict=True)])))


_STRUCTURES: dict[tuple, tuple] = {}  # (ids of cascade and arch, position, group) -> (those objects, structure)
_STRUCTURES_KEPT = 1024  # the oldest is dropped beyond this many


def _structure(cascade: Cascade, arch: SpatialArch, mapping: Mapping, position: int,
               shapes: dict[str, int]) -> LoweredGroup:
    """The cached lowering of a group; its arrays are read-only, since every caller shares them. A group lowers
    the same in every mapping that has it at the same position among groups of the same Einsums (a mapper's
    structures share many), so that is the key. An entry keeps its cascade and arch alive, so their ids cannot
    be reused by other objects while it is cached."""
    key = (id(cascade), id(arch), position, tuple(g.einsums for g in mapping.groups), repr(mapping.groups[position]))
    entry = _STRUCTURES.get(key)
    if entry is None:
        lowered = _lower(cascade, arch, mapping, position, shapes)
        for field in fields(lowered):
            value = getattr(lowered, field.name)
            if isinstance(value, np.ndarray):
                _frozen(value)
        if len(_STRUCTURES) >= _STRUCTURES_KEPT:
            del _STRUCTURES[next(iter(_STRUCTURES))]
        entry = _STRUCTURES[key] = (cascade, arch, lowered)
    return entry[2]


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _lower(cascade: Cascade, arch: SpatialArch, mapping: Mapping, position: int,
           shapes: dict[str, int]) -> LoweredGroup:
    """Lower group `position`: names to indices, legality checks. Extents and densities are those of `shapes`
    with every `max_fit` part at 1; `lower_group` replaces them per call."""
    group = mapping.groups[position]
    refused = cascade.scan_refused("spatial cost model")
    reject(refused is None, refused or "", mapping)
    names = [e.name for e in cascade.einsums]
    members = names if group.einsums == ("all",) else list(group.einsums)
    for name in members:
        reject(name in names, f"group {group.name}: {name} is not an Einsum of cascade {cascade.name}", mapping)
    tensors = set(names) | set(cascade.input_names)
    for key, named in (("homes", group.homes), ("spill", group.spill)):
        for tensor in named:
            reject(tensor in tensors, f"group {group.name}: {key} names {tensor}, which is not a tensor of cascade "
                   f"{cascade.name} ({', '.join(sorted(tensors))})", mapping)
    for key, named in (("arrays", set(group.arrays) - {"default"}), ("stages", group.stages)):
        for einsum in named:
            reject(einsum in members, f"group {group.name}: {key} names {einsum}, which is not an Einsum of this "
                   f"group ({', '.join(members)}{', or default' if key == 'arrays' else ''})", mapping)
    einsums = [cascade.einsum(n) for n in names if n in members]
    expansion = rank_parts(cascade, group)
    extents = part_extents(cascade, mapping, group, shapes, {}, arch)
    parts = list(extents)
    index = {p: n for n, p in enumerate(parts)}
    for loop in group.loops:
        reject(loop in index, f"group {group.name}: loop {loop} is not a part of any rank ({', '.join(parts)})",
               mapping)

    rows: dict[tuple, np.ndarray] = {}  # ranks -> their parts (with the instance ranks), built once per lowering

    def parts_of(ranks) -> np.ndarray:
        ranks = tuple(ranks)
        if ranks not in rows:
            row = rows[ranks] = np.zeros(len(parts), dtype=np.bool_)
            for rank in ranks + tuple(instance_ranks(cascade)):
                for part in expansion.get(rank, (rank,)):
                    row[index[part]] = True
        return rows[ranks]

    spatial_part = -np.ones((2, 2), dtype=np.int64)
    spatial_size = np.ones((2, 2))
    arrays = {"2d": arch.array_2d, "1d": arch.array_1d}
    for array, dims in group.spatial.items():
        unit = arrays[array]
        for dim, part in dims.items():
            reject(part in index, f"group {group.name}: spatial part {part} is not a part of any rank", mapping)
            reject(part not in group.loops, f"group {group.name}: {part} is both a loop and spatial", mapping)
            d = {"rows": 0, "cols": 1, "lanes": 0}[dim]
            spatial_part[ARRAY_CODES[array], d] = index[part]
            spatial_size[ARRAY_CODES[array], d] = unit.rows if dim == "rows" else unit.cols
    einsum_array, cpp, epp, stages, hop = [], [], [], [], []
    for einsum in einsums:
        array = group.arrays.get(einsum.name, group.arrays.get("default"))
        reject(array in ARRAY_CODES, f"group {group.name}: no array for Einsum {einsum.name} (add it under arrays)",
               mapping)
        unit = arrays[array]
        kinds = fused_operators(einsum, set(unit.operators))
        choice = ["max"] if cascade.selection_keeps(einsum.name) else []  # its compares: per call (`lower_group`)
        for kind in kinds + choice:
            reject(unit.supports(kind), f"Einsum {einsum.name} needs operator {kind}, which the {array} array of "
                   f"{arch.name} does not support (it has {', '.join(unit.operators)})", mapping)
        einsum_array.append(ARRAY_CODES[array])
        cpp.append(sum(unit.cost(k).cycles for k in kinds))
        epp.append(sum(unit.cost(k).energy_pj for k in kinds))
        hop.append(_reduce_hop_cycles(einsum, kinds, unit))
        stages.append(group.stages.get(einsum.name, 0))
    tensors = list(dict.fromkeys([r for e in einsums for r in e.input_names] + [e.name for e in einsums]))
    produced = {e.name: n for n, e in enumerate(einsums)}
    later = {r for g in range(position + 1, len(mapping.groups)) for e in _members(cascade, mapping, g)
             if e in names for r in cascade.einsum(e).input_names}  # unknown names: rejected in their group
    outputs = {ref.name for ref in cascade.outputs}
    split = [rank for rank, expanded in expansion.items() if len(expanded) > 1]
    split_parts = np.array([[p in expansion[rank] for p in parts] for rank in split], dtype=bool).reshape(
        len(split), len(parts))
    homes, from_dram, to_dram = [], [], []
    for tensor in tensors:
        default = "buffer"  # inputs and earlier groups' results alike are staged in the buffer unless homed dram
        home = group.homes.get(tensor, default)
        homes.append(HOME_CODES[home])
        read_here = any(tensor in e.input_names for e in einsums)
        from_dram.append(tensor not in produced or (home == "dram" and read_here))
        to_dram.append(tensor in produced and (tensor in outputs or tensor in later or home == "dram"))
    operand_einsum, operand_tensor = [], []
    for n, einsum in enumerate(einsums):
        for name in einsum.input_names:
            operand_einsum.append(n)
            operand_tensor.append(tensors.index(name))
    lowered = LoweredGroup(
        name=group.name, parts=parts, extents=np.array([float(extents[p]) for p in parts]),
        dram_position=np.array([group.dram_loops.index(p) if p in group.dram_loops else -1 for p in parts]),
        buffer_loop=np.array([p in group.buffer_loops for p in parts]),
        buffer_position=np.array([group.buffer_loops.index(p) if p in group.buffer_loops else -1 for p in parts]),
        spatial_part=spatial_part, spatial_size=spatial_size, einsums=einsums,
        einsum_parts=np.array([parts_of(e.iteration_ranks) for e in einsums]),
        einsum_reduced=np.array([parts_of(e.reduced_ranks) & ~parts_of(()) for e in einsums]),
        einsum_array=np.array(einsum_array), cycles_per_point=np.array(cpp, dtype=float),
        energy_per_point=np.array(epp, dtype=float), reduce_hop_cycles=np.array(hop, dtype=float),
        density=np.ones(len(einsums)), stages=np.array(stages),  # the shapes' densities: per call (lower_group)
        operand_einsum=np.array(operand_einsum), operand_tensor=np.array(operand_tensor), tensors=tensors,
        tensor_parts=np.array([parts_of(cascade.tensor_ranks[t]) for t in tensors]),
        tensor_home=np.array(homes), tensor_from_dram=np.array(from_dram), tensor_to_dram=np.array(to_dram),
        tensor_spill=np.array([t in group.spill for t in tensors]),
        tensor_copies=np.ones(len(tensors)), tensor_storage=np.ones(len(tensors), dtype=bool),
        deps=np.zeros((len(einsums) + 1, len(einsums) + 1), dtype=bool),
        recurrence=np.zeros((len(einsums) + 1, len(einsums) + 1), dtype=bool), recurrence_part=-1,
        tiles_in_flight=group.tiles_in_flight or (max(stages, default=0) + 2),
        overlap_previous=group.overlap_previous,
        auto_parts=[p for p, s in group.sizes.items() if s == "max_fit"],
        split_ranks=split, split_parts=split_parts, split_shared=_shared_outer(split_parts),
        split_totals=np.zeros(len(split)),  # the shapes' lengths: per call (lower_group)
        **_span_patterns([parts_of(e.iteration_ranks) for e in einsums],
                         [parts_of(cascade.tensor_ranks[t]) for t in tensors], split_parts),
        real_density=np.ones(len(einsums)),
    )
    deepest = max(stages, default=0)
    reject(lowered.tiles_in_flight > deepest, f"group {group.name}: tiles_in_flight = {lowered.tiles_in_flight} "
           f"but stage {deepest} works on the tile {deepest} behind stage 0, so at least {deepest + 1} tiles "
           f"(stage 0's to stage {deepest}'s) must be in flight", mapping)
    _dependencies(cascade, mapping, group, lowered, produced, index, expansion)
    _storage(lowered, produced)
    lowered.reduce_hop_cycles *= _returns_to_own_array(lowered)
    return lowered


def _shared_outer(split_parts: np.ndarray) -> np.ndarray:
    """[split ranks] the part a split rank shares with another (queries and keys cut into the same chunks: their
    outer part), or -1."""
    shared = -np.ones(len(split_parts), dtype=np.int64)
    for r, parts in enumerate(split_parts):
        common = np.flatnonzero(parts & split_parts[np.arange(len(split_parts)) != r].any(axis=0))
        if len(common):
            shared[r] = common[0]
    return shared


def _span_patterns(einsum_rows: list[np.ndarray], tensor_rows: list[np.ndarray], split_parts: np.ndarray) -> dict:
    """Which split ranks each Einsum and tensor (rows of parts) spans whole, as the few distinct patterns and an
    index into them per Einsum and tensor (the costs kernel works out a padded row's real fraction once per
    pattern)."""
    spans = [tuple(bool(row[parts].all()) for parts in split_parts) for row in einsum_rows + tensor_rows]
    patterns = list(dict.fromkeys(spans)) or [()]
    index = np.array([patterns.index(s) for s in spans], dtype=np.int64)
    return {"span_patterns": np.array(patterns, dtype=bool).reshape(len(patterns), len(split_parts)),
            "einsum_span": index[:len(einsum_rows)], "tensor_span": index[len(einsum_rows):]}


def _streamed(lowered: LoweredGroup, tensor: int, producer: int, readers: list[int]) -> bool:
    """A register-homed result that flows straight into its readers: each reader is element-wise over exactly
    the tensor's parts (reads every element once, as it is produced) in the producer's pipeline stage. It
    occupies a pipeline latch, not register entries (FuseMax's SLNV and SPNV stream into RNV on the 1D array,
    REFERENCE.md §1 "FuseMax mapping and binding": only Q, RM, RD and RNV need the buffer)."""
    if lowered.tensor_home[tensor] != HOME_CODES["reg"] or not readers:
        return False
    parts = lowered.tensor_parts[tensor]
    return all(not lowered.einsum_reduced[r].any() and np.array_equal(lowered.einsum_parts[r], parts)
               and lowered.stages[r] == lowered.stages[producer] for r in readers)


def _returns_to_own_array(lowered: LoweredGroup) -> np.ndarray:
    """[einsums] whether an Einsum's result comes back, within the tile, to an Einsum on its own array through
    a consumer on another one (FuseMax: LM on the 2D array -> RM on the 1D array -> SLN on the 2D array). Only
    then does the hop latency of a spatial reduction hold the array up: a result that leaves for good drains
    while the array goes on, a pipeline drain that the ideal timing mode, like the FuseMax paper, does not
    charge (docs/fusemax-deviations.md)."""
    n = len(lowered.einsums)
    reach = lowered.deps[:n, :n].T.copy()  # reach[producer, consumer]: consumer reads producer in the same tile
    for middle in range(n):  # transitive closure (Floyd-Warshall on booleans)
        reach |= reach[:, [middle]] & reach[[middle], :]
    arrays = lowered.einsum_array
    returns = np.zeros(n)
    for producer in range(n):
        away = reach[producer] & (arrays != arrays[producer])
        back = reach[producer] & (arrays == arrays[producer])
        returns[producer] = float(bool(away.any() and (reach[away][:, back]).any()))
    return returns


def _reduce_hop_cycles(einsum: Einsum, kinds: list[str], unit) -> float:
    """Cycles of the reduction operator a partial result passes through at each PE (the accumulate of a
    fused MAC, else the reduce operator); 0 for an Einsum that reduces nothing."""
    if not einsum.reduced_ranks:
        return 0.0
    return unit.cost("mac" if "mac" in kinds else einsum.reduce_op.value).cycles


def _members(cascade: Cascade, mapping: Mapping, position: int) -> list[str]:
    group = mapping.groups[position]
    return [e.name for e in cascade.einsums] if group.einsums == ("all",) else list(group.einsums)


def _density(cascade: Cascade, einsum: Einsum, shapes: dict[str, int]) -> float:
    touched = set(einsum.iteration_ranks)
    value = 1.0
    for mask in cascade.masks:
        if cascade.restricts(mask, einsum.name, touched):
            from einsum_cascade.analysis.symbols import mask_density  # sympy: loaded only for a mask

            value *= mask_density(mask, cascade, shapes)
    return value


def _dependencies(cascade, mapping, group, lowered: LoweredGroup, produced, index, expansion) -> None:
    """Same-tile producer edges, recurrence edges across tiles, and the DRAM task (last task) feeding readers."""
    dram_task = len(lowered.einsums)
    loops = list(group.loops)
    for n, einsum in enumerate(lowered.einsums):
        for ref in einsum.input_refs:
            t = lowered.tensors.index(ref.name)
            if lowered.tensor_from_dram[t]:
                lowered.deps[n, dram_task] = True
            if ref.name not in produced:
                continue
            producer = lowered.einsums[produced[ref.name]]
            previous = producer.recurrence_rank and any(
                isinstance(i, RankIndex) and i.rank == producer.recurrence_rank and i.offset == 0 for i in ref.indices)
            if previous:
                if producer.recurrence_rank in loops:
                    lowered.recurrence[n, produced[ref.name]] = True
                    lowered.recurrence_part = index[producer.recurrence_rank]
                continue
            lowered.deps[n, produced[ref.name]] = True
            reject(lowered.stages[n] >= lowered.stages[produced[ref.name]],
                   f"group {group.name}: {einsum.name} (stage {lowered.stages[n]}) reads {ref.name} of the same tile, "
                   f"which is produced in the later stage {lowered.stages[produced[ref.name]]}: a consumer cannot "
                   "run ahead of its producer", mapping)
            reduced_loops = [p for r in producer.reduced_ranks for p in expansion.get(r, (r,)) if p in loops]
            consumer_parts = {p for r in einsum.iteration_ranks for p in expansion.get(r, (r,))}
            blocking = [p for p in reduced_loops if p in consumer_parts]
            if blocking:  # the pass analysis only names the pass in the message
                passes = analyze_passes(cascade, _first_rank(cascade))
                reject(False, f"group {group.name}: {einsum.name} needs {ref.name} complete over loop "
                       f"{blocking[0]}, a pass boundary (pass {passes.pass_of.get(einsum.name)}): "
                       "put it in a later group or do not loop over that part", mapping)
        for mask in cascade.masks:  # a selection restricting this Einsum reads every score along its rank
            if not (mask.select and mask.select.scores in produced
                    and cascade.restricts(mask, einsum.name, set(einsum.iteration_ranks))):
                continue
            scores = produced[mask.select.scores]
            lowered.deps[n, scores] = True
            reject(lowered.stages[n] >= lowered.stages[scores],
                   f"group {group.name}: {einsum.name} (stage {lowered.stages[n]}) is restricted by mask {mask.name}, "
                   f"whose scores {mask.select.scores} of the same tile are produced in the later stage "
                   f"{lowered.stages[scores]}: a consumer cannot run ahead of its producer", mapping)
            # the Einsum covers the rank chosen along (`restricts`), so a loop over it is a loop of this Einsum
            blocking = [p for p in expansion.get(mask.select.over, (mask.select.over,)) if p in loops]
            reject(not blocking, f"group {group.name}: {einsum.name} is restricted by mask {mask.name}, whose choice "
                   f"needs every {mask.select.scores} over loop {blocking[0] if blocking else ''}, a pass boundary: "
                   f"put {mask.select.scores} in an earlier group", mapping)


def _first_rank(cascade: Cascade) -> str:
    return "M" if "M" in cascade.shapes.values() else next(iter(cascade.shapes.values()))


def _storage(lowered: LoweredGroup, produced: dict[str, int]) -> None:
    """Buffer copies per tensor: pipeline stages it stays live, double buffering of refetched inputs,
    and in-place updates (an element-wise Einsum overwriting an operand it is the last reader of)."""
    stages = lowered.stages
    readers: dict[int, list[int]] = {}
    for e, t in zip(lowered.operand_einsum, lowered.operand_tensor, strict=True):
        readers.setdefault(int(t), []).append(int(e))
    owner = list(range(len(lowered.tensors)))
    for n, einsum in enumerate(lowered.einsums):
        if einsum.reduced_ranks or einsum.recurrence_rank:
            continue
        out = lowered.tensors.index(einsum.name)
        for name in einsum.input_names:
            t = lowered.tensors.index(name)
            same_shape = np.array_equal(lowered.tensor_parts[t], lowered.tensor_parts[out])
            if name in produced and same_shape and max(readers[t]) == n and lowered.tensor_home[t] == \
                    lowered.tensor_home[out]:
                owner[out] = owner[t]
                lowered.tensor_storage[out] = False
                break
    for t, name in enumerate(lowered.tensors):
        chain_root = any(owner[u] == t for u in range(len(owner)) if u != t)  # others live in its storage
        if name in produced and not chain_root and _streamed(lowered, t, produced[name], readers.get(t, [])):
            lowered.tensor_storage[t] = False
    first_stage: dict[int, int] = {}
    last_stage: dict[int, int] = {}
    for t, name in enumerate(lowered.tensors):
        root = owner[t]
        born = stages[produced[name]] if name in produced else 0
        read = max((stages[e] for e in readers.get(t, [])), default=born)
        first_stage[root] = min(first_stage.get(root, born), born)
        last_stage[root] = max(last_stage.get(root, read), read)
    innermost = int(np.argmax(lowered.dram_position)) if lowered.dram_position.max() >= 0 else -1
    for t in range(len(lowered.tensors)):
        if owner[t] == t:
            lowered.tensor_copies[t] = last_stage[t] - first_stage[t] + 1
            streamed = innermost >= 0 and lowered.tensor_parts[t, innermost]
            if lowered.tensor_from_dram[t] and lowered.tensors[t] not in produced and streamed:
                lowered.tensor_copies[t] = max(lowered.tensor_copies[t], 2.0)  # double-buffered stream
