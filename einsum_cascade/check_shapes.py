"""The small shapes `cascade check` runs a cascade at, and the concrete sizes of a cascade at one of them
(shared by the check and by a reference cascade run beside it)."""

from __future__ import annotations

from einsum_cascade.model import Cascade

# Small rank sizes, chosen so that the tile of a partition (3, 4, 2) sometimes divides M and
# sometimes does not, and ranks differ in size so transposition mistakes show.
SHAPE_SETS = (
    {"M": 7, "P": 5, "E": 3, "F": 2, "G": 2, "tile": 3},
    {"M": 8, "P": 8, "E": 4, "F": 4, "G": 3, "tile": 4},
    {"M": 13, "P": 6, "E": 2, "F": 3, "G": 1, "tile": 4},
    {"M": 1, "P": 1, "E": 1, "F": 1, "G": 1, "tile": 2},
)


def check_sizes(cascade: Cascade, shape_set: dict[str, int]) -> dict[str, int]:
    """Concrete sizes for one shape set: rank symbols from the set, params that fix a rank keep their
    value (e.g. P = 1 for decode); params that size the structure (a partition's tile, a mask's window width
    or block size) get the set's tile, so tiling and masks are exercised at small sizes; every other param
    (a slope, a scale) keeps its declared value. A selection's `top` is lowered below its block count, so that the
    choice leaves blocks out."""
    rank_symbols = {cascade.shapes[r] for r in cascade.shapes if cascade.partition_of_part(r) is None}
    structural = {p.tile_symbol for p in cascade.partitions} | {n for mask in cascade.masks for n in mask.names}
    sizes = {}
    for symbol in sorted(rank_symbols):
        sizes[symbol] = int(cascade.params[symbol]) if symbol in cascade.params else shape_set.get(symbol, 3)
    for symbol, value in cascade.params.items():
        if symbol not in rank_symbols:
            sizes[symbol] = shape_set["tile"] if symbol in structural else value
    sizes = cascade.sizes(sizes)
    for mask in cascade.masks:  # a selection keeps fewer than all of its blocks where there are several
        if mask.select and mask.select.keep in cascade.params:
            blocks = sizes[cascade.shapes[mask.select.over]]
            sizes[mask.select.keep] = max(1, min(int(sizes[mask.select.keep]), blocks - 1))
    return sizes
