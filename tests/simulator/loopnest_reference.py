"""A slow, literal loop-nest reference for the traffic kernel (`simulator.spatial.kernels.traffic`): the tests' oracle.

For each Einsum of a lowered group it walks the Einsum's loop nest step by step with
`itertools.product`: the DRAM loops in their order, the buffer loops in their order, the spatial folds
of the Einsum's array (a part larger than the array dimension it is bound to is walked in
ceil(extent / size) folds), then the temporal loops inside a tile, non-reduced parts before reduced
ones when the reduced parts are innermost and the reverse otherwise; inside each of these blocks parts
keep the group's part order. The reference picks the in-tile order itself, per Einsum: it walks both and
keeps the one that moves fewer words between the buffer (or staging) and the array, an output update
counting twice (written, and read back as a partial sum); on a tie, reduced parts innermost. Only loops
over parts the Einsum iterates belong to its nest.

At every step each tensor the Einsum touches is looked at through the loops over its parts: it is
accessed only if one of those loop indices changed since the previous step (the same tile is still
held otherwise). Each access moves the tensor's spatial words: the product, over the array dimensions
bound to parts the Einsum and the tensor both have, of min(extent, dimension size). Output updates are
counted the same way; an update of an output element that was already written earlier reads the
partial sum back first (read-modify-write), the first write of an element does not.

DRAM fetches walk the group's DRAM loops only (all of them, whatever the Einsum): a tensor read from
DRAM is fetched when one of the DRAM loops over its parts changed, and a fetch brings its buffer tile
(the product of the extents of its parts that are not DRAM loops); every fetched word is written into
the buffer.

Nothing here shares code or formulas with the kernel: counts come from stepping through the nest.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from simulator.spatial.lower import HOME_CODES, LoweredGroup

REG, STAGING, BUFFER, DRAM = HOME_CODES["reg"], HOME_CODES["staging"], HOME_CODES["buffer"], HOME_CODES["dram"]


@dataclass
class ReferenceCounts:
    """Counts by Einsum name (cycles, steps, updates) and by tensor name (accesses, in words)."""

    cycles: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)  # iterations of the Einsum's loop nest
    updates: dict[str, float] = field(default_factory=dict)  # output words written by the array
    loops: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # the nest walked, outer to inner
    reduced_innermost: dict[str, bool] = field(default_factory=dict)  # the in-tile order chosen per Einsum
    buffer_read: dict[str, float] = field(default_factory=dict)
    buffer_write: dict[str, float] = field(default_factory=dict)
    dram_read: dict[str, float] = field(default_factory=dict)
    staging: dict[str, float] = field(default_factory=dict)


def einsum_loop_nest(lowered: LoweredGroup, extents, e: int, reduced_innermost: bool) -> list[tuple[int, int]]:
    """(part index, trip count) of the loops of Einsum `e`, outermost first."""
    n_parts = len(lowered.parts)
    mine = [bool(lowered.einsum_parts[e][p]) for p in range(n_parts)]
    size = [int(extents[p]) for p in range(n_parts)]
    dram = sorted((p for p in range(n_parts) if lowered.dram_position[p] >= 0), key=lambda p: lowered.dram_position[p])
    buffer = sorted((p for p in range(n_parts) if lowered.buffer_position[p] >= 0),
                    key=lambda p: lowered.buffer_position[p])
    nest = [(p, size[p]) for p in dram + buffer if mine[p]]
    array = int(lowered.einsum_array[e])
    bound = {}  # part -> sizes of the dimensions of this array it is bound to
    for d in range(2):
        part = int(lowered.spatial_part[array][d])
        if part >= 0:
            bound.setdefault(part, []).append(int(lowered.spatial_size[array][d]))
    for p in range(n_parts):
        if mine[p] and p in bound:
            for dim in bound[p]:
                folds = -(-size[p] // dim)
                if folds > 1:
                    nest.append((p, folds))
    inside = [p for p in range(n_parts)
              if mine[p] and p not in dram and p not in buffer and p not in bound]
    reduced = [p for p in inside if lowered.einsum_reduced[e][p]]
    kept = [p for p in inside if not lowered.einsum_reduced[e][p]]
    nest += [(p, size[p]) for p in (kept + reduced if reduced_innermost else reduced + kept)]
    return nest


def _spatial_words(lowered: LoweredGroup, extents, e: int, t: int) -> int:
    array = int(lowered.einsum_array[e])
    words = 1
    for d in range(2):
        part = int(lowered.spatial_part[array][d])
        if part >= 0 and lowered.einsum_parts[e][part] and lowered.tensor_parts[t][part]:
            words *= min(int(extents[part]), int(lowered.spatial_size[array][d]))
    return words


def _walk(trips: list[int], watched: dict[int, list[int]], remember: int | None):
    """Step through a nest with `trips`; per watched key, count the steps at which one of its loop
    positions changed. For `remember`, also count how many of those changes hit a position tuple seen
    before. Returns (steps, changes per key, repeats)."""
    last = {key: None for key in watched}
    changes = dict.fromkeys(watched, 0)
    seen: set[tuple[int, ...]] = set()
    repeats = 0
    steps = 0
    for index in itertools.product(*(range(n) for n in trips)):
        steps += 1
        for key, positions in watched.items():
            here = tuple(index[k] for k in positions)
            if here != last[key]:
                changes[key] += 1
                last[key] = here
                if key == remember:
                    if here in seen:
                        repeats += 1
                    else:
                        seen.add(here)
    return steps, changes, repeats


def reference_counts(lowered: LoweredGroup, extents=None) -> ReferenceCounts:
    """Literal loop-nest counts of a lowered group, each Einsum in the cheaper of its two in-tile orders
    (`ReferenceCounts.reduced_innermost`). `extents` defaults to the lowered group's."""
    extents = lowered.extents if extents is None else np.asarray(extents)
    names = lowered.tensors
    counts = ReferenceCounts()
    for name in names:
        for table in (counts.buffer_read, counts.buffer_write, counts.dram_read, counts.staging):
            table[name] = 0.0
    home = {name: int(lowered.tensor_home[t]) for t, name in enumerate(names)}

    # A tensor read here but homed in DRAM is streamed: no buffer copy, every array read is a DRAM read.
    produced = {einsum.name for einsum in lowered.einsums}
    streamed = {name for t, name in enumerate(names)
                if lowered.tensor_from_dram[t] and name not in produced and home[name] == DRAM}
    # DRAM fetches: the group's DRAM loops, each fetch bringing the tensor's buffer tile.
    dram = sorted((p for p in range(len(lowered.parts)) if lowered.dram_position[p] >= 0),
                  key=lambda p: lowered.dram_position[p])
    for t, name in enumerate(names):
        if not lowered.tensor_from_dram[t] or name in streamed:
            continue
        positions = [k for k, p in enumerate(dram) if lowered.tensor_parts[t][p]]
        _, changes, _ = _walk([int(extents[p]) for p in dram], {t: positions}, None)
        tile = math.prod(int(extents[p]) for p in range(len(lowered.parts))
                         if lowered.tensor_parts[t][p] and lowered.dram_position[p] < 0)
        counts.dram_read[name] += changes[t] * tile
        counts.buffer_write[name] += changes[t] * tile

    for e, einsum in enumerate(lowered.einsums):
        operands = [int(t) for o, t in enumerate(lowered.operand_tensor) if lowered.operand_einsum[o] == e]
        output = names.index(einsum.name)
        walks = {order: _einsum_walk(lowered, extents, e, order, operands, output) for order in (True, False)}
        moved = {order: sum(walk[2][t] * _spatial_words(lowered, extents, e, t) for t in operands
                            if home[names[t]] != REG)
                 + (2 * walk[2][output] * _spatial_words(lowered, extents, e, output) if home[einsum.name] != REG
                    else 0.0) for order, walk in walks.items()}
        order = moved[True] <= moved[False]
        nest, (steps, changes, repeats) = walks[order][0], walks[order][1:]
        counts.reduced_innermost[einsum.name] = order
        counts.loops[einsum.name] = [(lowered.parts[p], n) for p, n in nest]
        density = float(lowered.density[e])
        counts.steps[einsum.name] = steps
        counts.cycles[einsum.name] = steps * float(lowered.cycles_per_point[e]) * density
        for t in operands:  # an operand read twice by the Einsum is read twice
            reads = changes[t] * _spatial_words(lowered, extents, e, t) * density
            if names[t] in streamed:
                counts.dram_read[names[t]] += reads
            elif home[names[t]] == STAGING:
                counts.staging[names[t]] += reads
            elif home[names[t]] != REG:
                counts.buffer_read[names[t]] += reads
        words = _spatial_words(lowered, extents, e, output) * density
        updates = changes[output] * words
        rereads = repeats * words  # partial sums read back before being updated again
        counts.updates[einsum.name] = updates
        if home[einsum.name] == BUFFER:
            counts.buffer_write[einsum.name] += updates
            counts.buffer_read[einsum.name] += rereads
        elif home[einsum.name] == STAGING:
            counts.staging[einsum.name] += updates + rereads
    return counts


def _einsum_walk(lowered: LoweredGroup, extents, e: int, reduced_innermost: bool, operands: list[int], output: int):
    """(nest, steps, changes, repeats) of Einsum `e` walked in one in-tile order."""
    nest = einsum_loop_nest(lowered, extents, e, reduced_innermost)
    watched = {t: [k for k, (p, _) in enumerate(nest) if lowered.tensor_parts[t][p]] for t in set(operands) | {output}}
    return (nest, *_walk([n for _, n in nest], watched, output))
