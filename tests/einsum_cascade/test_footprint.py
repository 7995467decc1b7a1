"""Live footprint per query, derived by hand.

3-pass softmax, pass 3 holds SN for every key (M), SD (1) and the AV accumulator (F): M + F + 1.
FuseMax holds per query: Q (E), RM, RD (1 each), RNV (F) and the per-tile LM, SLD (1 each), SLNV (F).
"""

import sympy

from einsum_cascade.analysis import analyze_passes, live_footprint
from einsum_cascade.library import library_cascade

M, F, E = (sympy.Symbol(n, positive=True) for n in "MFE")


def footprint(name):
    cascade = library_cascade(name)
    return live_footprint(cascade, analyze_passes(cascade))


def test_three_pass_footprint_grows_with_m():
    result = footprint("softmax-3pass")
    assert sympy.simplify(result.per_query - (M + F + 1)) == 0
    assert result.order == "O(M)"


def test_fusemax_footprint_is_independent_of_m():
    result = footprint("fusemax")
    assert sympy.simplify(result.per_query - (E + 2 * F + 4)) == 0
    assert result.order == "O(1)"


def test_online_normalizer_keeps_only_the_final_iterates_across_passes():
    result = footprint("softmax-2pass-online")
    assert sympy.simplify(result.per_query - (M + F + 2)) == 0
    assert "final iterate" in result.tensors[2]["RM"][1]


def test_linear_attention_holds_the_e_by_f_state():
    result = footprint("linear-attention")
    assert result.order == "O(1)"
