"""Expression trees of the Einsum language, parsed from the text form with Python's `ast`.

The right-hand side of an Einsum line (`exp(QK[m,p] - GM[p])`) happens to be valid Python, so
Python's parser does the tokenising; this module only accepts the node kinds of the language.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from einsum_cascade.ops import BINARY_FUNCTION_BY_NAME, UNARY_BY_NAME, VOCABULARY, Op


@dataclass(frozen=True, slots=True)
class RankIndex:
    """An index that walks a rank, optionally shifted: `m1` or `m1+1` (offset 1)."""

    rank: str
    offset: int = 0

    def __str__(self) -> str:
        return self.rank if not self.offset else f"{self.rank}{self.offset:+d}"


@dataclass(frozen=True, slots=True)
class FinalIndex:
    """The final-iteration index of an iterative rank, written with its shape symbol: `RNV[M1,f,p]`."""

    symbol: str

    def __str__(self) -> str:
        return self.symbol


Index = RankIndex | FinalIndex


@dataclass(frozen=True, slots=True)
class TensorRef:
    name: str
    indices: tuple[Index, ...]

    def __str__(self) -> str:
        return f"{self.name}[{','.join(map(str, self.indices))}]"


@dataclass(frozen=True, slots=True)
class Const:
    value: float

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A rank-shape symbol or parameter used as a number, e.g. the `M` in `/ M`."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Position:
    """The position along a rank as a number, 0-based: the `p - m` of a relative-position bias (ALiBi). Written
    as the bare rank name; the cascade reader turns a name that is a rank into a Position (`positions`)."""

    rank: str

    def __str__(self) -> str:
        return self.rank


@dataclass(frozen=True, slots=True)
class Unary:
    op: Op
    operand: Expr

    def __str__(self) -> str:
        return f"-({self.operand})" if self.op is Op.NEG else f"{self.op.value}({self.operand})"


@dataclass(frozen=True, slots=True)
class Binary:
    op: Op
    left: Expr
    right: Expr

    def __str__(self) -> str:
        infix = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "/"}
        if self.op in infix:
            return f"({self.left} {infix[self.op]} {self.right})"
        return f"{self.op.value}({self.left}, {self.right})"


Expr = TensorRef | Const | Symbol | Position | Unary | Binary

_INFIX = {ast.Add: Op.ADD, ast.Sub: Op.SUB, ast.Mult: Op.MUL, ast.Div: Op.DIV}


class ExprSyntaxError(ValueError):
    """The text is not an expression of the Einsum language (message says why)."""


def walk(expr: Expr) -> Iterator[Expr]:
    """All nodes of an expression, parents first."""
    yield expr
    if isinstance(expr, Unary):
        yield from walk(expr.operand)
    elif isinstance(expr, Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)


def varies(expr: Expr) -> bool:
    """Whether the value depends on the iteration point (reads a tensor or a rank's position): an operator
    over such a subtree runs per point; one over constants and parameters only (`log(M)`) is folded."""
    return any(isinstance(node, TensorRef | Position) for node in walk(expr))


def positions(expr: Expr, ranks: set[str]) -> Expr:
    """`expr` with every Symbol that names one of `ranks` made a Position."""
    if isinstance(expr, Symbol) and expr.name in ranks:
        return Position(expr.name)
    if isinstance(expr, Unary):
        return Unary(expr.op, positions(expr.operand, ranks))
    if isinstance(expr, Binary):
        return Binary(expr.op, positions(expr.left, ranks), positions(expr.right, ranks))
    return expr


def tensor_refs(expr: Expr) -> list[TensorRef]:
    return [node for node in walk(expr) if isinstance(node, TensorRef)]


def operators(expr: Expr) -> list[Op]:
    """The map operators applied at every point of the iteration space."""
    return [node.op for node in walk(expr) if isinstance(node, Unary | Binary)]


MAX_EXPRESSION_CHARS = 10_000  # an Einsum's right-hand side, a mask or a density (docs/input-limits.md)
MAX_EXPRESSION_DEPTH = 200  # operators nested in one another (a + b + c ... nests one level per term)


def parse_python(text: str, mode: str = "eval") -> ast.AST:
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExprSyntaxError(f"expression of {len(text):,} characters, more than the limit of "
                              f"{MAX_EXPRESSION_CHARS:,}: split it into several Einsums")
    try:
        tree = ast.parse(text.strip(), mode=mode)
    except (RecursionError, MemoryError):
        raise ExprSyntaxError("expression nested too deeply to parse: split it into several Einsums") from None
    except SyntaxError as exc:
        raise ExprSyntaxError(f"cannot parse {text.strip()!r}: {exc.msg}") from None
    except ValueError as exc:  # e.g. a null character, which Python 3.11 reports as ValueError
        raise ExprSyntaxError(f"cannot parse {text.strip()!r}: {exc}") from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ExprSyntaxError(f"expression nested more than {MAX_EXPRESSION_DEPTH} operators deep (a sum of that "
                              "many terms nests as deep): split it into several Einsums")
    return tree


def _depth(tree: ast.AST) -> int:
    """The nesting depth of a syntax tree, walked without recursion (the tree may be thousands deep)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def parse_tensor_ref(text: str) -> TensorRef:
    """Parse `NAME[i,j,...]` (used for outputs and input declarations)."""
    node = parse_python(text).body
    if not isinstance(node, ast.Subscript):
        raise ExprSyntaxError(f"expected a tensor like NAME[i,j], got {text.strip()!r}")
    return _tensor_ref(node)


def parse_expr(text: str) -> Expr:
    return _expr(parse_python(text).body)


def _tensor_ref(node: ast.Subscript) -> TensorRef:
    if not isinstance(node.value, ast.Name):
        raise ExprSyntaxError("a tensor name must be a plain identifier")
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return TensorRef(node.value.id, tuple(_index(part) for part in parts))


def _index(node: ast.AST) -> Index:
    if isinstance(node, ast.Name):
        return FinalIndex(node.id) if node.id[0].isupper() else RankIndex(node.id)
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add | ast.Sub)
        and isinstance(node.left, ast.Name)
        and isinstance(node.right, ast.Constant)
        and isinstance(node.right.value, int)
    ):
        sign = 1 if isinstance(node.op, ast.Add) else -1
        return RankIndex(node.left.id, sign * node.right.value)
    raise ExprSyntaxError(
        f"index {ast.unparse(node)!r} must be a rank (m), a shifted rank (m1+1) or a final index (M1)")


