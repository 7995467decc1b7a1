"""The results of groups that several structures of a mapping space share, kept per tiling so that each is
evaluated once.

Structures that differ only in a choice one of their groups does not see (the binding of a group that runs on one
array, the lanes of a group that runs on the 2D array) lower that group to the same arrays (the same loop nest,
`mapper_cost._loop_nest`), and at the same sizes it costs the same. The mapper evaluates it for the first
structure that reaches a size and takes the result for the others.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

KEPT_BYTES = 256 << 20  # at most this much kept; beyond, every group is evaluated for every structure
ROW_BYTES = 5 * 8 + 3  # kept per size of a shared group: cycles, three busy times, energy; fits, feasible, kept


@dataclass
class GroupResult:
    """What the mapper uses of a group's batch (`batch.GroupBatch`), per row."""
    cycles: np.ndarray
    busy: np.ndarray  # [rows, 3]
    energy_pj: np.ndarray
    fits: np.ndarray
    feasible: np.ndarray

    @classmethod
    def of(cls, batch) -> GroupResult:
        return cls(*(getattr(batch, name) for name in NAMES))


NAMES = tuple(field.name for field in fields(GroupResult))


class SharedGroups:
    """`keys`: (structure, position of the group) -> the id of the loop nest it shares with another structure's
    group; `sizes`: how many size choices (genomes of one structure) there are, each kept at its index."""

    def __init__(self, keys: dict[tuple[int, int], int], sizes: int):
        ids = len(set(keys.values()))
        self.keys = keys if ids * sizes * ROW_BYTES <= KEPT_BYTES else {}
        self.sizes = sizes
        self._tables: dict[int, tuple[GroupResult, np.ndarray]] = {}  # id -> (results at every size, kept)

    def key(self, structure: int, position: int) -> int | None:
        return self.keys.get((structure, position))

    def take(self, key: int, index: np.ndarray, evaluate) -> GroupResult:
        """The results at the sizes `index` (distinct); the rows not kept yet are evaluated (`evaluate(rows)`, a
        GroupResult of those rows of `index`) and kept."""
        if key not in self._tables:
            empty = GroupResult(np.empty(self.sizes), np.empty((self.sizes, 3)), np.empty(self.sizes),
                                np.zeros(self.sizes, dtype=bool), np.zeros(self.sizes, dtype=bool))
            self._tables[key] = (empty, np.zeros(self.sizes, dtype=bool))
        table, kept = self._tables[key]
        missing = np.flatnonzero(~kept[index])
        if len(missing):
            fresh, at = evaluate(missing), index[missing]
            for name in NAMES:
                getattr(table, name)[at] = getattr(fresh, name)
            kept[at] = True
        return GroupResult(*(getattr(table, name)[index] for name in NAMES))

