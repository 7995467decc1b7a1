"""Search loops over a mapping space: exhaustive, random sampling and an evolutionary local search.

The cost function is handed in (`cost(genomes) -> (values, rejections)`: inf for illegal candidates,
and a Counter of why they were rejected), so one loop serves every cost model; this module never
imports the simulator. All strategies are seeded, stop at a budget of evaluations or seconds, show a
progress bar and keep the best-so-far history.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from tqdm import tqdm

STRATEGIES = ("auto", "exhaustive", "random", "evolution")
# Latencies within this fraction of each other are a tie: below what the cost models can tell apart. A search
# then keeps the shipped choice (GPU tiles) or the lower-energy one (a spatial mapping family's variants).
TIE_TOLERANCE = 0.005
# Values within this fraction of each other are equal: a cost model's last digits follow the order of its sums
# (where a schedule's extrapolation starts, a kernel's summation order), not the mapping. The candidate met
# first keeps the place, so the best of an exhaustive search is the first of its ties in enumeration order.
ROUNDING = 1e-12
# Candidates left after the cheap pruning (`space.candidates`) that an exhaustive search gets through per second
# on the 2-core reference machine, kernel load included (`make bench`: (evaluated - pruned) / seconds is 1.3e5 on
# the 4096x768x768 GEMM space, 2.9e5 on FuseMax at 64K, 9.3e5 on FuseMax at 1500 tokens, the small searches held
# back by their fixed costs; 1e5 keeps a margin for a slower machine): `auto` searches exhaustively when those
# candidates take no longer than the time budget.
EXHAUSTIVE_RATE = 100_000
# Genomes a random search draws per batch, on average, per structure of the space: the cost model evaluates a batch one
# structure (one loop nest) at a time, paying some 80 us of fixed cost per structure and group against about
# 1 us per row, so a batch of 16384 spread over FuseMax's 447 structures (204 once canonicalized) spends most
# of its time on fixed costs (`cascade map --arch fusemax --cascade fusemax --workload bert --seq 1500
# --strategy random --budget 1000000`: 99,329 legal candidates/s with batches of 16384, 305,111/s with these).
# A batch is never more than half the space (past half, a random search draws only unseen genomes), so a small
# space is not drawn over and over; the batch size decides the seeded course of the search, when it turns to
# unseen genomes, and how far a batch runs past a time budget.
RANDOM_ROWS_PER_STRUCTURE = 1024
RANDOM_BATCH_MAX = 1 << 18  # bounds a batch's memory and how far it runs past a time budget
# The random genomes each generation of the evolutionary search takes in come in runs of one structure, this
# many each, for the same reason: drawn freely, 2048 of them touched 203 of FuseMax's 204 structures every
# generation; in runs, the generation touches some 13 (the parents' and the runs'), and every structure is still
# drawn over the generations (`cascade map --arch fusemax --cascade fusemax --workload bert --seq 1500 --strategy
# evolution --budget 1000000`: 17.6K legal candidates/s drawn freely, 135K in runs, the same best).
IMMIGRANTS_PER_STRUCTURE = 256


@dataclass(frozen=True)
class SearchSettings:
    strategy: str = "auto"
    evaluations: int | None = None  # budget in candidates
    seconds: float | None = 30.0  # budget in wall time
    seed: int = 0
    batch: int = 16384
    population: int = 256


def parse_budget(text, key: str = "--budget") -> tuple[int | None, float | None]:
    """A budget as (evaluations, seconds): `30s` is 30 seconds, `200000` is that many candidates."""
    from einsum_cascade.errors import SpecError

    value = str(text).strip().lower()
    try:
        evaluations, seconds = (None, float(value[:-1])) if value.endswith("s") else (int(value), None)
    except ValueError:
        raise SpecError(f"{value!r} is not a budget (use e.g. 30s or 200000)", key=key) from None
    if (seconds is not None and not seconds > 0) or (evaluations is not None and evaluations <= 0):
        raise SpecError(f"{value!r} is not a budget: it must be positive (e.g. 30s or 200000)", key=key)
    return evaluations, seconds


@dataclass
class SearchResult:
    """`evaluated`: distinct candidates the search accounted for (`pruned` of them rejected by the space's cheap
    checks, such as a buffer loop longer than the tiles there are, whether costed or left out of an exhaustive
    search's batches unseen; `legal` of them with a finite cost);
    `duplicates`: genomes drawn again (a random draw or a mutation landing on a candidate already costed),
    skipped, not counted as evaluated."""
    best: np.ndarray | None
    best_value: float
    evaluated: int
    legal: int
    seconds: float
    strategy: str
    history: list[dict] = field(default_factory=list)
    rejections: Counter = field(default_factory=Counter)
    duplicates: int = 0
    pruned: int = 0

    @property
    def candidates_per_s(self) -> float:
        """Distinct legal candidates per second of the whole search (kernel loading included)."""
        return self.legal / max(self.seconds, 1e-9)

    def binding_constraint(self) -> str:
        """The most frequent reason candidates were rejected (what to relax when nothing is legal)."""
        return self.rejections.most_common(1)[0][0] if self.rejections else "no candidates"


@njit(cache=True)
def _first_unseen(index, bits):
    """True at each index's first occurrence in the batch, where `bits` does not have it: one pass that marks
    `bits` as it goes (a repeat then finds its mark), then a pass that takes those marks back (sorting the batch
    to find repeats took a fifth of an evolutionary search's time; a random search's large batches gain nothing)."""
    fresh = np.empty(index.shape[0], dtype=np.bool_)
    for n in range(index.shape[0]):
        fresh[n] = not bits[index[n]]
        bits[index[n]] = True
    for n in range(index.shape[0]):
        if fresh[n]:
            bits[index[n]] = False
    return fresh


class _Seen:
    """Which genomes of the space were already costed: one bit per genome (mixed-radix index)."""

    def __init__(self, space):
        self.space, self.strides, self.size = space, space.strides, int(space.size)
        self.bits = np.zeros(self.size, dtype=bool)
        self.count = 0

    @property
    def complete(self) -> bool:
        return self.count >= self.size

    def index(self, genomes: np.ndarray) -> np.ndarray:
        """Each genome's place in the space (its mixed-radix index)."""
        return genomes.astype(np.int64) @ self.strides

    def fresh(self, index: np.ndarray) -> np.ndarray:
        """True for each genome (by `index`) neither costed before nor repeated earlier in this batch."""
        return _first_unseen(index, self.bits)

    def unseen(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Up to `count` genomes not costed yet, drawn at random without repeats."""
        index = np.flatnonzero(~self.bits)
        return self.space.at(rng.choice(index, min(count, len(index)), replace=False))

    def mark(self, fresh_index: np.ndarray) -> None:
        self.bits[fresh_index] = True
        self.count += len(fresh_index)


class _Budget:
    def __init__(self, settings: SearchSettings, space_size: int):
        self.limit = min(settings.evaluations or space_size, space_size) if settings.strategy == "exhaustive" \
            else (settings.evaluations or np.iinfo(np.int64).max)
        self.deadline = time.perf_counter() + settings.seconds if settings.seconds else float("inf")

    def left(self, evaluated: int) -> int:
        return 0 if time.perf_counter() > self.deadline else max(0, self.limit - evaluated)


def search(space, cost, settings: SearchSettings, progress: bool = True) -> SearchResult:
    """Find the genome with the lowest cost in `space` within the budget."""
    strategy = settings.strategy
    if strategy == "auto":
        strategy = "exhaustive" if exhaustive_fits(space, settings) else "evolution"
    rng = np.random.default_rng(settings.seed)
    result = SearchResult(None, float("inf"), 0, 0, 0.0, strategy)
    budget = _Budget(SearchSettings(strategy, settings.evaluations, settings.seconds), space.size)
    start = time.perf_counter()
    total = min(budget.limit, space.size) if strategy == "exhaustive" else settings.evaluations
    bar = tqdm(total=total, desc=f"mapper ({strategy})", unit="cand", disable=not progress, leave=False)

    seen = _Seen(space)
    legal_sizes = getattr(space, "legal_sizes", None)

    def evaluate(genomes: np.ndarray, left: int | None = None) -> np.ndarray:
        """Cost of each genome (inf for one already costed); the batch is cut where the budget (`left`, read
        here unless the caller read it) runs out."""
        index = seen.index(genomes)
        fresh = seen.fresh(index)
        if left is None:
            left = budget.left(result.evaluated)  # (read once: a time budget's clock moves)
        if fresh.sum() > left:
            within = np.cumsum(fresh) <= left
            genomes, fresh, index = genomes[within], fresh[within], index[within]
        if not len(genomes):
            return np.empty(0)
        every = fresh.all()  # (an enumerated batch: no copies)
        values = np.full(len(genomes), np.inf)
        result.duplicates += int((~fresh).sum())
        if fresh.any():
            new = genomes if every else genomes[fresh]
            seen.mark(index if every else index[fresh])
            costs, reasons = cost(new)
            values[fresh] = costs
            result.evaluated += len(new)
            result.legal += int(np.isfinite(costs).sum())
            result.pruned += int((~legal_sizes(new)).sum()) if legal_sizes else 0
            result.rejections.update(reasons)
            bar.update(len(new))
        best = int(np.flatnonzero(values <= values.min() * (1 + ROUNDING))[0])  # the first of the ties
        if values[best] < result.best_value * (1 - ROUNDING):
            result.best_value, result.best = float(values[best]), genomes[best].copy()
            result.history.append({"evaluated": result.evaluated, "seconds": time.perf_counter() - start,
                                   "best": result.best_value})
        return values

    if strategy == "exhaustive":  # the genomes the space prunes cheaply are left out of the batches, counted
        # as evaluated and pruned as when costed; a budget cutting the space short costs them in order instead
        batches = space.enumerate_batches(settings.batch) if budget.limit >= space.size else (
            (genomes, 0) for genomes in space.enumerate(settings.batch))
        for genomes, left_out in batches:
            left = budget.left(result.evaluated)  # read once and handed to `evaluate`: a batch whose left-out
            if not left:  # genomes are counted is then costed, whatever the clock does meanwhile
                break
            if left_out:
                result.evaluated += left_out
                result.pruned += left_out
                result.rejections[space.pruned_reason] += left_out
                bar.update(left_out)
            evaluate(genomes, left - left_out)
    elif strategy == "random":
        draw = random_batch(space, settings)
        while budget.left(result.evaluated) and not seen.complete:  # past half the space, draw unseen genomes
            late = 2 * seen.count > seen.size
            evaluate(seen.unseen(rng, draw) if late else space.random(rng, draw))
    else:
        _evolve(space, evaluate, budget, result, rng, settings, seen)
    bar.close()
    result.seconds = time.perf_counter() - start
    return result


def random_batch(space, settings: SearchSettings) -> int:
    """Genomes per batch of a random search: `RANDOM_ROWS_PER_STRUCTURE` per value of the first gene (a spatial
    mapping space's structure), at most `RANDOM_BATCH_MAX` and half the space, at least `settings.batch`."""
    return max(settings.batch, min(RANDOM_BATCH_MAX, RANDOM_ROWS_PER_STRUCTURE * int(space.dimensions[0]),
                                   int(space.size) // 2))


def exhaustive_fits(space, settings: SearchSettings) -> bool:
    """Whether an exhaustive search ends within the budget: a budget in candidates covers the whole space, or
    the candidates left after the cheap pruning (`space.candidates`) take no longer than the time budget at
    `EXHAUSTIVE_RATE`; without a budget, always."""
    if settings.evaluations:
        return space.size <= settings.evaluations
    return settings.seconds is None or space.candidates <= settings.seconds * EXHAUSTIVE_RATE


def _evolve(space, evaluate, budget, result, rng, settings: SearchSettings, seen: _Seen) -> None:
    """Keep the best `population` genomes; each generation mutates tournament winners, plus fresh randoms."""
    population = space.random(rng, settings.population)
    scores = evaluate(population)
    population = population[: len(scores)]
    while budget.left(result.evaluated) and len(population) and not seen.complete:
        parents = population[_tournament(scores, rng, settings.batch)]
        children = np.concatenate([space.mutate(parents, rng), _immigrants(space, rng, settings.batch // 8)])
        child_scores = evaluate(children)
        children = children[: len(child_scores)]
        merged = np.concatenate([population, children])
        merged_scores = np.concatenate([scores, child_scores])
        keep = np.argsort(merged_scores, kind="stable")[: settings.population]
        population, scores = merged[keep], merged_scores[keep]


def _immigrants(space, rng, count: int) -> np.ndarray:
    """`count` random genomes over a few values of the first gene (a spatial mapping space's structure),
    IMMIGRANTS_PER_STRUCTURE each, each value drawn afresh. The spaces searched draw their genes independently,
    so a genome with its first gene redrawn is as legal as any."""
    genomes = space.random(rng, count)
    structures = rng.integers(0, space.dimensions[0], -(-count // IMMIGRANTS_PER_STRUCTURE))
    genomes[:, 0] = np.repeat(structures, IMMIGRANTS_PER_STRUCTURE)[:count]
    return genomes


def _tournament(scores: np.ndarray, rng, count: int) -> np.ndarray:
    first = rng.integers(0, len(scores), count)
    second = rng.integers(0, len(scores), count)
    return np.where(scores[first] <= scores[second], first, second)
