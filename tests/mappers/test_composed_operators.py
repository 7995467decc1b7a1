"""Operators composed from an array's units (relu and min on the max unit, sigmoid from exp, add and divide):
the library's linear and sigmoid attention map on every spatial preset, and a cascade whose operator no array
can compute or compose is an error naming the Einsum, the operator and what each array has."""

from __future__ import annotations

import pytest
from cascade_texts import attention_text

from arch_models import arch_names, load_arch
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from mappers.search import SearchSettings
from simulator.studies.spatial_search import search_best
from workloads.zoo import attention_shapes, load_model

SHAPES = attention_shapes(load_model("bert"), 1024)


@pytest.mark.parametrize("arch", arch_names())
@pytest.mark.parametrize("cascade", ["linear-attention", "sigmoid-bias"])
def test_composed_operators_make_the_cascade_mappable(arch, cascade):
    found, _, _ = search_best(library_cascade(cascade), load_arch(arch), SHAPES, "latency",
                              SearchSettings(evaluations=300), progress=False, use_cache=False)
    assert found["best"]["latency_s"] > 0


def test_sigmoid_costs_its_composition():
    lane = load_arch("fusemax").array_1d.operators
    # 1 / (1 + exp(-x)): the Taylor exp (6 MAC + 1 add, REFERENCE.md §1), one add, one divide
    assert lane["sigmoid"].energy_pj == pytest.approx(6 * lane["mac"].energy_pj + 2 * lane["add"].energy_pj
                                                      + lane["div"].energy_pj)
    assert lane["sigmoid"].cycles == 9


TANH_ATTENTION = attention_text("tanh-attention", ["QK[m,p] = Q[e,p] * K[e,m]", "SN[m,p] = tanh(QK[m,p])",
                                                   "AV[f,p] = SN[m,p] * V[f,m]"])


def test_an_operator_nothing_can_compute_is_named():
    from einsum_cascade.parse import parse_cascade

    with pytest.raises(SpecError, match="Einsum SN needs operators neither array has: the 2D array lacks tanh "
                                        r"\(it has .*\); the 1D array lacks tanh"):
        search_best(parse_cascade(TANH_ATTENTION, source="tanh.yaml"), load_arch("fusemax"), SHAPES, "latency",
                    SearchSettings(evaluations=300), progress=False, use_cache=False)


def test_a_bare_multiply_issues_on_the_mac_unit_of_an_array_without_a_multiplier():
    from arch_models.operators import fused_operators, supports

    spd = library_cascade("fusemax").einsum("SPD")  # PRM * RD: a multiply, no reduction
    fusemax = load_arch("fusemax")
    array_2d, array_1d = set(fusemax.array_2d.operators), set(fusemax.array_1d.operators)
    assert "mul" not in array_2d and "mac" in array_2d
    assert fused_operators(spd, array_2d) == ["mac"] and supports(spd, array_2d)  # not moved to the 1D array
    assert fused_operators(spd, array_1d) == ["mul"]  # the lanes have a multiplier of their own
