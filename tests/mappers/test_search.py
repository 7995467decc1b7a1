"""The mapper: exhaustive search finds the brute-forced optimum, seeds repeat, and an over-constrained
space says which constraint binds."""

from collections import Counter

import numpy as np
import pytest

from arch_models import load_arch
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from mappers.genome import GenomeSpace
from mappers.search import SearchSettings, exhaustive_fits, search
from mappers.space import SpatialMappingSpace
from simulator.spatial.lower import MappingRejected
from simulator.spatial.mapper_cost import SpatialCost
from simulator.studies.mapping_choice import simulate_family
from simulator.studies.spatial_search import search_mapping

SMALL_GEMM = {"M": 64, "K": 16, "N": 32}


@pytest.fixture(scope="module")
def small_space():
    arch = load_arch("fusemax").with_overrides(pe_dim=8)
    return SpatialMappingSpace(library_cascade("gemm"), arch, SMALL_GEMM)


def brute_force(space) -> float:
    """Decode and simulate every genome on its own (the slow, obviously correct way), skipping structures that
    lower to the same loop nest as an earlier one (tests/mappers/test_canonical_structures.py shows they cost
    the same at every size)."""
    kept = set(SpatialCost(SpatialMappingSpace(space.cascade, space.arch, space.shapes)).canonicalize().values())
    best = np.inf
    for genomes in space.enumerate(10_000):
        genomes = genomes[np.isin(genomes[:, 0], list(kept))]
        for genome in genomes[space.legal_sizes(genomes)]:
            try:
                report = simulate_family(space.cascade, space.arch, space.decode(genome), space.shapes)
            except MappingRejected:
                continue
            best = min(best, report.latency_s)
    return best


def test_exhaustive_search_finds_the_brute_forced_optimum(small_space):
    result = search(small_space, SpatialCost(small_space), SearchSettings(strategy="exhaustive", seconds=None),
                    progress=False)
    assert result.evaluated == small_space.size
    assert result.best_value == pytest.approx(brute_force(small_space), rel=1e-12)


def test_gemm_optimum_is_the_compute_bound_when_tiles_fit(small_space):
    result = search(small_space, SpatialCost(small_space), SearchSettings(strategy="exhaustive", seconds=None),
                    progress=False)
    macs = SMALL_GEMM["M"] * SMALL_GEMM["K"] * SMALL_GEMM["N"]
    bound = macs / 64 / small_space.arch.clock_hz  # 8x8 PEs, one MAC per PE per cycle
    assert bound <= result.best_value <= 1.01 * bound  # plus the first tile's load, which nothing hides


def test_same_seed_same_result():
    arch = load_arch("fusemax")
    shapes = {"B": 64, "H": 12, "M": 4096, "P": 4096, "E": 64, "F": 64}
    space = SpatialMappingSpace(library_cascade("fusemax"), arch, shapes)
    settings = SearchSettings(strategy="evolution", evaluations=6000, seconds=None, seed=7, batch=512,
                              population=64)
    first = search(space, SpatialCost(space), settings, progress=False)
    second = search(space, SpatialCost(space), settings, progress=False)
    assert first.best_value == second.best_value
    assert np.array_equal(first.best, second.best)
    assert [h["best"] for h in first.history] == [h["best"] for h in second.history]


def test_random_strategy_respects_the_evaluation_budget():
    arch = load_arch("fusemax")
    shapes = {"B": 1, "H": 1, "M": 1024, "P": 1024, "E": 64, "F": 64}
    space = SpatialMappingSpace(library_cascade("fusemax"), arch, shapes)
    result = search(space, SpatialCost(space), SearchSettings(strategy="random", evaluations=3000, seconds=None,
                                                              batch=1000), progress=False)
    assert result.evaluated == 3000
    assert all(a["best"] >= b["best"] for a, b in zip(result.history, result.history[1:], strict=False))


