"""Reference executor: runs any cascade on small numpy arrays (float64).

The living definition of the language's semantics:
- an Einsum's iteration space is its output ranks plus the ranks it reduces;
- masks (and the padding of a partitioned rank that is not a multiple of its tile) remove points from
  that space; a tile-level Einsum (one that sees `m1` but not `m0`) keeps a point if any of its keys
  is present, so fully masked tiles are skipped;
- absent points contribute the reduce identity; an iterative Einsum carries its previous value
  through an absent step; any other absent output point is NaN (so leaks show up);
- recurrences (strongly connected tensors, e.g. RD <-> SPD) are stepped over their rank in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from einsum_cascade.dependency import dependency_groups
from einsum_cascade.expr import Binary, Const, Expr, FinalIndex, Position, Symbol, TensorRef, Unary
from einsum_cascade.masks import selected
from einsum_cascade.model import Cascade, Einsum
from einsum_cascade.ops import NUMPY_IMPL, NUMPY_REDUCE, REDUCE_IDENTITY


@dataclass
class ExecutionTrace:
    """What a run did: every tensor's final value and the number of present points per Einsum."""

    tensors: dict[str, np.ndarray]
    present_points: dict[str, int] = field(default_factory=dict)


def evaluation_order(cascade: Cascade) -> list[list[Einsum]]:
    """Groups of Einsums in dependency order; a group of several (or a self-loop) is a recurrence."""
    names = [e.name for e in cascade.einsums]
    groups = dependency_groups(names, {e.name: e.input_names + cascade.selection_inputs(e) for e in cascade.einsums})
    return [[cascade.einsum(n) for n in group] for group in groups]


