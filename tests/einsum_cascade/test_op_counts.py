"""Operation counts derived by hand from the Einsums (per batch element and head unless noted)."""

import numpy as np
import sympy

from einsum_cascade.analysis import operation_counts
from einsum_cascade.analysis.symbols import evaluate
from einsum_cascade.check import random_inputs
from einsum_cascade.executor import run_cascade
from einsum_cascade.library import library_cascade

B, H, M, P, E, F, M0 = (sympy.Symbol(n, positive=True) for n in ("B", "H", "M", "P", "E", "F", "M0"))


def same(a, b) -> bool:
    return sympy.simplify(sympy.sympify(a) - b) == 0


def test_qk_of_three_pass_is_b_h_m_p_e_multiplies():
    counts = operation_counts(library_cascade("softmax-3pass"))
    assert same(counts.per_einsum["QK"]["mul"], M * P * E)
    assert same(counts.instances * counts.per_einsum["QK"]["mul"], B * H * M * P * E)


def test_three_pass_totals_by_kind():
    counts = operation_counts(library_cascade("softmax-3pass")).by_kind
    # QK and AV: one MAC per (m,p,e) and (m,p,f); GM one max, SN one sub + one exp, SD one add, A one div per (m,p).
    assert same(counts["mul"], M * P * (E + F))
    assert same(counts["add"], M * P * (E + F) + M * P)
    assert same(counts["max"], M * P)
    assert same(counts["exp"], M * P)
    assert same(counts["div"], M * P)


def test_fusemax_correction_runs_once_per_tile():
    cascade = library_cascade("fusemax")
    per_pair = operation_counts(cascade).per_query_key_pair(cascade)
    # exp: SLN once per key, PRM once per 256-key tile -> 1 + 1/M0 per query-key pair.
    assert same(per_pair["exp"], 1 + 1 / M0)
    # final division: F per query -> F/M per pair; max: LM per key + RM per tile.
    assert same(per_pair["div"], F / M)
    assert same(per_pair["max"], 1 + 1 / M0)


def test_flashattention_1_divides_every_tile():
    cascade = library_cascade("flashattention-1")
    per_pair = operation_counts(cascade).per_query_key_pair(cascade)
    fa2 = operation_counts(library_cascade("flashattention-2")).per_query_key_pair(library_cascade("flashattention-2"))
    assert evaluate(per_pair["div"], cascade, {}) > evaluate(fa2["div"], cascade, {})


def test_evaluated_counts_for_the_issue_shape():
    cascade = library_cascade("softmax-3pass")
    counts = operation_counts(cascade)
    shape = {"M": 65536, "P": 65536, "E": 64, "F": 64, "B": 64, "H": 12}
    assert evaluate(counts.total("mul"), cascade, shape) == 64 * 12 * 65536 * 65536 * 128


def test_causal_density_matches_points_the_executor_keeps():
    # With M = P = 8, the causal mask keeps 8*9/2 = 36 of the 64 (m,p) pairs; QK also walks e (E = 3).
    cascade = library_cascade("softmax-3pass-causal")
    sizes = {"M": 8, "P": 8, "E": 3, "F": 2}
    trace = run_cascade(cascade, random_inputs(cascade, sizes, np.random.default_rng(0)), sizes)
    assert trace.present_points["QK"] == 36 * 3
    symbolic = evaluate(operation_counts(cascade).per_einsum["QK"]["mul"], cascade, sizes)
    assert symbolic == 36 * 3
