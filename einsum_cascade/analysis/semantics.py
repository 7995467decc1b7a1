"""Semantics a cascade's author may not mean: a non-linear operator applied before the reduction the Einsum's
output implies. `SN[m,p] = exp(Q[e,p] * K[e,m])` reduces e after the exp (the sum over e of exp(q_e k_e)), not
exp of the dot product; the language allows it (it is an extended Einsum), so it is a note, not an error."""

from __future__ import annotations

from einsum_cascade.expr import TensorRef, Unary, walk
from einsum_cascade.model import Cascade
from einsum_cascade.ops import Op


def nonlinear_before_reduction(cascade: Cascade) -> list[str]:
    """One line per Einsum that applies a non-linear unary operator to a term indexed by a rank it reduces."""
    notes = []
    for einsum in cascade.einsums:
        reduced = set(einsum.reduced_ranks)
        if not reduced:
            continue
        for node in walk(einsum.expr):
            if not isinstance(node, Unary) or node.op is Op.NEG:
                continue
            ranks = sorted({i.rank for ref in walk(node.operand) if isinstance(ref, TensorRef) for i in ref.indices}
                           & reduced)
            if ranks:
                notes.append(f"Einsum {einsum.name} applies {node.op.value} before reducing {', '.join(ranks)} "
                             f"(the {einsum.reduce_op.value} over {', '.join(ranks)} of {node.op.value}(...)); to "
                             "apply it to the reduced value, reduce in one Einsum and apply it in the next")
                break
    return notes