def _expr(node: ast.AST) -> Expr:
    if isinstance(node, ast.Subscript):
        return _tensor_ref(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Const(float(node.value))
    if isinstance(node, ast.Name):
        if node.id in ("inf",):
            return Const(float("inf"))
        return Symbol(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = _expr(node.operand)
        if isinstance(operand, Const):
            return Const(-operand.value)
        return Unary(Op.NEG, operand)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
        return _expr(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _INFIX:
        return Binary(_INFIX[type(node.op)], _expr(node.left), _expr(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _call(node.func.id, [_expr(arg) for arg in node.args])
    raise ExprSyntaxError(f"{ast.unparse(node)!r} is not in the operator vocabulary ({', '.join(VOCABULARY)})")


def _call(name: str, args: list[Expr]) -> Expr:
    if name in UNARY_BY_NAME:
        if len(args) != 1:
            raise ExprSyntaxError(f"{name}() takes one operand, got {len(args)}")
        return Unary(UNARY_BY_NAME[name], args[0])
    if name in BINARY_FUNCTION_BY_NAME:
        if len(args) != 2:
            raise ExprSyntaxError(f"{name}() takes two operands, got {len(args)}")
        return Binary(BINARY_FUNCTION_BY_NAME[name], args[0], args[1])
    raise ExprSyntaxError(f"operator {name!r} is not in the vocabulary ({', '.join(VOCABULARY)})")
