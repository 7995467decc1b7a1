"""Spatial-array mappings as data: how a cascade's Einsums are tiled, ordered, placed and pipelined.

A mapping is a list of fused groups run one after another. Inside a group all Einsums share one loop
nest: rank splits (`p -> p2, p1, p0`), temporal loops above the global buffer (`dram_loops`) and
below it (`buffer_loops`), spatial bindings of the 2D and 1D arrays, the array each Einsum runs on,
the level where each tensor lives (`reg`, `staging`, `buffer`, `dram`), and the binding: each
Einsum's software-pipeline stage (stage s works on tile t - s while stage 0 works on tile t). An Einsum is
staged no earlier than the results of its tile it reads (a selection's scores included, for an Einsum the
selection restricts), and a recurrence's reader no more stages before its producer than there are tiles
between the recurrence's steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOMES = ("reg", "staging", "buffer", "dram")
ARRAYS = ("2d", "1d")
SPATIAL_DIMS = {"2d": ("rows", "cols"), "1d": ("lanes",)}
AUTO_SIZES = ("max_fit", "rows", "cols", "lanes")  # largest that fits the buffer, or an array dimension


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    einsums: tuple[str, ...]
    splits: dict[str, tuple[str, ...]]  # cascade rank -> parts, outer to inner
    sizes: dict[str, int | str]  # part -> size (int), "max_fit" or an array dimension; the outermost takes the rest
    dram_loops: tuple[str, ...]
    buffer_loops: tuple[str, ...]
    spatial: dict[str, dict[str, str]]  # array -> dim -> part
    arrays: dict[str, str]  # Einsum -> "2d" | "1d"
    stages: dict[str, int]  # Einsum -> pipeline stage (binding)
    homes: dict[str, str]  # tensor -> level
    spill: tuple[str, ...] = ()  # tensors that may overflow the buffer into DRAM
    # buffer slots for tiles in progress: at least one per stage (deepest stage + 1); by default one more, for the
    # tile being loaded (double buffering)
    tiles_in_flight: int | None = None
    overlap_previous: bool = False  # runs concurrently with the previous group, streaming through DRAM

    @property
    def loops(self) -> tuple[str, ...]:
        return self.dram_loops + self.buffer_loops


@dataclass(frozen=True, slots=True)
class Mapping:
    name: str
    cascade: str
    description: str
    groups: tuple[Group, ...]
    source: str = ""
    variants: tuple[Mapping, ...] = field(default=())  # a family: the best variant is taken per point

    def family(self) -> tuple[Mapping, ...]:
        return self.variants or (self,)
