"""Mask expressions: which points of an iteration space are present (causal, sliding window, block-sparse).

A mask is a boolean expression over rank variables and shape symbols, e.g. `m <= p`,
`|m - p| <= W`, or `m // B == p // B or m // B == 0`. Parsed with Python's `ast`; only the
node kinds below are accepted.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import reduce

import numpy as np

from einsum_cascade.errors import SpecError
from einsum_cascade.expr import ExprSyntaxError, parse_python

_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_ARITH = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
}
_ABS_BARS = re.compile(r"\|([^|]+)\|")
DENSITY_FUNCTIONS = ("Min", "Max")  # sympy's, allowed in a density (a selection keeps Min(KB, M1) of M1 blocks)


def expression_names(text: str | None) -> set[str]:
    """The names an expression uses (shape symbols, params, functions such as Min): a density, a sympy text."""
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text or ""))


@dataclass(frozen=True, slots=True)
class Selection:
    """A data-dependent mask's rule: keep the `keep` largest values of tensor `scores` along rank `over` (ties
    to the lower index), e.g. the top KB key blocks of a query's gate scores (MoBA)."""

    scores: str  # a tensor of the cascade, indexed by `ranks`
    ranks: tuple[str, ...]
    over: str
    keep: str  # a param or an integer

    def keep_count(self, sizes: dict) -> int:
        """How many values it keeps at these sizes (`keep` is a param or an integer literal); a size that is not a
        positive integer is an error, never truncated."""
        value = sizes.get(self.keep, self.keep)
        count = float(value)
        if not count.is_integer() or count <= 0:
            raise SpecError(f"selection of {self.scores}: top = {self.keep} = {value!r} must be a positive integer",
                            key=f"--shape {self.keep}" if self.keep in sizes else "top")
        return int(count)


@dataclass(frozen=True, slots=True)
class Mask:
    """A named restriction of the iteration space; applies to every Einsum whose space covers its ranks. A
    `select` mask is decided by the values of a tensor (`Selection`), not by an expression (`tree` is None)."""

    name: str
    text: str
    tree: ast.Expression | None
    names: frozenset[str]
    density: str | None = None
    select: Selection | None = None
    only: frozenset[str] | None = None  # the Einsums it may restrict (a branch of a multi-branch cascade); None: all

    def ranks(self, rank_names: set[str]) -> frozenset[str]:
        return frozenset(n for n in self.names if n in rank_names)

    def evaluate(self, values: dict[str, np.ndarray | int]) -> np.ndarray:
        """The mask as a boolean array, given arrays (or scalars) for its rank variables and symbols."""
        if self.select is not None:
            raise ValueError(f"mask {self.name} selects by the values of {self.select.scores}: it has no expression "
                             "to evaluate over ranks alone")
        return np.asarray(_eval(self.tree.body, values), dtype=bool)

    def box_bounds(self, lows: dict, highs: dict) -> tuple[np.ndarray, np.ndarray]:
        """Over boxes of integer points (each name from its low to its high value; arrays broadcast, a
        symbol has low = high): whether the mask holds at every point of a box and at some point.

        Interval arithmetic, so `sometimes` may say true and `always` false where the exact answer differs
        (a box that needs masking element-wise, never one wrongly taken as empty or as full). Exact when each
        comparison mentions a rank once per side, or as one difference: `m <= p`, `|m - p| <= W`,
        `m // B == p // B`."""
        always, sometimes = _bounds(self.tree.body, lows, highs)
        return np.asarray(always, dtype=bool), np.asarray(sometimes, dtype=bool)


def undeclared_density_note(masks) -> str | None:
    """What the cost models do with masks that declare no density (count the points they keep), or None."""
    names = [mask.name for mask in masks if not mask.density]
    if not names:
        return None
    return (f"mask{'s' if len(names) > 1 else ''} {', '.join(names)} declare{'' if len(names) > 1 else 's'} no "
            "density: priced at the fraction of points counted exactly at each shape; a declared `density:` "
            "skips the count (and is checked against it by `cascade check`)")


def selection_mask(name: str, scores: str, ranks: tuple[str, ...], over: str, keep: str,
                   over_symbol: str, density: str | None = None) -> Mask:
    """A mask keeping the `keep` largest `scores` along `over`. Its density is exact when not declared: each
    line along `over` keeps min(keep, its length) of its points."""
    return Mask(name, f"top {keep} of {scores}[{','.join(ranks)}] over {over}", None, frozenset(ranks),
                density or f"Min({keep}, {over_symbol})/{over_symbol}", Selection(scores, ranks, over, keep))


def selected(selection: Selection, scores: np.ndarray, keep: int) -> np.ndarray:
    """Boolean array shaped like `scores` (axes in `selection.ranks` order): the `keep` largest values along the
    `over` axis, ties to the lower index; NaN (a padded point) is never preferred to a number."""
    axis = selection.ranks.index(selection.over)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), axis=axis, kind="stable")
    rank_of = np.empty_like(order)
    np.put_along_axis(rank_of, order, np.arange(scores.shape[axis]).reshape(
        [-1 if a == axis else 1 for a in range(scores.ndim)]), axis=axis)
    return rank_of < keep