def test_over_constrained_space_reports_no_legal_mapping_and_why(tmp_path):
    arch = load_arch("fusemax").with_overrides(global_buffer_bytes=64)  # 64 B cannot hold one 64-word K column
    shapes = {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64, "F": 64}
    with pytest.raises(SpecError, match="no legal mapping.*binding constraint: buffers overflow"):
        search_mapping(library_cascade("fusemax"), arch, shapes, "latency",
                       SearchSettings(seconds=20), progress=False, use_cache=False)


class RecordingCost:
    """A cost of a GenomeSpace that records every genome it is given (value: the genome's digits summed)."""

    def __init__(self):
        self.seen: list[tuple] = []

    def __call__(self, genomes):
        self.seen += [tuple(g) for g in genomes]
        return genomes.sum(axis=1).astype(float), Counter()


class GridSpace(GenomeSpace):
    """A plain 3 x 4 x 5 genome space (60 genomes), none pruned."""

    dimensions = [3, 4, 5]


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_no_genome_is_costed_twice_and_the_search_stops_when_the_space_is_spent(strategy):
    cost = RecordingCost()
    result = search(GridSpace(), cost, SearchSettings(strategy=strategy, evaluations=10_000, seconds=None, batch=16,
                                                      population=8), progress=False)
    assert len(cost.seen) == len(set(cost.seen)) == 60  # each of the 60 genomes once, then it stops
    assert result.evaluated == result.legal == 60 and result.duplicates > 0 and result.pruned == 0
    assert result.best_value == 0.0 and result.candidates_per_s == pytest.approx(60 / result.seconds)


def test_pruned_and_distinct_counts_on_the_gemm_space(small_space):
    result = search(small_space, SpatialCost(small_space), SearchSettings(strategy="random", evaluations=5000,
                                                                           seconds=None, batch=1000), progress=False)
    illegal = sum(int((~small_space.legal_sizes(g)).sum()) for g in small_space.enumerate(10_000))
    assert result.evaluated == 5000 and 0 < result.pruned < 5000
    assert result.pruned == pytest.approx(5000 * illegal / small_space.size, rel=0.2)  # a uniform sample
    assert result.legal <= result.evaluated - result.pruned
    assert result.candidates_per_s == pytest.approx(result.legal / result.seconds)  # legal ones only


@pytest.mark.parametrize("batch", [7, 60])
def test_values_equal_to_the_last_digits_are_a_tie_the_first_candidate_keeps(batch):
    # two genomes whose costs differ only in the last digit (a cost model's summation order, not the mapping):
    # the exhaustive search keeps the first in enumeration order, in one batch or across batches, even when the
    # later one is a digit lower; a real improvement still wins
    base = 1.0 + 2**-40

    def cost(genomes):
        index = genomes @ GridSpace().strides
        values = np.full(len(genomes), 2.0)
        values[index == 11] = base  # met first
        values[index == 47] = np.nextafter(base, 0.0)  # one digit lower, met later
        return values, Counter()

    result = search(GridSpace(), cost, SearchSettings(strategy="exhaustive", seconds=None, batch=batch),
                    progress=False)
    assert int(result.best @ GridSpace().strides) == 11 and result.best_value == base

    def better(genomes):
        values, reasons = cost(genomes)
        values[(genomes @ GridSpace().strides) == 47] = base * (1 - 1e-9)  # a real improvement
        return values, reasons

    result = search(GridSpace(), better, SearchSettings(strategy="exhaustive", seconds=None, batch=batch),
                    progress=False)
    assert int(result.best @ GridSpace().strides) == 47


def test_the_candidates_left_after_pruning_are_counted_without_enumerating(small_space):
    legal = sum(int(small_space.legal_sizes(g).sum()) for g in small_space.enumerate(10_000))  # one by one
    assert small_space.candidates == legal < small_space.size


class CountedSpace(GridSpace):
    """A space that says how many candidates survive its pruning."""

    def __init__(self, candidates: int):
        self._candidates = candidates

    @property
    def candidates(self) -> int:
        return self._candidates


