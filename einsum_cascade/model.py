"""Immutable domain objects of the language: Partition, Einsum, Cascade.

Built only by `einsum_cascade.parse` after validation, so every object here is consistent:
ranks are known, tensors are defined before use, iterative Einsums have initial values.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from einsum_cascade.errors import SpecError
from einsum_cascade.expr import Expr, FinalIndex, Position, RankIndex, Symbol, TensorRef, tensor_refs, walk
from einsum_cascade.masks import Mask, expression_names
from einsum_cascade.ops import Op


@dataclass(frozen=True, slots=True)
class Partition:
    """`m -> m1, m0`: rank `parent` split into an outer rank (ceil(M/M0) tiles) and an inner rank of M0."""

    parent: str
    outer: str
    inner: str
    tile_symbol: str

    @property
    def parts(self) -> tuple[str, str]:
        return (self.outer, self.inner)


@dataclass(frozen=True, slots=True)
class Einsum:
    """One line of a cascade: `output = expr` reduced over the ranks missing from the output."""

    output: TensorRef
    expr: Expr
    reduce_op: Op
    iteration_ranks: tuple[str, ...]  # output ranks first, then the reduced ranks
    reduced_ranks: tuple[str, ...]
    recurrence_rank: str | None  # `m1` for `RM[m1+1,p] = ...`
    text: str
    line: int | None = None
    refs: tuple[TensorRef, ...] = field(default=(), init=False, repr=False, compare=False)  # from `expr`
    names: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)  # of `refs`, once each

    def __post_init__(self):
        # the lowering asks for an Einsum's inputs many times per mapping: walk the expression once
        object.__setattr__(self, "refs", tuple(tensor_refs(self.expr)))
        object.__setattr__(self, "names", tuple(dict.fromkeys(ref.name for ref in self.refs)))

    def __hash__(self) -> int:
        """By its line's text and number, which equal Einsums share: cheap, where hashing the expression tree is
        not (Einsums key the caches of the lowering)."""
        return hash((self.text, self.line))

    @property
    def name(self) -> str:
        return self.output.name

    @property
    def output_ranks(self) -> tuple[str, ...]:
        return tuple(i.rank for i in self.output.indices if isinstance(i, RankIndex))

    @property
    def input_refs(self) -> list[TensorRef]:
        return list(self.refs)

    @property
    def input_names(self) -> list[str]:
        return list(self.names)


@dataclass(frozen=True, slots=True)
class Alignment:
    """How one index group of a reference lines up with the stored (canonical) ranks of a tensor.

    kind `same`: one stored rank, one index; `split`: a stored parent rank read as its parts
    (`K[e,m1,m0]` for `K[e,m]`); `merge`: stored parts read as the parent.
    """

    kind: str
    stored: tuple[str, ...]
    indices: tuple[RankIndex | FinalIndex, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Cascade:
    name: str
    version: str
    description: str
    shapes: dict[str, str]  # rank -> shape symbol, parts of partitions included
    params: dict[str, float]  # symbol -> default value (tile sizes, window widths, ...)
    partitions: tuple[Partition, ...]
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef, ...]
    initial: dict[str, float]
    masks: tuple[Mask, ...]
    einsums: tuple[Einsum, ...]
    tensor_ranks: dict[str, tuple[str, ...]]  # stored rank order of every tensor
    query_ranks: tuple[str, ...]
    instances: str  # how many independent copies run, e.g. "B*H"
    reference: str | None
    source: str
    text: str = field(repr=False, default="")
    aligned: dict = field(default_factory=dict)  # query rank -> key rank it reads at its own position ({p: m})
    by_name: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # Einsum name -> Einsum
    # selection mask name -> the Einsums its scores are computed from (the scores' own included): not restricted
    before_selection: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # outer parts of more than one partition (queries and keys cut into the same chunks)
    shared_outers: frozenset = field(default=frozenset(), init=False, repr=False, compare=False)
    # tile symbols the outputs depend on (`fixed_tiles`)
    fixed_tile_symbols: frozenset = field(default=frozenset(), init=False, repr=False, compare=False)
    # (Einsum, reference) of every read of a scan's state at a query position (`position_reads`)
    scan_reads: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {e.name: e for e in self.einsums})
        upstream = {}
        selections = [m for m in self.masks if m.select is not None]
        for mask in selections:
            seen, stack = set(), [mask.select.scores]
            while stack:
                name = stack.pop()
                if name in self.by_name and name not in seen:
                    seen.add(name)
                    stack += self.by_name[name].input_names
            upstream[mask.name] = frozenset(seen)
        object.__setattr__(self, "before_selection", upstream)
        outers = [p.outer for p in self.partitions]
        object.__setattr__(self, "shared_outers", frozenset(o for o in outers if outers.count(o) > 1))
        object.__setattr__(self, "fixed_tile_symbols", self._fixed_tiles())
        object.__setattr__(self, "scan_reads", tuple(self._position_reads()))
        for first in selections:  # each restricting what the other's scores come from: neither can be chosen first
            for second in selections[selections.index(first) + 1:]:
                if self._restricts_any(first, second) and self._restricts_any(second, first):
                    raise SpecError(f"selection masks {first.name} and {second.name} each restrict Einsums the "
                                    "other's scores are computed from, so neither choice can be made first",
                                    source=self.source, key=f"masks.{second.name}")

    def _restricts_any(self, mask: Mask, other: Mask) -> bool:
        """Whether `mask` restricts an Einsum that `other`'s scores are computed from."""
        return any(self.restricts(mask, name, set(self.by_name[name].iteration_ranks))
                   for name in self.before_selection[other.name])

    def content_hash(self) -> str:
        """Stable key for caches: a hash of the cascade's source text."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cascade) and self.text == other.text

    # ---- rank helpers -------------------------------------------------------------------------
    def partition_of_parent(self, rank: str) -> Partition | None:
        return next((p for p in self.partitions if p.parent == rank), None)

    def partition_of_parts(self, parts) -> Partition:
        """The partition into exactly these (outer, inner) parts (an outer part may be shared by two)."""
        return next(p for p in self.partitions if p.parts == tuple(parts))

    def partition_of_part(self, rank: str) -> Partition | None:
        return next((p for p in self.partitions if rank in p.parts), None)

    def family(self, rank: str) -> set[str]:
        """A rank together with its parts (or its parent and sibling) in a partition."""
        partition = self.partition_of_parent(rank) or self.partition_of_part(rank)
        return {rank} if partition is None else {partition.parent, *partition.parts}

    def covers(self, rank: str, touched: set[str]) -> bool:
        """Whether a space over the ranks `touched` covers `rank` (itself or a part of it): a shared outer part
        alone belongs to both of its parents, so it covers neither."""
        return bool((self.family(rank) - (self.shared_outers - {rank})) & touched)

    def partition_used(self, partition: Partition, touched: set[str]) -> bool:
        """Whether a space over `touched` walks this partition's parts (a shared outer part alone does not)."""
        return bool((set(partition.parts) - self.shared_outers) & touched)

    def restricts(self, mask: Mask, einsum: str, touched: set[str]) -> bool:
        """Whether `mask` removes points of Einsum `einsum`, whose space covers the ranks `touched`: it covers
        every rank of the mask (through a partition), it is one of the mask's `einsums` if it names some, and, for
        a selection mask, it is not one the selection's scores are computed from (they run before the choice)."""
        return (all(self.covers(r, touched) for r in mask.ranks(set(self.shapes)))
                and (mask.only is None or einsum in mask.only)
                and einsum not in self.before_selection.get(mask.name, ()))

    def selection_inputs(self, einsum: Einsum) -> list[str]:
        """The score tensors of the selection masks that restrict `einsum`: it runs after them, as if it read them."""
        touched = set(einsum.iteration_ranks)
        return [m.select.scores for m in self.masks if m.select and self.restricts(m, einsum.name, touched)]

    def selection_compares(self, einsum: str, sizes: dict | None = None) -> int:
        """Compares per point that choosing the top values costs, for an Einsum whose output is a selection's
        scores: a running list of the KB best per line takes each new score by a binary search of the list,
        ceil(log2(KB + 1)) compares (moving entries is data movement, not counted). KB from `sizes` if given."""
        values = {**self.params, **(sizes or {})}
        return sum(math.ceil(math.log2(s.keep_count(values) + 1)) for s in self._selections_of(einsum))

    def selection_keeps(self, einsum: str) -> list[str]:
        """The `top` of every selection whose scores `einsum` computes (a param or an integer, as written)."""
        return [s.keep for s in self._selections_of(einsum)]

    def _selections_of(self, einsum: str) -> list:
        return [m.select for m in self.masks if m.select is not None and m.select.scores == einsum]

    def einsum(self, name: str) -> Einsum:
        return self.by_name[name]

    @property
    def input_names(self) -> list[str]:
        return [ref.name for ref in self.inputs]

    @property
    def iterative_tensors(self) -> dict[str, str]:
        """Tensor name -> the rank it iterates over."""
        return {e.name: e.recurrence_rank for e in self.einsums if e.recurrence_rank}

    def sizes(self, values: dict[str, int]) -> dict[str, int | float]:
        """Complete a shape assignment: params default, outer partition sizes = ceil(parent / tile). A whole
        number stays an int; a parameter such as a slope of 0.5 keeps its value (it is not truncated)."""
        sizes = {k: _whole(v) for k, v in self.params.items()}
        sizes.update({k: _whole(v) for k, v in values.items()})
        for part in self.partitions:
            outer_symbol = self.shapes[part.outer]
            if outer_symbol not in values:
                count = math.ceil(sizes[self.shapes[part.parent]] / sizes[part.tile_symbol])
                # an outer rank shared by two partitions (queries and keys in the same chunks) runs to the longer;
                # the shorter rank's missing tiles are padding, masked like a short last tile
                if part.outer in self.shared_outers:
                    cuts = [p for p in self.partitions if p.outer == part.outer]
                    if len({sizes[p.tile_symbol] for p in cuts}) > 1:
                        tiles = ", ".join(f"{p.tile_symbol} = {sizes[p.tile_symbol]}" for p in cuts)
                        raise SpecError(f"rank {part.outer} is shared by partitions with different tiles ({tiles}): "
                                        "shared chunks need one size", source=self.source, key="partitions")
                    count = max(count, sizes.get(outer_symbol, 0))
                sizes[outer_symbol] = count
        return sizes

    def fixed_tiles(self) -> frozenset[str]:
        """Tile symbols a mapping may not resize, because the outputs depend on them: the tile (or the count of
        tiles) is a number in an expression, a mask or a density, or a part of its partition is a position, a
        mask's rank or a selection's rank (MoBA chooses blocks of M0 keys). A tile that only indexes (FuseMax's
        M0: sums and maxima regrouped by tile) is a schedule choice the mapper sizes."""
        return self.fixed_tile_symbols

    def algorithm_block(self, partition: Partition, sizes: dict) -> int:
        """The size of a fixed tile (`fixed_tiles`) at these sizes: the declared block, or the whole rank where the
        rank is shorter than one block (one block either way); a short last block is padded."""
        tile = sizes.get(partition.tile_symbol, self.params[partition.tile_symbol])
        total = sizes.get(self.shapes[partition.parent])
        return int(tile if total is None else min(tile, total))

    def _fixed_tiles(self) -> frozenset[str]:
        used_symbols, used_ranks = set(), set()
        for einsum in self.einsums:
            for node in walk(einsum.expr):
                if isinstance(node, Symbol):
                    used_symbols.add(node.name)
                elif isinstance(node, Position):
                    used_ranks.add(node.rank)
        for mask in self.masks:
            used_symbols |= set(mask.names) | expression_names(mask.density)
            used_ranks |= set(mask.names) | (set(mask.select.ranks) | {mask.select.over} if mask.select else set())
        return frozenset(p.tile_symbol for p in self.partitions
                         if {p.tile_symbol, self.shapes[p.outer]} & used_symbols or set(p.parts) & used_ranks)

    def position_reads(self) -> list[tuple[str, TensorRef]]:
        """(Einsum, reference) for every read of a key-rank tensor at a query position (`S[p+1,e,f]`, `aligned`);
        found once, when the cascade is built (every lowering of a mapping asks)."""
        return list(self.scan_reads)

    def _position_reads(self) -> list[tuple[str, TensorRef]]:
        found = []
        for einsum in self.einsums:
            for ref in einsum.input_refs:
                for group in self.align(ref):
                    if group.kind == "same" and any(isinstance(i, RankIndex) and i.rank != group.stored[0]
                                                    and self.aligned.get(i.rank) == group.stored[0]
                                                    for i in group.indices):
                        found.append((einsum.name, ref))
                        break
        return found

    def scan_refused(self, model: str) -> str | None:
        """Why `model` cannot cost this cascade yet, if it reads a scan's state at query positions (`aligned`): that
        needs a schedule that advances keys and queries one token at a time, which neither cost model has yet."""
        reads = self.position_reads()
        if not reads:
            return None
        einsum, ref = reads[0]
        aligned = ", ".join(f"{query}: {key}" for query, key in self.aligned.items())
        return (f"Einsum {einsum} reads {ref} at the position of a query (aligned {{{aligned}}}): the {model} has no "
                "schedule that advances keys and queries together (a scan) yet; `cascade check` and `cascade analyze` "
                "take this cascade")

    def check_aligned(self, sizes: dict) -> None:
        """A query rank read at key positions (`aligned`) must not run past the keys: P <= M."""
        for query, key in self.aligned.items():
            length, keys = sizes.get(self.shapes[query]), sizes.get(self.shapes[key])
            if length is not None and keys is not None and length > keys:
                raise SpecError(f"aligned {{{query}: {key}}} reads rank {key} at the position of {query}, so "
                                f"{self.shapes[query]} = {length} must not exceed {self.shapes[key]} = {keys}",
                                source=self.source, key="aligned")

    def bind_shapes(self, shapes: dict[str, int], explicit: bool, key: str = "--shape") -> dict[str, int]:
        """`shapes` for this cascade: a size the cascade fixes as a parameter of a rank (decode's P = 1) wins over
        a workload's (`explicit` False) and contradicts a user's (`explicit` True: an error); a rank whose size is
        given nowhere is an error naming it, before any work."""
        bound = dict(shapes)
        missing = []
        for rank, symbol in self.shapes.items():
            if self.partition_of_part(rank) is not None:
                continue  # parts are sized by their partition
            fixed = self.params.get(symbol)
            if fixed is not None and symbol in bound and bound[symbol] != fixed:
                if explicit:
                    raise SpecError(f"{symbol} = {bound[symbol]} contradicts cascade {self.name!r}, which fixes "
                                    f"{symbol} = {_whole(fixed)} (params)", key=key)
                bound[symbol] = _whole(fixed)
            if symbol not in bound and fixed is None:
                missing.append(f"{symbol} (rank {rank})")
        if missing:
            raise SpecError(f"cascade {self.name!r} needs the size of {', '.join(missing)} "
                            f"(given: {', '.join(sorted(shapes)) or 'none'})", key=key)
        return bound

    def align(self, ref: TensorRef) -> list[Alignment]:
        """Line the indices of `ref` up with the stored ranks of its tensor (see Alignment)."""
        return align_indices(ref, self.tensor_ranks[ref.name], self.partitions)