def parse_mask(name: str, text: str, density: str | None = None) -> Mask:
    """Parse a mask expression; `|x|` is accepted as `abs(x)`."""
    python_text = _ABS_BARS.sub(r"abs(\1)", str(text))
    tree = parse_python(python_text)
    names: set[str] = set()
    called = {id(node.func) for node in ast.walk(tree.body) if isinstance(node, ast.Call)}
    for node in ast.walk(tree.body):
        _check_node(node, text)
        if isinstance(node, ast.Name) and id(node) not in called:
            names.add(node.id)  # a bare `abs` is an (unknown) name, not the function
    return Mask(name, str(text), tree, frozenset(names), density)


def _check_node(node: ast.AST, text: str) -> None:
    allowed = (
        ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp,
        ast.Call, ast.Name, ast.Load, ast.Constant, *_COMPARE, *_ARITH,
    )
    if not isinstance(node, allowed):
        raise ExprSyntaxError(f"mask {text!r}: {type(node).__name__} is not allowed (use comparisons, and/or, "
                              "+ - * // %, abs)")
    if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "abs"):
        raise ExprSyntaxError(f"mask {text!r}: only abs() may be called")
    if isinstance(node, ast.Call) and len(node.args) != 1:
        raise ExprSyntaxError(f"mask {text!r}: abs() takes one operand, got {len(node.args)}")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int):
        raise ExprSyntaxError(f"mask {text!r}: constants must be integers")


def _eval(node: ast.AST, values: dict):
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Call):
        return np.abs(_eval(node.args[0], values))
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        return np.logical_not(operand) if isinstance(node.op, ast.Not) else np.negative(operand)
    if isinstance(node, ast.BinOp):
        return _ARITH[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.BoolOp):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        result = _eval(node.values[0], values)
        for value in node.values[1:]:
            result = combine(result, _eval(value, values))
        return result
    # Compare, possibly chained: a <= b <= c
    result, left = True, _eval(node.left, values)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _eval(comparator, values)
        result = np.logical_and(result, _COMPARE[type(op)](left, right))
        left = right
    return result


def _interval(node: ast.AST, lows: dict, highs: dict):
    """(low, high) of an integer expression over a box (float arrays, inf where unbounded)."""
    if isinstance(node, ast.Name):
        return np.asarray(lows[node.id], dtype=float), np.asarray(highs[node.id], dtype=float)
    if isinstance(node, ast.Constant):
        return float(node.value), float(node.value)
    if isinstance(node, ast.Call):  # abs
        low, high = _interval(node.args[0], lows, highs)
        return np.where(low >= 0, low, np.where(high <= 0, -high, 0.0)), np.maximum(np.abs(low), np.abs(high))
    if isinstance(node, ast.UnaryOp):
        low, high = _interval(node.operand, lows, highs)
        return -high, -low
    (a, b), (c, d) = _interval(node.left, lows, highs), _interval(node.right, lows, highs)
    if isinstance(node.op, ast.Add):
        return a + c, b + d
    if isinstance(node.op, ast.Sub):
        return a - d, b - c
    if isinstance(node.op, ast.Mult | ast.FloorDiv):
        with np.errstate(invalid="ignore", divide="ignore"):
            combine = np.multiply if isinstance(node.op, ast.Mult) else np.floor_divide
            corners = [combine(x, y) for x in (a, b) for y in (c, d)]
        low, high = np.minimum.reduce(corners), np.maximum.reduce(corners)
        unknown = np.isnan(low) | np.isnan(high)  # 0 x inf: the bound says nothing, not "empty"
        low, high = np.where(unknown, -np.inf, low), np.where(unknown, np.inf, high)
        if isinstance(node.op, ast.FloorDiv):  # monotone in each operand only for a positive divisor
            low, high = np.where(c > 0, low, -np.inf), np.where(c > 0, high, np.inf)
        return low, high
    # %: exact when the box does not wrap around a multiple of a constant positive divisor
    whole = (c == d) & (c > 0) & (np.floor_divide(a, np.maximum(c, 1)) == np.floor_divide(b, np.maximum(c, 1)))
    return (np.where(whole, np.mod(a, np.maximum(c, 1)), np.where(c > 0, 0.0, -np.inf)),
            np.where(whole, np.mod(b, np.maximum(c, 1)), np.where(c > 0, d - 1, np.inf)))


_ALWAYS = {ast.Lt: lambda a, b, c, d: b < c, ast.LtE: lambda a, b, c, d: b <= c,
           ast.Gt: lambda a, b, c, d: a > d, ast.GtE: lambda a, b, c, d: a >= d,
           ast.Eq: lambda a, b, c, d: (a == b) & (c == d) & (a == c), ast.NotEq: lambda a, b, c, d: (b < c) | (d < a)}