class Executor:
    def __init__(self, cascade: Cascade, sizes: dict[str, int]):
        self.cascade = cascade
        self.sizes = cascade.sizes(sizes)
        cascade.check_aligned(self.sizes)
        self.iterated = cascade.iterative_tensors

    def extent(self, rank: str) -> int:
        return self.sizes[self.cascade.shapes[rank]]

    def run(self, inputs: dict[str, np.ndarray]) -> ExecutionTrace:
        trace = ExecutionTrace(tensors=dict(inputs))
        self.tensors = trace.tensors  # what a selection mask reads
        self.choices: dict[str, np.ndarray] = {}  # a selection's choice, made once per run
        with np.errstate(all="ignore"):
            for group in evaluation_order(self.cascade):
                for einsum in group:
                    trace.tensors[einsum.name] = self._allocate(einsum)
                rank = next((e.recurrence_rank for e in group if e.recurrence_rank), None)
                if rank is None:
                    for einsum in group:
                        self._evaluate_into(einsum, trace, fixed={})
                    continue
                for step in range(self.extent(rank)):
                    for einsum in group:
                        self._evaluate_into(einsum, trace, fixed={rank: step})
        return trace

    def _allocate(self, einsum: Einsum) -> np.ndarray:
        shape = [self.extent(r) + (r == einsum.recurrence_rank) for r in einsum.output_ranks]
        array = np.full(shape, np.nan)
        if einsum.recurrence_rank:
            axis = einsum.output_ranks.index(einsum.recurrence_rank)
            np.moveaxis(array, axis, 0)[0] = self.cascade.initial[einsum.name]
        return array

    # ---- one Einsum ---------------------------------------------------------------------------
    def _evaluate_into(self, einsum: Einsum, trace: ExecutionTrace, fixed: dict[str, int]) -> None:
        space = [r for r in einsum.iteration_ranks if r not in fixed]
        shape = tuple(self.extent(r) for r in space)
        values = np.broadcast_to(self._expr(einsum.expr, trace.tensors, space, fixed), shape)
        present = self._present(einsum.name, space, fixed)
        present = None if present is None else np.broadcast_to(present, shape)
        trace.present_points[einsum.name] = trace.present_points.get(einsum.name, 0) + (
            int(present.sum()) if present is not None else int(np.prod(shape, dtype=np.int64)))
        reduced_axes = tuple(space.index(r) for r in einsum.reduced_ranks)
        if reduced_axes:
            identity = REDUCE_IDENTITY[einsum.reduce_op]
            if present is not None:
                values = np.where(present, values, identity)
                present = present.any(axis=reduced_axes)
            values = NUMPY_REDUCE[einsum.reduce_op](values, axis=reduced_axes) if values.size else \
                np.full([s for n, s in enumerate(shape) if n not in reduced_axes], identity)
        target = trace.tensors[einsum.name]
        where = self._output_slice(einsum, fixed)
        if present is not None:
            previous = target[self._output_slice(einsum, fixed, previous=True)] if einsum.recurrence_rank else None
            fallback = previous if previous is not None else (values if reduced_axes else np.nan)
            values = np.where(present, values, fallback)
        target[where] = values

    def _output_slice(self, einsum: Einsum, fixed: dict[str, int], previous: bool = False) -> tuple:
        index = []
        for position in einsum.output.indices:
            shift = 0 if previous else position.offset
            if position.rank in fixed:
                index.append(fixed[position.rank] + shift)
            else:
                index.append(slice(shift, shift + self.extent(position.rank)))
        return tuple(index)

    # ---- expressions ----------------------------------------------------------------------------
    def _expr(self, expr: Expr, tensors, space: list[str], fixed: dict[str, int]):
        if isinstance(expr, Const):
            return expr.value
        if isinstance(expr, Symbol):
            return float(self.sizes[expr.name])
        if isinstance(expr, Position):  # the rank's index at every point of the space (a parent: m1 * M0 + m0)
            return np.asarray(self._rank_values(space, fixed)[expr.rank], dtype=float)
        if isinstance(expr, Unary):
            return NUMPY_IMPL[expr.op](self._expr(expr.operand, tensors, space, fixed))
        if isinstance(expr, Binary):
            left = self._expr(expr.left, tensors, space, fixed)
            right = self._expr(expr.right, tensors, space, fixed)
            return NUMPY_IMPL[expr.op](left, right)
        return self._read(expr, tensors[expr.name], space, fixed)

    def _read(self, ref: TensorRef, array: np.ndarray, space: list[str], fixed: dict[str, int]) -> np.ndarray:
        """The values of `ref` as an array broadcastable over `space` (axes in space order)."""
        index, labels = [], []
        for group in self.cascade.align(ref):
            if group.kind == "split":
                array = self._split_axis(array, len(index), group.stored[0])
            elif group.kind == "merge":
                array = self._merge_axes(array, len(index), group.stored)
            for position in group.indices:
                if isinstance(position, FinalIndex):
                    index.append(self.sizes[position.symbol])
                elif position.rank in fixed:
                    index.append(fixed[position.rank] + position.offset)
                else:
                    index.append(slice(position.offset, position.offset + self.extent(position.rank)))
                    labels.append(position.rank)
        view = array[tuple(index)]
        order = sorted(range(len(labels)), key=lambda n: space.index(labels[n]))
        view = np.transpose(view, order)
        present = [labels[n] for n in order]
        return view.reshape([self.extent(r) if r in present else 1 for r in space])

    def _split_axis(self, array: np.ndarray, axis: int, parent: str) -> np.ndarray:
        partition = self.cascade.partition_of_parent(parent)
        outer, inner = self.extent(partition.outer), self.extent(partition.inner)
        pad = [(0, 0)] * array.ndim
        pad[axis] = (0, outer * inner - array.shape[axis])
        padded = np.pad(array, pad, constant_values=np.nan)
        return padded.reshape(array.shape[:axis] + (outer, inner) + array.shape[axis + 1 :])

    def _merge_axes(self, array: np.ndarray, axis: int, parts: tuple[str, str]) -> np.ndarray:
        parent = self.cascade.partition_of_parts(parts).parent
        merged = array.reshape(array.shape[:axis] + (-1,) + array.shape[axis + 2 :])
        return np.take(merged, np.arange(self.extent(parent)), axis=axis)

    # ---- masks ----------------------------------------------------------------------------------
    def _present(self, einsum: str, space: list[str], fixed: dict[str, int]) -> np.ndarray | None:
        """Boolean array over `space` of the points of `einsum` that survive every applicable mask (None: all)."""
        touched = set(space) | set(fixed)
        constraints = [(mask, mask.ranks(set(self.cascade.shapes))) for mask in self.cascade.masks
                       if self.cascade.restricts(mask, einsum, touched)]
        padded = [p for p in self.cascade.partitions if self.cascade.partition_used(p, touched) and
                  self.extent(p.outer) * self.extent(p.inner) != self.extent(p.parent)]
        if not constraints and not padded:
            return None
        extra = []  # parts of a partition the space does not cover: evaluated existentially
        for partition in self.cascade.partitions:
            uses = self.cascade.partition_used(partition, touched)
            needed = padded.count(partition) or any(partition.parent in ranks or set(partition.parts) & ranks
                                                    for _, ranks in constraints)
            if needed and uses:
                extra += [r for r in partition.parts if r not in touched]
        full = space + extra
        values = self._rank_values(full, fixed)
        present = np.ones([1] * len(full), dtype=bool)
        for mask, _ in constraints:
            present = present & (self._selected(mask, values) if mask.select else mask.evaluate(values))
        for partition in padded:
            present = present & (values[partition.parent] < self.extent(partition.parent))
        if extra:
            present = np.broadcast_to(present, [self.extent(r) for r in full]).any(
                axis=tuple(range(len(space), len(full))))
        return present

    def _selected(self, mask, values: dict) -> np.ndarray:
        """A selection mask over the space: its verdict on its scores, read at the space's rank values."""
        choice = self.choices.get(mask.name)
        if choice is None:  # its scores are complete: every Einsum it restricts runs after them
            choice = self.choices[mask.name] = selected(mask.select, self.tensors[mask.select.scores],
                                                        mask.select.keep_count(self.sizes))
        return choice[tuple(values[r] for r in mask.select.ranks)]

    def _rank_values(self, full: list[str], fixed: dict[str, int]) -> dict:
        """Index arrays (broadcast over `full`) for every rank and parent rank, plus all shape symbols."""
        values: dict = {symbol: size for symbol, size in self.sizes.items()}
        for axis, rank in enumerate(full):
            shape = [1] * len(full)
            shape[axis] = self.extent(rank)
            values[rank] = np.arange(self.extent(rank)).reshape(shape)
        values.update(fixed)
        for partition in self.cascade.partitions:
            if partition.outer in values and partition.inner in values:
                values[partition.parent] = values[partition.outer] * self.extent(partition.inner) + values[
                    partition.inner]
            elif partition.parent in values:  # a part from its parent (a selection over blocks, read per key)
                values.setdefault(partition.outer, values[partition.parent] // self.extent(partition.inner))
                values.setdefault(partition.inner, values[partition.parent] % self.extent(partition.inner))
        return values


def run_cascade(cascade: Cascade, inputs: dict[str, np.ndarray], sizes: dict[str, int]) -> ExecutionTrace:
    return Executor(cascade, sizes).run(inputs)
