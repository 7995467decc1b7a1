"""Rank indices used as numbers in expressions (`SLOPE * (p - m)`, ALiBi): parsed as positions, walked by
the Einsum, evaluated by the executor (values worked out by hand), and counted as operations per point."""

from __future__ import annotations

import numpy as np
import pytest
from cascade_texts import small_cascade as cascade

from arch_models.operators import operators_per_point
from einsum_cascade.check import check_cascade
from einsum_cascade.errors import SpecErrors
from einsum_cascade.executor import run_cascade
from einsum_cascade.expr import Position
from einsum_cascade.library import library_cascade


def test_a_distance_by_hand():
    c = cascade("m: M, p: P", '"X[m,p]"', '"D[m,p]"', ["D[m,p] = X[m,p] + (p - m)"])
    trace = run_cascade(c, {"X": np.zeros((3, 2))}, {"M": 3, "P": 2})
    # D[m,p] = p - m: rows m = 0, 1, 2; columns p = 0, 1
    np.testing.assert_array_equal(trace.tensors["D"], [[0, 1], [-1, 0], [-2, -1]])
    assert any(isinstance(node, Position) for node in (c.einsums[0].expr.right.left, c.einsums[0].expr.right.right))


def test_a_position_alone_walks_its_rank():
    c = cascade("m: M, p: P", '"X[p]"', '"Y[m,p]"', ["Y[m,p] = X[p] * m"])
    assert set(c.einsums[0].iteration_ranks) == {"m", "p"}
    trace = run_cascade(c, {"X": np.array([1.0, 10.0])}, {"M": 3, "P": 2})
    np.testing.assert_array_equal(trace.tensors["Y"], [[0, 0], [1, 10], [2, 20]])


def test_the_parent_position_of_walked_parts_is_outer_times_tile_plus_inner():
    c = cascade("m: M", '"X[m1,m0]"', '"Y[m1,m0]"', ["Y[m1,m0] = X[m1,m0] + m"],
                extra="params: {M0: 2}\npartitions: ['m -> m1, m0']\n")
    assert set(c.einsums[0].iteration_ranks) == {"m1", "m0"}  # not mixed with m: m is computed from the parts
    trace = run_cascade(c, {"X": np.zeros((2, 2))}, {"M": 4, "M0": 2, "M1": 2})
    np.testing.assert_array_equal(trace.tensors["Y"], [[0, 1], [2, 3]])


def test_an_index_expression_costs_the_operators_it_contains():
    c = cascade("m: M, p: P", '"QK[m,p]"', '"S[m,p]"', ["S[m,p] = QK[m,p] - SLOPE * (p - m) + log(M)"],
                extra="params: {SLOPE: 0.5}\n")
    # per point: p - m (sub), SLOPE * (...) (mul), QK - (...) (sub), + log(M) (add); log(M) itself is folded
    assert sorted(operators_per_point(c.einsums[0])) == ["add", "mul", "sub", "sub"]


def test_an_unknown_name_is_still_an_error_naming_the_ranks():
    with pytest.raises(SpecErrors) as error:
        cascade("m: M, p: P", '"X[m,p]"', '"Y[m,p]"', ["Y[m,p] = X[m,p] * q"])
    assert "unknown symbol 'q'" in str(error.value) and "ranks: m, p" in str(error.value)


@pytest.mark.parametrize("name", ["softmax-3pass-alibi", "fusemax-alibi"])
def test_alibi_cascades_match_the_direct_formula(name):
    assert all(result.passed for result in check_cascade(library_cascade(name)))