_SOMETIMES = {ast.Lt: lambda a, b, c, d: a < d, ast.LtE: lambda a, b, c, d: a <= d,
              ast.Gt: lambda a, b, c, d: b > c, ast.GtE: lambda a, b, c, d: b >= c,
              ast.Eq: lambda a, b, c, d: (a <= d) & (c <= b),
              ast.NotEq: lambda a, b, c, d: ~((a == b) & (c == d) & (a == c))}


def _bounds(node: ast.AST, lows: dict, highs: dict):
    """(always, sometimes) of a boolean mask expression over boxes (see `Mask.box_bounds`)."""
    if isinstance(node, ast.BoolOp):
        parts = [_bounds(value, lows, highs) for value in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return reduce(combine, [a for a, _ in parts]), reduce(combine, [s for _, s in parts])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        always, sometimes = _bounds(node.operand, lows, highs)
        return ~np.asarray(sometimes), ~np.asarray(always)
    always, sometimes = True, True
    left = _interval(node.left, lows, highs)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _interval(comparator, lows, highs)
        always = always & _ALWAYS[type(op)](*left, *right)
        sometimes = sometimes & _SOMETIMES[type(op)](*left, *right)
        left = right
    return always, sometimes


COUNT_LEAF_POINTS = 4096  # boxes this small that the bounds cannot decide are counted point by point
COUNT_POINT_BUDGET = 100_000_000  # points counted one by one before giving up (a few seconds of numpy)
COUNT_CHUNK_POINTS = 1 << 21  # points evaluated in one call (bounds the memory of the count)


def count_kept(mask: Mask, extents: dict[str, int], symbols: dict[str, int]) -> int:
    """The exact number of points of the box 0 <= rank < extent (one entry per rank of the mask) that `mask`
    keeps. Boxes are split in two along their longest side until the interval bounds (`box_bounds`) decide them
    (kept whole or not at all) or they are small; a small undecided box is counted point by point, so the count
    is exact whatever the bounds' slack. A mask the bounds cannot decide anywhere would be counted point by
    point everywhere: past COUNT_POINT_BUDGET points that is an error asking for a declared density."""
    ranks = sorted(extents)
    if not ranks:  # a mask of symbols only keeps all or nothing
        return int(bool(np.all(mask.evaluate(dict(symbols)))))
    lows = np.zeros((1, len(ranks)), dtype=np.int64)
    highs = np.array([[extents[r] - 1 for r in ranks]], dtype=np.int64)
    kept = brute_points = 0
    while len(lows):
        always, sometimes = mask.box_bounds({**symbols, **{r: lows[:, i] for i, r in enumerate(ranks)}},
                                            {**symbols, **{r: highs[:, i] for i, r in enumerate(ranks)}})
        always = np.broadcast_to(always, (len(lows),))
        sometimes = np.broadcast_to(sometimes, (len(lows),))
        sides = highs - lows + 1
        volume = np.prod(sides, axis=1)
        kept += int(volume[always].sum())
        open_boxes = sometimes & ~always
        small = open_boxes & (volume <= COUNT_LEAF_POINTS)
        brute_points += int(volume[small].sum())
        if brute_points > COUNT_POINT_BUDGET:  # before counting them, so the refusal is quick
            raise ValueError(f"mask {mask.name} ({mask.text}): its points cannot be counted in bounded time "
                             f"(more than {COUNT_POINT_BUDGET:,} undecided by interval bounds)")
        kept += _count_points(mask, ranks, lows[small], sides[small], symbols)
        split = open_boxes & ~small
        lows, highs, sides = lows[split], highs[split], sides[split]
        axis = np.argmax(sides, axis=1)
        middle = lows[np.arange(len(lows)), axis] + sides[np.arange(len(lows)), axis] // 2
        left_high, right_low = highs.copy(), lows.copy()
        left_high[np.arange(len(lows)), axis] = middle - 1
        right_low[np.arange(len(lows)), axis] = middle
        lows, highs = np.concatenate([lows, right_low]), np.concatenate([left_high, highs])
    return kept


def _count_points(mask: Mask, ranks: list[str], lows: np.ndarray, sides: np.ndarray, symbols: dict) -> int:
    """Points of these boxes (corner `lows`, lengths `sides`, one row each) that `mask` keeps, all boxes' points
    evaluated in one call (each point's coordinates from its box and its position in it, row-major)."""
    volume = np.prod(sides, axis=1)
    if len(lows) > 1 and volume.sum() > COUNT_CHUNK_POINTS:
        half = len(lows) // 2
        return (_count_points(mask, ranks, lows[:half], sides[:half], symbols)
                + _count_points(mask, ranks, lows[half:], sides[half:], symbols))
    if not len(lows):
        return 0
    box = np.repeat(np.arange(len(lows)), volume)
    local = np.arange(int(volume.sum())) - np.repeat(np.cumsum(volume) - volume, volume)
    strides = np.cumprod(sides[:, ::-1], axis=1)[:, ::-1] // sides  # row-major strides per box
    coordinates = {rank: lows[box, i] + local // strides[box, i] % sides[box, i] for i, rank in enumerate(ranks)}
    return int(np.broadcast_to(mask.evaluate({**symbols, **coordinates}), local.shape).sum())
