"""How one Einsum's operators run on a GPU SM: operations per point of its iteration space, by pipe.

A product of two tiles added up over a rank they share, each with a rank of its own (`S[m,p] = Q[e,p] *
K[e,m]`, `PV[f,p] = P[m,p] * V[f,m]`), is a tensor-core contraction: one FMA per point (mma.sync or wgmma,
D = A x B + C). Every other operator runs per point on the SM's scalar pipes (docs/gpu-cascade-work.md,
"Operators on a GPU", gives the instructions and their sources):

| operator            | instructions                                             | sfu | fp32 | alu |
|---------------------|----------------------------------------------------------|-----|------|-----|
| `+` `-` `*`         | FADD, FMUL; an add of a product is one FFMA              |     | 1    |     |
| `/`                 | FMUL by a reciprocal (RCP, once per divisor element)     | (1) | 1    |     |
| `max` `min` `relu`  | FMNMX                                                    |     |      | 1   |
| `exp`               | FMUL by log2 e (an FFMA with an add below it), EX2       | 1   | 1    |     |
| `log`               | LG2, FMUL by ln 2                                        | 1   | 1    |     |
| `sqrt` `tanh`       | SQRT, TANH                                               | 1   |      |     |
| `sigmoid`           | (1 + tanh(x/2)) / 2: FMUL (FFMA with an add below), TANH, FFMA | 1 | 2 |     |
| `softplus`          | log(1 + exp x): FMUL (FFMA with an add below), EX2, FADD, LG2, FMUL | 2 | 3 | |
| unary `-`           | a source-operand modifier                                |     |      |     |
| reduce `+` / `max` `min` | FADD (the FFMA's add after a product) / FMNMX       |     | 1    | 1   |

Two more foldings the kernels do: an Einsum that combines a reduction's result with a running value by the
reduction's own operator (`RM = max(RM, LM)` with `LM = S :: max`; `RO = CR * RO + PV` with PV a
contraction) does not apply that operator: the reduction starts from the running value (FlashAttention-2's
`reduce_max</*zero_init=*/false>`, `reduce_sum</*zero_init=*/false>`; the tensor core's C operand). The
caller decides that (it needs the cascade) and passes `folded_top`. Subtrees of constants (`log(M)`) are
computed once and not counted, as in `einsum_cascade.analysis.op_counts`.
"""

from __future__ import annotations

from collections import Counter

from einsum_cascade.errors import SpecError
from einsum_cascade.expr import Binary, Expr, Position, RankIndex, TensorRef, Unary, varies
from einsum_cascade.model import Cascade, Einsum
from einsum_cascade.ops import Op

# operator -> (sfu, fp32, alu) results per application; docs/gpu-cascade-work.md "Operators on a GPU"
UNARY_OPS = {Op.EXP: (1, 1, 0), Op.LOG: (1, 1, 0), Op.SQRT: (1, 0, 0), Op.TANH: (1, 0, 0), Op.SIGMOID: (1, 2, 0),
             Op.SOFTPLUS: (2, 3, 0), Op.RELU: (0, 0, 1), Op.NEG: (0, 0, 0)}
BINARY_OPS = {Op.ADD: (0, 1, 0), Op.SUB: (0, 1, 0), Op.MUL: (0, 1, 0), Op.DIV: (0, 1, 0), Op.MAX: (0, 0, 1),
              Op.MIN: (0, 0, 1)}
REDUCE_OPS = {Op.ADD: (0, 1, 0), Op.MAX: (0, 0, 1), Op.MIN: (0, 0, 1)}
FOLDS_AN_ADD_BELOW = {Op.EXP, Op.SIGMOID, Op.SOFTPLUS}  # their first FP32 multiply becomes an FFMA
SCALAR_PIPES = ("sfu", "fp32", "alu")


def is_tensor_contraction(einsum: Einsum) -> bool:
    """`A[..] * B[..]` added up over ranks both have, each with a non-reduced rank the other lacks (the M and
    N of a matrix product; shared non-reduced ranks are batch dimensions)."""
    expr = einsum.expr
    if not (isinstance(expr, Binary) and expr.op is Op.MUL and isinstance(expr.left, TensorRef)
            and isinstance(expr.right, TensorRef)) or einsum.reduce_op is not Op.ADD or not einsum.reduced_ranks:
        return False
    left, right, reduced = _ranks(expr.left), _ranks(expr.right), set(einsum.reduced_ranks)
    return bool(left & right & reduced) and bool(left - right - reduced) and bool(right - left - reduced)


