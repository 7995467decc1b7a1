"""Canonical mapping space (issue 14 item 2): structures that lower to the same loop nest are one candidate.
Checked against the uncanonicalized space: every merged structure costs exactly what the structure kept
for it costs, at every size choice (latency and energy, all genomes of two small spaces), and an
exhaustive search of the canonical space finds the same optimum."""

from __future__ import annotations

import numpy as np
import pytest

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.search import SearchSettings, search
from mappers.space import SpatialMappingSpace
from simulator.spatial.mapper_cost import SpatialCost

SPACES = {"gemm": ("gemm", {"M": 64, "K": 16, "N": 32}),
          "fusemax": ("fusemax", {"B": 1, "H": 1, "M": 256, "P": 256, "E": 16, "F": 16})}


def space_of(name: str) -> SpatialMappingSpace:
    cascade, shapes = SPACES[name]
    return SpatialMappingSpace(library_cascade(cascade), load_arch("fusemax").with_overrides(pe_dim=8), shapes)


def all_metrics(space) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    genomes = np.concatenate(list(space.enumerate(100_000)))
    latency, energy, _ = SpatialCost(space).metrics(genomes)
    return genomes, latency, energy


@pytest.mark.parametrize("name", list(SPACES))
def test_a_merged_structure_costs_what_its_kept_structure_costs_at_every_size(name):
    genomes, latency, energy = all_metrics(space_of(name))
    canonical = space_of(name)
    kept_for = SpatialCost(canonical).canonicalize()
    assert len(set(kept_for.values())) == canonical.dimensions[0] < len(kept_for)  # something was merged
    per_structure = genomes[:, 0]
    for structure, kept in kept_for.items():
        mine, theirs = per_structure == structure, per_structure == kept
        assert np.array_equal(latency[mine], latency[theirs]), (structure, kept)
        assert np.array_equal(energy[mine], energy[theirs]), (structure, kept)


def test_the_gemm_space_collapses_to_the_loop_nests_that_differ():
    kept_for = SpatialCost(canonical := space_of("gemm")).canonicalize()
    # a GEMM has no 1D work: placement (3 policies) and binding (4) cannot change its loop nest
    assert len(kept_for) == 288 and canonical.dimensions[0] == 288 // 12


@pytest.mark.parametrize("name", list(SPACES))
def test_exhaustive_search_of_the_canonical_space_finds_the_same_optimum(name):
    settings = SearchSettings(strategy="exhaustive", seconds=None)
    full = space_of(name)
    before = search(full, SpatialCost(full), settings, progress=False)
    canonical = space_of(name)
    cost = SpatialCost(canonical)
    cost.canonicalize()
    after = search(canonical, cost, settings, progress=False)
    assert after.best_value == before.best_value and after.evaluated < before.evaluated
    assert canonical.decode(after.best).description == full.decode(before.best).description


@pytest.mark.parametrize("cascade", ["fusemax", "softmax-3pass", "moba", "lightning-attention"])
@pytest.mark.parametrize("arch", ["fusemax", "flat"])
def test_a_structure_lowers_the_same_at_every_size(cascade, arch):
    # what lowering each structure once, at its smallest sizes, rests on (`SpatialCost.canonicalize`, and the
    # search costing every tiling of a structure with that one lowering): only the extents depend on the sizes
    import dataclasses

    from simulator.spatial.mapper_cost import _loop_nest
    from workloads.zoo import attention_shapes, load_model

    space = SpatialMappingSpace(library_cascade(cascade), load_arch(arch), attention_shapes(load_model("bert"), 4096))
    cost = SpatialCost(space)
    rng = np.random.default_rng(0)
    compared = 0
    for structure in range(0, space.dimensions[0], 3):
        smallest = np.zeros(len(space.dimensions), dtype=np.int64)
        smallest[0] = structure
        sized = space.random(rng, 64)
        sized[:, 0] = structure
        sized = sized[space.legal_sizes(sized)]
        if not len(sized) or isinstance(first := cost._lower(smallest), str):
            continue
        other = cost._lower(sized[-1])
        assert not isinstance(other, str), other

        def nests(groups):
            return [_loop_nest(dataclasses.replace(g, extents=np.zeros(0))) for g in groups]

        assert nests(other) == nests(first)
        compared += 1
    assert compared >= 10


def test_a_group_that_structures_share_is_evaluated_once_per_size_and_costs_each_what_it_costs_alone(monkeypatch):
    # FuseMax split into groups: a group on one array lowers the same whatever the binding, so kept structures
    # share it; the search evaluates it once per size (in any order of the genomes, batch after batch) and each
    # structure's latency and energy are those of the uncanonicalized space, which evaluates every group
    import simulator.spatial.mapper_cost as mapper_cost
    from simulator.spatial.mapper_cost import _loop_nest

    genomes, latency, energy = all_metrics(space_of("fusemax"))
    canonical = space_of("fusemax")
    cost = SpatialCost(canonical)
    keep = sorted(set(cost.canonicalize().values()))
    probe = np.zeros(len(canonical.dimensions), dtype=np.int64)
    nests = {}  # (loop nest, sizes) pairs a search must evaluate: each once
    for structure in range(canonical.dimensions[0]):
        probe[0] = structure
        for group in cost._structure(structure, probe):
            nests.setdefault(_loop_nest(group), []).append(structure)
    assert any(len(structures) > 1 for structures in nests.values())  # something is shared
    evaluated = []
    original = mapper_cost.evaluate_group_batch

    def counted(group, arch, extents, **keywords):
        evaluated.append(len(extents))
        return original(group, arch, extents, **keywords)

    monkeypatch.setattr(mapper_cost, "evaluate_group_batch", counted)
    mine = np.concatenate(list(canonical.enumerate(100_000)))
    mine = mine[np.random.default_rng(1).permutation(len(mine))]
    legal = canonical.legal_sizes(mine)
    before = np.flatnonzero(np.isin(genomes[:, 0], keep))  # the same genomes in the space before merging
    index = {(keep.index(int(g[0])), *map(int, g[1:])): n for n, g in zip(before, genomes[before], strict=True)}
    for chunk in np.array_split(np.arange(len(mine)), 7):
        got_latency, got_energy, _ = cost.metrics(mine[chunk])
        rows = [index[tuple(map(int, g))] for g in mine[chunk]]
        assert np.array_equal(got_latency, latency[rows]) and np.array_equal(got_energy, energy[rows])
    sizes = len(np.unique(mine[legal][:, 1:], axis=0))
    assert sum(evaluated) == len(nests) * sizes  # every loop nest once at every legal size