def test_auto_searches_exhaustively_what_the_time_budget_covers():
    # 30 s at EXHAUSTIVE_RATE (1e5 legal candidates/s) cost 3e6 candidates
    assert exhaustive_fits(CountedSpace(3_000_000), SearchSettings(seconds=30.0))
    assert not exhaustive_fits(CountedSpace(3_000_001), SearchSettings(seconds=30.0))
    assert exhaustive_fits(CountedSpace(10**9), SearchSettings(seconds=None))  # no budget: all of it
    # a budget in candidates must cover the whole space (pruned genomes count: they are drawn too)
    assert exhaustive_fits(CountedSpace(1), SearchSettings(evaluations=60, seconds=None))
    assert not exhaustive_fits(CountedSpace(1), SearchSettings(evaluations=59, seconds=None))


def test_an_exhaustive_search_leaves_pruned_sizes_out_and_counts_them_as_costing_them_does(small_space):
    # The exhaustive search takes only the genomes whose sizes pass `legal_sizes` into its batches, counting the
    # others as evaluated, pruned and rejected for that reason; costing every genome (the base class's batches)
    # must give the same counts, the same rejections and the same best.
    class CostEvery(SpatialMappingSpace):
        def enumerate_batches(self, batch):
            return GenomeSpace.enumerate_batches(self, batch)

    def run(space):
        cost, costed = SpatialCost(space), []

        def counted(genomes):
            costed.append(len(genomes))
            return cost(genomes)

        result = search(space, counted, SearchSettings(strategy="exhaustive", seconds=None, batch=100), progress=False)
        return result, sum(costed)

    leaving_out = SpatialMappingSpace(small_space.cascade, small_space.arch, SMALL_GEMM)
    illegal = sum(int((~leaving_out.legal_sizes(g)).sum()) for g in leaving_out.enumerate(10_000))
    left, left_costed = run(leaving_out)
    every, every_costed = run(CostEvery(small_space.cascade, small_space.arch, SMALL_GEMM))
    assert illegal > 0 and left_costed == leaving_out.size - illegal and every_costed == leaving_out.size
    for result in (left, every):
        assert (result.evaluated, result.pruned) == (leaving_out.size, illegal)
        assert result.rejections[leaving_out.pruned_reason] == illegal
    assert (left.best_value, left.rejections, left.legal) == (every.best_value, every.rejections, every.legal)
    assert np.array_equal(left.best, every.best)


@pytest.mark.parametrize("reads_before_deadline", range(2, 14))
def test_a_time_budget_running_out_counts_left_out_genomes_only_of_batches_it_evaluates(
        small_space, monkeypatch, reads_before_deadline):
    # A clock that passes the deadline after a given number of reads, wherever that falls: the left-out (pruned)
    # genomes the search counts are those of the batches whose genomes it went on to cost, never of a batch the
    # deadline stopped.
    space = SpatialMappingSpace(small_space.cascade, small_space.arch, SMALL_GEMM)
    yielded, costed, cost = [], [], SpatialCost(space)
    batches = space.enumerate_batches

    def recorded(batch):
        for genomes, left_out in batches(batch):
            yielded.append((genomes, left_out))
            yield genomes, left_out

    def counted(genomes):
        costed.append(genomes[0].copy())
        return cost(genomes)

    reads = iter(range(10**6))
    monkeypatch.setattr(space, "enumerate_batches", recorded)
    monkeypatch.setattr("mappers.search.time.perf_counter",
                        lambda: 0.0 if next(reads) < reads_before_deadline else 1e9)
    result = search(space, counted, SearchSettings(strategy="exhaustive", seconds=10.0, batch=100), progress=False)
    assert all(len(genomes) for genomes, _ in yielded)  # (every batch has genomes to cost on this space)
    run = [(genomes, left_out) for genomes, left_out in yielded
           if any(np.array_equal(genomes[0], first) for first in costed)]
    assert result.pruned == sum(left_out for _, left_out in run)
    assert result.evaluated == sum(len(genomes) + left_out for genomes, left_out in run)


