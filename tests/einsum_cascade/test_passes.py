"""Pass counts of every library cascade, derived by hand from the cascades' Einsums (DESIGN.md pass rule).

Why each number:
- 3-pass softmax family: GM (max over m) must finish before SN can use it per key; SD (sum over m)
  must finish before A divides each key's SN by it: two extra traversals.
- online normalizer: RM/RD run over m in one traversal; A reads their final iterate RM[M], RD[M] per key.
- deferred division: GM forces the second traversal; SNV and SD finish in it and AV divides per query only.
- FlashAttention-1/2, FuseMax and their masked/bias/GQA/decode forms: the running max, denominator and
  numerator are per-tile recurrences and the division reads only final iterates: one traversal.
- split-KV decode: the combine step needs the global max over all chunks before rescaling each chunk's
  partials, so it walks the chunks (m1 only, not K/V) a second time.
- sigmoid, softplus with deferred L1 division, linear attention: nothing reduced over m is reused per key.
"""

import pytest

from einsum_cascade.analysis import analyze_passes
from einsum_cascade.library import library_cascade, library_names

EXPECTED_PASSES = {
    "softmax-3pass": 3,
    "softmax-3pass-bias": 3,
    "softmax-3pass-block-sparse": 3,
    "softmax-3pass-causal": 3,
    "softmax-3pass-window": 3,
    "softmax-3pass-sinks": 3,  # the max and the sum over the visible keys come before the normalisation
    "softmax-3pass-alibi": 3,  # the bias is an index expression: it adds no reduction, so no pass
    "softmax-2pass-online": 2,
    "softmax-2pass-deferred": 2,
    "differential-attention": 2,  # each map's max comes before its exponentials
    "softmax-naive-1pass": 1,  # no max: the sum and the value product run beside the exponentials
    "relu2-attention": 1,
    "decode-split-kv": 2,
    "flashattention-1": 1,
    "flashattention-2": 1,
    "fusemax": 1,
    "fusemax-bias": 1,
    "fusemax-causal": 1,
    "fusemax-window": 1,
    "fusemax-sinks": 1,
    "fusemax-alibi": 1,
    "fusemax-neighborhood-2d": 1,  # a mask only removes keys: FuseMax's recurrences run over the ones left
    "fusemax-neighborhood-3d": 1,
    "gqa-fusemax": 1,
    "mla-decode": 1,  # the FuseMax recurrences over the latent values; the up-projection reads the final iterate
    "decode": 1,
    "sigmoid-bias": 1,
    "softplus-l1": 1,
    "linear-attention": 1,
    "lightning-attention": 1,  # the state across chunks is a recurrence over the chunk rank, read within the pass
    "moba": 2,  # the top-KB choice of key blocks needs every block's gate score before the first is attended
    "sparge": 2,  # likewise, one choice per block of P0 queries from the pooled scores of every key block
    "nsa": 2,  # the compressed branch's max, and the choice of blocks by their compressed scores, precede pass 2
    "linear-attention-causal": 1,  # numerator and denominator both sum over the visible keys; one division at the end
    "retention": 1,  # no normalisation: the decayed scores go straight into the value product
    "gemm": 1,
}


def test_every_library_cascade_has_an_expected_pass_count():
    assert set(library_names()) == set(EXPECTED_PASSES)


@pytest.mark.parametrize("name", sorted(EXPECTED_PASSES))
def test_pass_count(name):
    assert analyze_passes(library_cascade(name), "M").passes == EXPECTED_PASSES[name]


def test_three_pass_chain_names_the_reductions_and_their_consumers():
    analysis = analyze_passes(library_cascade("softmax-3pass"))
    assert analysis.chain == [["GM", "SN"], ["SD", "A"]]
    assert [step.rereads for step in analysis.steps] == [("QK",), ("SN",)]


def test_online_normalizer_chain_is_forced_by_the_final_running_max():
    analysis = analyze_passes(library_cascade("softmax-2pass-online"))
    assert analysis.chain == [["RM", "A"]]


def test_deferred_division_needs_one_extra_pass_for_the_max():
    assert analyze_passes(library_cascade("softmax-2pass-deferred")).chain == [["GM", "SN"]]


def test_one_pass_cascades_have_no_chain():
    assert analyze_passes(library_cascade("fusemax")).chain == []


def test_rank_can_be_named_by_symbol_or_variable():
    cascade = library_cascade("softmax-3pass")
    assert analyze_passes(cascade, "m").passes == analyze_passes(cascade, "M").passes == 3


def test_passes_over_the_query_rank_of_three_pass_softmax():
    # Over P nothing is reduced (every reduction is over m or e), so one traversal suffices.
    assert analyze_passes(library_cascade("softmax-3pass"), "P").passes == 1
