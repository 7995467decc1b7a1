"""Mapping spaces as integer genomes: gene g takes the values 0 .. dimensions[g] - 1.

The search loop (`mappers/search.py`) needs only this interface; a space says what its genes mean.
"""

from __future__ import annotations

import numpy as np


class GenomeSpace:
    """Base of the mapping spaces: sampling, neighbours and exhaustive enumeration of genomes."""

    @property
    def dimensions(self) -> list[int]:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return int(np.prod(self.dimensions))

    @property
    def candidates(self) -> int:
        """Genomes a search costs beyond cheap pruning (a space that prunes says how many; else all)."""
        return self.size

    def random(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return np.stack([rng.integers(0, d, count) for d in self.dimensions], axis=1)

    def mutate(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Move one gene of every genome to a neighbouring choice."""
        children = genomes.copy()
        rows = np.arange(len(children))
        gene = rng.integers(0, len(self.dimensions), len(children))
        step = rng.choice((-1, 1), len(children))
        limits = np.array(self.dimensions)[gene] - 1
        children[rows, gene] = np.clip(children[rows, gene] + step, 0, limits)
        return children

    @property
    def strides(self) -> np.ndarray:
        """Mixed-radix weights: a genome's index in `enumerate` order is `genome @ strides`."""
        dimensions = np.array(self.dimensions, dtype=np.int64)
        return np.append(np.cumprod(dimensions[::-1])[::-1][1:], 1)

    def at(self, index: np.ndarray) -> np.ndarray:
        """The genomes at these indices of `enumerate` order."""
        return np.stack(np.unravel_index(np.asarray(index, dtype=np.int64), tuple(self.dimensions)), axis=1)

    def enumerate(self, batch: int):
        """Every genome, in batches (exhaustive search), in `itertools.product` order (last gene fastest)."""
        for start in range(0, self.size, batch):
            yield self.at(np.arange(start, min(start + batch, self.size), dtype=np.int64))

    pruned_reason = "pruned"  # why `enumerate_batches` leaves genomes out (none here)

    def enumerate_batches(self, batch: int):
        """`enumerate`'s batches, each with how many genomes of its range the space's cheap check left out of it
        (`pruned_reason`); here none."""
        for genomes in self.enumerate(batch):
            yield genomes, 0
