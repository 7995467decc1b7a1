"""Which operator units an Einsum occupies on an array: the cascade's operators per point, with the
fused units an array may offer (`mac`: a multiply feeding an add-reduction, or a bare multiply where the
array has no multiplier of its own; `sub_exp`: exp of a difference). Shared by the mapper (operator support)
and the cost model (cycles and energy)."""

from __future__ import annotations

import functools

from einsum_cascade.expr import Binary, Unary, varies, walk
from einsum_cascade.model import Einsum
from einsum_cascade.ops import Op


def operators_per_point(einsum: Einsum) -> list[str]:
    """Operator kinds per point, with the reduce; subtrees of constants only (e.g. `log(M)`) are not counted, an
    index expression (`SLOPE * (p - m)`) is: it is computed at every point."""
    kinds = [n.op.value for n in walk(einsum.expr) if isinstance(n, Unary | Binary) and varies(n)]
    if einsum.reduced_ranks:
        kinds.append(einsum.reduce_op.value)
    return kinds


def is_multiply_accumulate(einsum: Einsum) -> bool:
    return isinstance(einsum.expr, Binary) and einsum.expr.op is Op.MUL and bool(einsum.reduced_ranks) \
        and einsum.reduce_op is Op.ADD


def fused_operators(einsum: Einsum, supported: set[str]) -> list[str]:
    """Operator kinds per point after applying the fused units in `supported`."""
    return list(_fused_operators(einsum, frozenset(supported)))


@functools.lru_cache(maxsize=4096)
def _fused_operators(einsum: Einsum, supported: frozenset[str]) -> tuple[str, ...]:
    """Cached: the mapper asks this of every Einsum of every structure it lowers (an Einsum is immutable)."""
    kinds = operators_per_point(einsum)
    if "mac" in supported and is_multiply_accumulate(einsum):
        kinds.remove("mul")
        kinds.remove("add")
        kinds.append("mac")
    if "mul" in kinds and "mul" not in supported and "mac" in supported:
        kinds[kinds.index("mul")] = "mac"  # a bare multiply issues on the MAC unit (a*b + 0)
    if "sub_exp" in supported:
        for node in walk(einsum.expr):
            if isinstance(node, Unary) and node.op is Op.EXP and isinstance(node.operand, Binary) \
                    and node.operand.op is Op.SUB and "sub" in kinds and "exp" in kinds:
                kinds.remove("sub")
                kinds.remove("exp")
                kinds.append("sub_exp")
    return tuple(kinds)


def supports(einsum: Einsum, operators: set[str]) -> bool:
    return all(kind in operators for kind in fused_operators(einsum, operators))
