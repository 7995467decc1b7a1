"""The fixed operator vocabulary shared by the executor, the analysis and the cost model.

Every Einsum is built from these operators only; adding one means adding it here, with its
numpy semantics, so that all consumers agree on one list.
"""

from __future__ import annotations

import enum

import numpy as np


class OpGroup(enum.Enum):
    """Named groups of operators (as in tinygrad): binary map, unary map."""

    BINARY = "binary"
    UNARY = "unary"


class Op(enum.Enum):
    """An operator of the extended-Einsum language; the value is its counting kind."""

    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    MAX = "max"
    MIN = "min"
    EXP = "exp"
    LOG = "log"
    SQRT = "sqrt"
    SIGMOID = "sigmoid"
    SOFTPLUS = "softplus"
    RELU = "relu"
    TANH = "tanh"
    NEG = "neg"

    @property
    def group(self) -> OpGroup:
        return OpGroup.BINARY if self in BINARY_OPS else OpGroup.UNARY

    @property
    def is_reduce(self) -> bool:
        """Whether the operator may reduce the ranks missing from an Einsum's output."""
        return self in REDUCE_IDENTITY


BINARY_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAX, Op.MIN})
UNARY_OPS = frozenset(set(Op) - BINARY_OPS)

# Identity of each reduce operator: the value of a reduction over no present points.
REDUCE_IDENTITY: dict[Op, float] = {Op.ADD: 0.0, Op.MAX: -np.inf, Op.MIN: np.inf}

# Names accepted in the text form.
REDUCE_BY_NAME = {"+": Op.ADD, "add": Op.ADD, "sum": Op.ADD, "max": Op.MAX, "min": Op.MIN}
UNARY_BY_NAME = {op.value: op for op in UNARY_OPS if op is not Op.NEG}
BINARY_FUNCTION_BY_NAME = {"max": Op.MAX, "min": Op.MIN}
VOCABULARY = sorted(["+", "-", "*", "/", "max", "min", "unary -", *UNARY_BY_NAME])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


NUMPY_IMPL = {
    Op.ADD: np.add,
    Op.SUB: np.subtract,
    Op.MUL: np.multiply,
    Op.DIV: np.divide,
    Op.MAX: np.maximum,
    Op.MIN: np.minimum,
    Op.EXP: np.exp,
    Op.LOG: np.log,
    Op.SQRT: np.sqrt,
    Op.SIGMOID: _sigmoid,
    Op.SOFTPLUS: lambda x: np.logaddexp(0.0, x),
    Op.RELU: lambda x: np.maximum(x, 0.0),
    Op.TANH: np.tanh,
    Op.NEG: np.negative,
}

NUMPY_REDUCE = {Op.ADD: np.sum, Op.MAX: np.max, Op.MIN: np.min}
