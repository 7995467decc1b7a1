"""Symbolic operation counts per Einsum and per operator kind (sympy expressions in the rank shapes).

Every map operator counts once per point of the Einsum's iteration space (operators applied only to
constants, such as `log(M)`, are computed once and not counted); a reduction counts one operation of
its kind per point (an accumulate, as a MAC array does). A mask multiplies the count of every Einsum
it restricts by its declared `density`; without one the count is that of the dense space.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from einsum_cascade.analysis.symbols import parse_sympy, rank_size, symbol, tiles_as_ratio
from einsum_cascade.expr import Binary, Expr, Unary, varies, walk
from einsum_cascade.model import Cascade, Einsum


@dataclass(frozen=True)
class OpCounts:
    per_einsum: dict[str, dict[str, sympy.Expr]]  # per instance: Einsum -> kind -> count
    by_kind: dict[str, sympy.Expr]  # per instance
    instances: sympy.Expr  # e.g. B*H
    unmasked: tuple[str, ...]  # masks without a density: counts are for the dense space

    def total(self, kind: str) -> sympy.Expr:
        return self.instances * self.by_kind.get(kind, sympy.Integer(0))

    def per_query_key_pair(self, cascade: Cascade, key_symbol: str = "M") -> dict[str, sympy.Expr]:
        """Counts divided by (queries x keys): queries are all query ranks (e.g. G*P for grouped heads)."""
        pairs = symbol(key_symbol)
        for rank in cascade.query_ranks:
            pairs *= rank_size(cascade, rank)
        return {kind: sympy.expand((count / pairs).subs(tiles_as_ratio(cascade)))
                for kind, count in self.by_kind.items()}


def _counted_operators(expr: Expr) -> list[str]:
    """Operator kinds applied per point: nodes with a tensor or a rank's position below them."""
    return [node.op.value for node in walk(expr) if isinstance(node, Unary | Binary) and varies(node)]


def _points(cascade: Cascade, einsum: Einsum) -> sympy.Expr:
    points = sympy.Integer(1)
    for rank in einsum.iteration_ranks:
        points *= rank_size(cascade, rank)
    touched = set(einsum.iteration_ranks)
    for mask in cascade.masks:
        if mask.density and cascade.restricts(mask, einsum.name, touched):
            points *= parse_sympy(mask.density)
    return points


def operation_counts(cascade: Cascade) -> OpCounts:
    per_einsum: dict[str, dict[str, sympy.Expr]] = {}
    by_kind: dict[str, sympy.Expr] = {}
    for einsum in cascade.einsums:
        points = _points(cascade, einsum)
        kinds = _counted_operators(einsum.expr)
        if einsum.reduced_ranks:
            kinds.append(einsum.reduce_op.value)
        counts: dict[str, sympy.Expr] = {}
        for kind in kinds:
            counts[kind] = counts.get(kind, sympy.Integer(0)) + points
        for keep in cascade.selection_keeps(einsum.name):  # a selection's top-KB choice: a binary search per score
            choose = sympy.ceiling(sympy.log(parse_sympy(keep) + 1, 2))
            counts["max"] = counts.get("max", sympy.Integer(0)) + points * choose
        per_einsum[einsum.name] = counts
        for kind, count in counts.items():
            by_kind[kind] = by_kind.get(kind, sympy.Integer(0)) + count
    unmasked = tuple(m.name for m in cascade.masks if not m.density)
    return OpCounts(per_einsum, by_kind, parse_sympy(cascade.instances), unmasked)