def test_a_random_search_draws_1024_genomes_per_structure_within_bounds(small_space):
    # A random search's batches grow with the space's structures (the cost model's fixed cost is per structure),
    # never below the settings' batch nor above RANDOM_BATCH_MAX (2^18) or half the space.
    from mappers.search import random_batch

    class Structures:
        def __init__(self, count, sizes=10**6):
            self.dimensions = [count, sizes]
            self.size = count * sizes

    settings = SearchSettings(strategy="random", batch=500)
    assert [random_batch(Structures(n), settings) for n in (1, 3, 256, 1000)] == [1024, 3072, 262144, 262144]
    assert random_batch(Structures(3), SearchSettings(strategy="random", batch=5000)) == 5000
    assert random_batch(Structures(3, 100), settings) == 500  # half of 300 genomes, below the settings' batch
    assert random_batch(Structures(30, 100), settings) == 1500  # half the space
    drawn = []
    space = SpatialMappingSpace(small_space.cascade, small_space.arch, SMALL_GEMM)
    cost = SpatialCost(space)

    def counted(genomes):
        drawn.append(len(genomes))
        return cost(genomes)

    search(space, counted, SearchSettings(strategy="random", evaluations=10**9, seconds=None, batch=10),
           progress=False)
    draw = min(2**18, 1024 * space.dimensions[0], space.size // 2)  # 288 structures of 112 genomes: half the space
    assert draw == 16128
    assert drawn[0] == len(np.unique(space.random(np.random.default_rng(0), draw) @ space.strides))


def test_evolution_immigrants_come_in_runs_of_one_structure(small_space):
    # The fresh random genomes of each generation share a few structures, 256 each (the cost model's fixed cost is
    # per structure): 600 of them are 3 runs of one structure (256, 256, 88); their other genes vary.
    from mappers.search import _immigrants

    genomes = _immigrants(small_space, np.random.default_rng(4), 600)
    runs = np.split(genomes[:, 0], [256, 512])
    assert [len(r) for r in runs] == [256, 256, 88] and all(len(set(r)) == 1 for r in runs)
    assert all(len(np.unique(genomes[:256, g])) == small_space.dimensions[g] for g in range(1, 4))
    assert (genomes >= 0).all() and (genomes < np.array(small_space.dimensions)).all()
    many = _immigrants(small_space, np.random.default_rng(4), 2048)[:, 0]  # 8 runs, each structure drawn anew
    assert len(np.unique(many)) > 1 and all(len(set(many[k:k + 256])) == 1 for k in range(0, 2048, 256))


def test_each_generation_of_the_evolutionary_search_takes_in_an_eighth_of_a_batch_of_immigrants(
        small_space, monkeypatch):
    import mappers.search as searching

    asked, immigrants = [], searching._immigrants

    def recorded(space, rng, count):
        asked.append(count)
        return immigrants(space, rng, count)

    monkeypatch.setattr(searching, "_immigrants", recorded)
    search(small_space, SpatialCost(small_space), SearchSettings(strategy="evolution", evaluations=3000,
                                                                  seconds=None, batch=800), progress=False)
    assert asked and set(asked) == {100}


def test_fresh_genomes_are_first_occurrences_not_yet_seen_and_finding_them_changes_nothing(small_space):
    from mappers.search import _Seen

    seen = _Seen(small_space)
    seen.mark(np.array([3, 9]))
    index = np.array([5, 3, 5, 7, 9, 7, 0, 5])
    expected = [True, False, False, True, False, False, True, False]  # by hand: 3 and 9 seen, repeats not first
    assert seen.fresh(index).tolist() == expected
    assert seen.fresh(index).tolist() == expected  # asking again: the same (the bits are left as they were)
    assert np.flatnonzero(seen.bits).tolist() == [3, 9] and seen.count == 2