def _whole(value):
    """An integral number as an int, any other number unchanged."""
    return int(value) if float(value).is_integer() else float(value)


def align_indices(ref: TensorRef, stored: tuple[str, ...], partitions: tuple[Partition, ...]) -> list[Alignment]:
    """Match reference indices to stored ranks; raises ValueError with the reason if they do not line up."""
    groups, position = [], 0
    indices = ref.indices
    by_parent = {p.parent: p for p in partitions}
    by_outer = {(p.outer, p.inner): p for p in partitions}  # an outer part may be shared by two partitions
    stored_index = 0
    while stored_index < len(stored):
        rank = stored[stored_index]
        if position >= len(indices):
            raise ValueError(f"{ref} has too few indices for {ref.name}[{','.join(stored)}]")
        index = indices[position]
        index_rank = index.rank if isinstance(index, RankIndex) else None
        part = by_parent.get(rank)
        if part and index_rank == part.outer:
            groups.append(Alignment("split", (rank,), tuple(indices[position : position + 2])))
            position += 2
            stored_index += 1
            continue
        next_stored = stored[stored_index + 1] if stored_index + 1 < len(stored) else None
        part = by_outer.get((rank, next_stored))
        if part and index_rank == part.parent:
            groups.append(Alignment("merge", part.parts, (index,)))
            position += 1
            stored_index += 2
            continue
        groups.append(Alignment("same", (rank,), (index,)))
        position += 1
        stored_index += 1
    if position != len(indices):
        raise ValueError(f"{ref} has too many indices for {ref.name}[{','.join(stored)}]")
    return groups
