"""The spatial model evaluates one concrete mapping; what a mapping leaves open (`max_fit` sizes, the variant
of a family) is chosen in simulator/studies/mapping_choice.py. Checked here: the model refuses what it is not
given, and the chosen `max_fit` size is the largest power of two that fits (twice it overflows)."""

from __future__ import annotations

import pytest

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping
from simulator.spatial.lower import CapacityRejected, MappingRejected
from simulator.spatial.simulate import simulate
from simulator.studies.mapping_choice import max_fit_sizes, simulate_family

SHAPES = {"M": 65536, "P": 65536, "E": 64, "F": 64, "B": 1, "H": 12}


def test_the_model_refuses_a_family():
    flat = load_mapping("flat")
    assert len(flat.family()) > 1
    with pytest.raises(MappingRejected, match="family"):
        simulate(library_cascade("softmax-3pass"), load_arch("flat"), flat, SHAPES)


def test_the_model_refuses_a_max_fit_part_without_a_size():
    with pytest.raises(MappingRejected, match="max_fit"):
        simulate(library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax"), SHAPES)


def test_the_chosen_max_fit_size_is_the_largest_power_of_two_that_fits():
    cascade, arch, mapping = library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax")
    sizes = max_fit_sizes(cascade, arch, mapping, 0, SHAPES)
    (part, size), = sizes.items()
    assert size & (size - 1) == 0
    simulate(cascade, arch, mapping, SHAPES, part_sizes=[sizes])  # fits
    with pytest.raises(CapacityRejected):
        simulate(cascade, arch, mapping, SHAPES, part_sizes=[{part: 2 * size}])


def test_the_family_result_is_the_models_result_at_the_chosen_sizes():
    cascade, arch, mapping = library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax")
    chosen = simulate_family(cascade, arch, mapping, SHAPES)
    direct = simulate(cascade, arch, mapping, SHAPES, part_sizes=[max_fit_sizes(cascade, arch, mapping, 0, SHAPES)])
    assert (chosen.latency_s, chosen.energy_pj) == (direct.latency_s, direct.energy_pj)
