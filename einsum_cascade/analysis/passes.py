"""Pass counting over a rank (DESIGN.md "Pass counting").

For a fixed query, a pass over rank M is one traversal of the M fiber. An Einsum that reduces M
completely yields a value that exists only at the end of a traversal; an Einsum that combines such a
value with data still indexed by M must traverse M again. Iterative Einsums over a partition of M
(running max/sum with a correction) produce per-tile values and so do not force a new pass; reading
their final iterate (`RNV[M1,f,p]`) is an end-of-pass value. Everything here comes from the graph.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType

from einsum_cascade.errors import SpecError
from einsum_cascade.executor import evaluation_order
from einsum_cascade.expr import FinalIndex, RankIndex
from einsum_cascade.model import Cascade, Einsum


@dataclass(frozen=True)
class PassStep:
    """Why pass `number` exists: `consumer` needs `reduction`'s value, complete only after pass number-1."""

    number: int
    reduction: str
    consumer: str
    traverses: tuple[str, ...]  # ranks of the M family the consumer walks (m, or m1 only for tile partials)
    rereads: tuple[str, ...]  # M-indexed tensors from earlier passes it needs again (buffered or recomputed)


@dataclass(frozen=True)
class PassAnalysis:
    rank: str  # the rank variable, e.g. "m"
    symbol: str  # its shape symbol, e.g. "M"
    passes: int
    pass_of: MappingProxyType  # tensor -> pass it is computed in (0: needs no traversal of the rank); read-only
    end_of_pass: frozenset[str]  # tensors complete only when their pass ends
    steps: tuple[PassStep, ...] = field(default=())

    @property
    def chain(self) -> list[list[str]]:
        """For each extra pass, the Einsum whose full reduction forces it and the Einsum that must wait."""
        return [[step.reduction, step.consumer] for step in self.steps]


def resolve_rank(cascade: Cascade, rank: str) -> str:
    """Accept a rank variable (`m`) or its shape symbol (`M`)."""
    if rank in cascade.shapes and cascade.partition_of_part(rank) is None:
        return rank
    for name, symbol in cascade.shapes.items():
        if symbol == rank and cascade.partition_of_part(name) is None:
            return name
    raise SpecError(f"{rank!r} is not a rank of cascade {cascade.name} (ranks: "
                    f"{', '.join(s for r, s in cascade.shapes.items() if cascade.partition_of_part(r) is None)})",
                    source=cascade.source, key="--rank")


@functools.lru_cache(maxsize=256)
def analyze_passes(cascade: Cascade, rank: str = "M") -> PassAnalysis:
    """The passes over `rank` (and the Einsums that force each one). Cached per cascade (a Cascade is immutable
    and hashed by its source text); the result is read-only, since every caller shares it."""
    rank = resolve_rank(cascade, rank)
    family = cascade.family(rank)
    carries = {ref.name: bool(set(cascade.tensor_ranks[ref.name]) & family) for ref in cascade.inputs}
    pass_of = {name: int(carried) for name, carried in carries.items()}
    end_of_pass: set[str] = set()
    steps: list[PassStep] = []
    for group in evaluation_order(cascade):
        members = {e.name for e in group}
        needs = [_needs(cascade, e, family, pass_of, end_of_pass, members)
                 + _selection_needs(cascade, e, family, pass_of) for e in group]
        number = max(max((n for n, _ in need), default=0) for need in needs)
        traversing = [e for e in group if set(e.iteration_ranks) & family]
        number = max(number, 1 if traversing else 0)
        for einsum, need in zip(group, needs, strict=True):
            pass_of[einsum.name] = number
            forcing = [source for n, source in need if n == number and source]
            if forcing and number > 1 and not any(s.number == number for s in steps):
                steps.append(_step(cascade, einsum, number, forcing[0], family, pass_of))
            output_carries = bool(set(einsum.output_ranks) & family)
            reduces = bool(set(einsum.reduced_ranks) & family) and not output_carries
            derived = any(source in end_of_pass and pass_of[source] == number for source in einsum.input_names)
            if not output_carries and (reduces or derived or _reads_final(einsum, family, cascade)):
                end_of_pass.add(einsum.name)
    passes = max((pass_of[e.name] for e in cascade.einsums if set(e.iteration_ranks) & family), default=0)
    if passes == 0:
        raise SpecError(f"no Einsum of cascade {cascade.name} iterates over rank {rank}", source=cascade.source,
                        key="--rank")
    return PassAnalysis(rank, cascade.shapes[rank], passes, MappingProxyType(pass_of), frozenset(end_of_pass),
                        tuple(steps))


def _reads_final(einsum: Einsum, family: set[str], cascade: Cascade) -> bool:
    """Whether the Einsum reads a final iterate over the rank (`RNV[M1,...]`)."""
    symbols = {cascade.shapes[r] for r in family}
    return any(isinstance(i, FinalIndex) and i.symbol in symbols for ref in einsum.input_refs for i in ref.indices)


def _needs(cascade, einsum: Einsum, family, pass_of, end_of_pass, members) -> list[tuple[int, str | None]]:
    """(earliest pass, tensor responsible) for each operand of the Einsum."""
    traverses = bool(set(einsum.iteration_ranks) & family)
    symbols = {cascade.shapes[r] for r in family}
    needs = []
    for ref in einsum.input_refs:
        if ref.name in members:
            continue  # a recurrence reads its own iterates as it goes
        final = any(isinstance(i, FinalIndex) and i.symbol in symbols for i in ref.indices)
        # a read at query positions (`T[p+1,f]`, `aligned`) by an Einsum that walks the keys needs the state at
        # every position while the walk is elsewhere: all of it, complete at the end of its pass
        at_positions = any(isinstance(i, RankIndex) and cascade.aligned.get(i.rank) in family for i in ref.indices)
        complete_late = ref.name in end_of_pass or final or at_positions
        if traverses and complete_late:
            needs.append((pass_of[ref.name] + 1, ref.name))
        else:
            needs.append((pass_of[ref.name], None))
    return needs


def _selection_needs(cascade, einsum: Einsum, family, pass_of) -> list[tuple[int, str | None]]:
    """(earliest pass, scores) for each selection mask restricting the Einsum: choosing the top values along the
    rank needs every one of them, so an Einsum that walks that rank runs in a later pass than its scores."""
    needs = []
    for mask in cascade.masks:
        if mask.select and cascade.restricts(mask, einsum.name, set(einsum.iteration_ranks)):
            scores = mask.select.scores
            walks = bool(set(einsum.iteration_ranks) & family) and mask.select.over in family
            needs.append((pass_of[scores] + 1, scores) if walks else (pass_of[scores], None))
    return needs


def _step(cascade: Cascade, consumer: Einsum, number: int, reduction: str, family, pass_of) -> PassStep:
    traverses = tuple(r for r in consumer.iteration_ranks if r in family)
    rereads = tuple(
        name for name in consumer.input_names
        if set(cascade.tensor_ranks[name]) & family and pass_of.get(name, 0) < number
    )
    return PassStep(number, reduction, consumer.name, traverses, rereads)