def folds_into_reduction(cascade: Cascade, einsum: Einsum, readers: dict[str, set[str]]) -> bool:
    """Whether the Einsum's top operator is the running start value of a reduction it combines: `op(X, R)`
    with R = (... :: op) read by this Einsum only."""
    expr = einsum.expr
    if not isinstance(expr, Binary) or expr.op not in REDUCE_OPS:
        return False
    for side in (expr.left, expr.right):
        if isinstance(side, TensorRef) and side.name in readers and readers[side.name] == {einsum.name}:
            producer = cascade.einsum(side.name)
            if producer.reduced_ranks and producer.reduce_op is expr.op:
                return True
    return False


def point_ops(cascade: Cascade, einsum: Einsum, folded_top: bool = False) -> tuple[Counter, list[TensorRef]]:
    """Scalar-pipe results per point of a non-contraction Einsum, and the divisors whose reciprocals the
    caller counts once per divisor element."""
    counts: Counter = Counter()
    divisors: list[TensorRef] = []
    _expression_ops(cascade, einsum, einsum.expr, counts, divisors, folded=folded_top)
    if einsum.reduced_ranks:
        after_product = einsum.reduce_op is Op.ADD and _is_product(einsum.expr)  # FFMA: the add is free
        if not after_product:
            _add(counts, _cost(cascade, einsum, REDUCE_OPS, einsum.reduce_op, "reduce"))
    return counts, divisors


def _expression_ops(cascade, einsum, node: Expr, counts: Counter, divisors: list, folded: bool = False) -> None:
    if not _has_tensor(node) or isinstance(node, TensorRef | Position):  # a leaf: a read, or an index value
        return
    if isinstance(node, Unary):
        _add(counts, _cost(cascade, einsum, UNARY_OPS, node.op, "unary"))
        child = node.operand
        if node.op in FOLDS_AN_ADD_BELOW and _is_addition(child):
            for grandchild in (child.left, child.right):  # the add itself rides in the FFMA
                _expression_ops(cascade, einsum, grandchild, counts, divisors)
        else:
            _expression_ops(cascade, einsum, child, counts, divisors)
        return
    fused_add = node.op in (Op.ADD, Op.SUB) and (_is_product(node.left) or _is_product(node.right))
    if not (folded or fused_add):
        _add(counts, _cost(cascade, einsum, BINARY_OPS, node.op, "binary"))
    if node.op is Op.DIV:
        if isinstance(node.right, TensorRef):
            divisors.append(node.right)
        elif _has_tensor(node.right):
            counts["sfu"] += 1  # the reciprocal of a computed divisor, per point
    _expression_ops(cascade, einsum, node.left, counts, divisors)
    _expression_ops(cascade, einsum, node.right, counts, divisors)


def _cost(cascade: Cascade, einsum: Einsum, table: dict, op: Op, kind: str) -> tuple[int, int, int]:
    if op not in table:
        raise SpecError(f"Einsum {einsum.name} ({einsum.text.strip()}): no GPU pipe executes the {kind} operator "
                        f"{op.value!r} (the GPU lowering covers: {', '.join(o.value for o in table)})",
                        source=cascade.source, line=einsum.line)
    return table[op]


def _add(counts: Counter, cost: tuple[int, int, int]) -> None:
    for pipe, value in zip(SCALAR_PIPES, cost, strict=True):
        if value:
            counts[pipe] += value


def _ranks(ref: TensorRef) -> set[str]:
    return {i.rank for i in ref.indices if isinstance(i, RankIndex)}


def _has_tensor(node: Expr) -> bool:
    """Whether the node is computed per point (a tensor or a rank's position below it)."""
    return varies(node)


def _is_product(node: Expr) -> bool:
    return isinstance(node, Binary) and node.op is Op.MUL and _has_tensor(node)


def _is_addition(node: Expr) -> bool:
    return isinstance(node, Binary) and node.op in (Op.ADD, Op.SUB) and _has_tensor(node)
