"""Sympy views of a cascade's shapes: rank sizes, mask densities, and typical evaluation shapes."""

from __future__ import annotations

import functools
import math

import sympy

from einsum_cascade.errors import SpecError
from einsum_cascade.masks import DENSITY_FUNCTIONS, expression_names
from einsum_cascade.model import Cascade

# Shapes used when a table needs numbers and the user gave none: a 64K-token sequence with
# head dimension 64 (the FuseMax paper's BERT point, REFERENCE.md §1), 4 query heads per KV head, and
# for a lone GEMM the BERT FFN1 product (K = d_model = 768, N = FFN = 3072).

TYPICAL_SHAPES = {"M": 65536, "P": 65536, "E": 64, "F": 64, "G": 4, "B": 64, "H": 12, "HKV": 12, "K": 768, "N": 3072}


def symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, positive=True)


def fixed_rank_values(cascade: Cascade) -> dict[sympy.Symbol, int]:
    """Params that pin a rank's shape (e.g. P = 1 for decode) are substituted everywhere."""
    rank_symbols = set(cascade.shapes.values())
    return {symbol(k): v for k, v in cascade.params.items() if k in rank_symbols
            and not any(p.tile_symbol == k for p in cascade.partitions)}


def rank_size(cascade: Cascade, rank: str) -> sympy.Expr:
    return symbol(cascade.shapes[rank]).subs(fixed_rank_values(cascade))


def tiles_as_ratio(cascade: Cascade) -> dict[sympy.Symbol, sympy.Expr]:
    """M1 -> M/M0: exact when the tile divides the rank, the form a paper's table uses."""
    return {symbol(cascade.shapes[p.outer]): symbol(cascade.shapes[p.parent]) / symbol(p.tile_symbol)
            for p in cascade.partitions}


def parse_sympy(text: str) -> sympy.Expr:
    names = {name: symbol(name) for name in expression_names(text) if name not in DENSITY_FUNCTIONS}
    return sympy.sympify(text, locals=names)


def concrete_sizes(cascade: Cascade, values: dict[str, int]) -> tuple[dict, dict]:
    """(the given shapes over the typical ones, the cascade's sizes at them: params, outer tile counts)."""
    known = {**TYPICAL_SHAPES, **values}
    return known, cascade.sizes({k: v for k, v in known.items() if k not in cascade.params or k in values})


def evaluate(expr: sympy.Expr, cascade: Cascade, values: dict[str, int]) -> int | float:
    """Numeric value for concrete shapes (outer tile counts use the ceiling, as the executor does)."""
    known, sizes = concrete_sizes(cascade, values)
    substitutions = {symbol(k): v for k, v in {**known, **sizes}.items()}
    value = float(sympy.sympify(expr).subs(substitutions))
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def mask_density(mask, cascade: Cascade, values: dict[str, int]) -> float:
    """The fraction of points `mask` keeps at these shapes: from its declared density, else counted exactly
    (`derived_density`); a value outside (0, 1] (a division by zero, a density above one, a mask that keeps
    nothing) is an error naming the mask, never clipped or replaced."""
    if not mask.density:
        return derived_density(mask, cascade, tuple(sorted(values.items())))
    value = _density_value(mask.density, cascade, tuple(sorted(values.items())))
    if not 0 < value <= 1:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
        raise SpecError(f"mask {mask.name}: density {mask.density!r} is {value:g} at {shown}; a density is the "
                        "fraction of points the mask keeps, in (0, 1]", source=cascade.source,
                        key=f"masks.{mask.name}.density")
    return value


@functools.lru_cache(maxsize=4096)
def _density_value(density: str, cascade: Cascade, values: tuple) -> float:
    """A density's value at these shapes, NaN where it has none; cached, since the cost models ask it at every
    point of a sweep and for every structure a search lowers (a symbolic evaluation takes about 2 ms)."""
    try:
        return float(evaluate(parse_sympy(density), cascade, dict(values)))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return math.nan


@functools.lru_cache(maxsize=1024)
def derived_density(mask, cascade: Cascade, values: tuple) -> float:
    """The fraction of its ranks' points a mask without a declared density keeps at these shapes, by an exact
    count (`einsum_cascade.masks.count_kept`); the shapes not given take their typical values, as `evaluate`."""
    from einsum_cascade.masks import count_kept

    _, sizes = concrete_sizes(cascade, dict(values))
    parents = {r for r in cascade.shapes if cascade.partition_of_part(r) is None}
    extents = {rank: int(sizes[cascade.shapes[rank]]) for rank in mask.ranks(parents)}
    shown = ", ".join(f"{cascade.shapes[r]}={n}" for r, n in sorted(extents.items()))
    try:
        kept = count_kept(mask, extents, sizes)
    except ValueError as error:
        raise SpecError(f"{error}; declare its `density:`", source=cascade.source,
                        key=f"masks.{mask.name}") from None
    if kept == 0:
        raise SpecError(f"mask {mask.name} ({mask.text}) keeps no point at {shown}", source=cascade.source,
                        key=f"masks.{mask.name}")
    return kept / math.prod(extents.values())


def check_densities(cascade: Cascade, values: dict[str, int]) -> None:
    """Every declared mask density of `cascade` is in (0, 1] at these shapes (before a search prices it)."""
    for mask in cascade.masks:
        if mask.density:
            mask_density(mask, cascade, values)
