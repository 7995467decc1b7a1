"""Scans (issue 16 item 5): a key-rank state read at the query's own position (`S[p+1,e,f]` with `aligned: {p: m}`),
which writes causal linear attention and RetNet retention in their recurrent forms (docs/examples/scans/). Checked
against a hand-worked case, the direct formulas and the library's parallel forms; the analysis by hand; the cost
models refuse them with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy
from spec_errors import rejected, run_cli

from einsum_cascade.analysis.footprint import live_footprint
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.analysis.symbols import symbol
from einsum_cascade.check import check_cascade
from einsum_cascade.errors import SpecError
from einsum_cascade.executor import run_cascade
from einsum_cascade.parse import load_cascade, parse_cascade

SCANS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "scans"
LINEAR = SCANS / "linear-attention-recurrent.yaml"
RETENTION = SCANS / "retention-recurrent.yaml"

SCAN = """\
name: prefix-mean
version: 1
ranks: {m: M, p: P, f: F}
aligned: {p: m}
inputs: ["V[f,m]"]
outputs: ["AV[f,p]"]
initial: {S: 0, Z: 0}
einsums: |
  S[m+1,f] = S[m,f] + V[f,m]
  Z[m+1] = Z[m] + 1
  AV[f,p] = S[p+1,f] / Z[p+1]
"""


def test_a_prefix_mean_worked_by_hand():
    # query p reads the state after key p: the mean of V[0..p]. V = 1, 2, 3, 4 gives 1, 1.5, 2, 2.5.
    trace = run_cascade(parse_cascade(SCAN), {"V": np.array([[1.0, 2.0, 3.0, 4.0]])}, {"M": 4, "P": 4, "F": 1})
    assert trace.tensors["AV"].tolist() == [[1.0, 1.5, 2.0, 2.5]]


def test_fewer_queries_than_keys_read_the_first_positions():
    # P = 2 of M = 4: queries 0 and 1 read the state after keys 0 and 1.
    trace = run_cascade(parse_cascade(SCAN), {"V": np.array([[1.0, 2.0, 3.0, 4.0]])}, {"M": 4, "P": 2, "F": 1})
    assert trace.tensors["AV"].tolist() == [[1.0, 1.5]]


def test_more_queries_than_keys_is_an_error_naming_the_sizes():
    with pytest.raises(SpecError, match=r"P = 5 must not exceed M = 4"):
        run_cascade(parse_cascade(SCAN), {"V": np.ones((1, 4))}, {"M": 4, "P": 5, "F": 1})


@pytest.mark.parametrize("path", [LINEAR, RETENTION])
def test_the_recurrent_forms_match_their_direct_formulas(path):
    results = check_cascade(load_cascade(path))
    assert results and all(r.passed for r in results)


@pytest.mark.parametrize(("path", "parallel"), [(LINEAR, "linear-attention-causal"), (RETENTION, "retention")])
def test_the_recurrent_forms_match_the_library_parallel_forms(path, parallel):
    results = check_cascade(load_cascade(path), against=parallel)
    assert results and all(r.passed for r in results)


def test_linear_attention_recurrent_is_one_pass_with_state_independent_of_the_length():
    cascade = load_cascade(LINEAR)
    passes = analyze_passes(cascade)
    assert passes.passes == 1
    footprint = live_footprint(cascade, passes)
    E, F = symbol("E"), symbol("F")  # noqa: N806 - shape symbols
    # by hand: S is E x F, Z is E, and the query's feature map FQ is E
    assert sympy.simplify(footprint.per_query - (E * F + 2 * E)) == 0
    assert footprint.order == "O(1)"


def test_retention_recurrent_keeps_the_decayed_state_only():
    cascade = load_cascade(RETENTION)
    footprint = live_footprint(cascade, analyze_passes(cascade))
    E, F = symbol("E"), symbol("F")  # noqa: N806
    assert sympy.simplify(footprint.per_query - (E * F + E)) == 0  # S, and the query Q


@pytest.mark.parametrize(("fragment", "replacement", "message"), [
    ("aligned: {p: m}", "aligned: {p: x}", "aligned.p: unknown rank 'x'"),
    ("aligned: {p: m}", "aligned: {p: p}", "aligned.p: rank 'p' is aligned with itself"),
    ("aligned: {p: m}", "aligned: [p, m]", "aligned: must map a query rank"),
    ("aligned: {p: m}\n", "", "S[p+1,f] uses p (P) where S[m,f] has m (M); to read it at the position of p, declare "
                              "aligned: {p: m}"),
    ("S[p+1,f] / Z[p+1]", "S[p+2,f] / Z[p+1]", "a shifted index p+2 is only allowed as rank+1"),
])
def test_bad_alignments_are_one_line_errors(fragment, replacement, message):
    text = SCAN.replace(fragment, replacement)
    assert any(message in line for line in rejected(lambda: parse_cascade(text, source="scan.yaml"))), \
        rejected(lambda: parse_cascade(text, source="scan.yaml"))


def test_a_partitioned_rank_cannot_be_aligned():
    text = SCAN.replace("aligned: {p: m}", "params: {M0: 2}\npartitions: ['m -> m1, m0']\naligned: {p: m}")
    assert any("rank 'm' is partitioned" in line for line in rejected(lambda: parse_cascade(text)))


@pytest.mark.parametrize(("arch", "model"), [("fusemax", "spatial cost model"), ("h100", "GPU model")])
def test_both_cost_models_refuse_a_scan_with_the_reason(arch, model, capsys):
    status, _, err, _ = run_cli(["map", "--arch", arch, "--cascade", str(LINEAR), "--workload", "bert", "--seq",
                                 "1K", "--budget", "2000", "--no-cache"], capsys)
    assert status == 2
    assert f"Einsum NUM reads S[p+1,e,f] at the position of a query (aligned {{p: m}}): the {model}" in err
