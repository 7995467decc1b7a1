"""Live footprint per query: what must be buffered for one query while the cascade runs.

Per pass: tensors carried over from earlier passes (their full size, O(M) if they keep the rank),
plus the running state of the pass (accumulators of reductions over the rank, iterates of
recurrences: their size without the rank), plus the query's own inputs that the pass reads.
The footprint is the largest of the passes; its order in M says whether a 1-pass design is possible
with a buffer independent of the sequence length.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from einsum_cascade.analysis.passes import PassAnalysis
from einsum_cascade.analysis.symbols import TYPICAL_SHAPES, evaluate, rank_size, symbol, tiles_as_ratio
from einsum_cascade.expr import FinalIndex
from einsum_cascade.model import Cascade


@dataclass(frozen=True)
class Footprint:
    per_query: sympy.Expr  # elements per query in the largest pass
    order: str  # "O(1)", "O(M)", ...
    per_pass: dict[int, sympy.Expr]
    tensors: dict[int, dict[str, tuple[sympy.Expr, str]]]  # pass -> tensor -> (elements, why it is live)


def _size(cascade: Cascade, ranks, skip: set[str]) -> sympy.Expr:
    """Elements of a tensor over `ranks` that one query needs: a query rank or a part of one (a query's block, p1)
    indexes the query itself, not its share."""
    queries = set(cascade.query_ranks)
    size = sympy.Integer(1)
    for rank in ranks:
        if rank not in skip and not cascade.family(rank) & queries:
            size *= rank_size(cascade, rank)
    return size


def _only_final_read_after(cascade: Cascade, name: str, number: int, pass_of: dict[str, int]) -> bool:
    """Whether every read of an iterative tensor from pass `number` on takes its final iterate."""
    rank = cascade.iterative_tensors.get(name)
    if rank is None:
        return False
    final_symbol = cascade.shapes[rank]
    refs = [ref for e in cascade.einsums if pass_of[e.name] >= number for ref in e.input_refs if ref.name == name]
    return all(any(isinstance(i, FinalIndex) and i.symbol == final_symbol for i in ref.indices) for ref in refs)


def live_footprint(cascade: Cascade, passes: PassAnalysis) -> Footprint:
    family = cascade.family(passes.rank)
    pass_of = passes.pass_of
    consumers: dict[str, list[int]] = {}
    for einsum in cascade.einsums:
        for source in einsum.input_names + cascade.selection_inputs(einsum):  # a selection's scores are read
            consumers.setdefault(source, []).append(pass_of[einsum.name])  # by the Einsums its mask restricts
    tensors: dict[int, dict[str, tuple[sympy.Expr, str]]] = {}
    for number in range(1, passes.passes + 1):
        live: dict[str, tuple[sympy.Expr, str]] = {}
        for einsum in cascade.einsums:
            name = einsum.name
            if pass_of[name] < number and any(p >= number for p in consumers.get(name, [])):
                only_final = _only_final_read_after(cascade, name, number, pass_of)
                size = _size(cascade, cascade.tensor_ranks[name], {einsum.recurrence_rank} if only_final else set())
                live[name] = (size, f"kept from pass {pass_of[name]}" + (" (final iterate)" if only_final else ""))
            elif pass_of[name] == number and set(einsum.iteration_ranks) & family:
                reduces = bool(set(einsum.reduced_ranks) & family)
                if einsum.recurrence_rank in family or reduces:
                    why = "running state" if einsum.recurrence_rank else "accumulator"
                    live[name] = (_size(cascade, cascade.tensor_ranks[name], family), why)
        for ref in cascade.inputs:
            ranks = set(cascade.tensor_ranks[ref.name])
            read_now = any(pass_of[e.name] == number and ref.name in e.input_names for e in cascade.einsums)
            if read_now and not ranks & family and ranks & set(cascade.query_ranks):
                live[ref.name] = (_size(cascade, ranks, set()), "query input")
        tensors[number] = live
    per_pass = {n: sympy.expand(sum((size for size, _ in live.values()), sympy.Integer(0)).subs(
        tiles_as_ratio(cascade))) for n, live in tensors.items()}
    largest = max(per_pass.values(), key=lambda e: evaluate(e, cascade, TYPICAL_SHAPES))
    degree = sympy.degree(largest, symbol(passes.symbol)) if largest.has(symbol(passes.symbol)) else 0
    order = "O(1)" if degree == 0 else f"O({passes.symbol})" if degree == 1 else f"O({passes.symbol}^{degree})"
    return Footprint(largest, order, per_pass, tensors)
