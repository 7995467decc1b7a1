"""A non-linear operator before an implied reduction is a note (issue 16's trap): exp(Q[e,p] * K[e,m]) sums
exp over e; the library's cascades, which reduce first, get none."""

from __future__ import annotations

import json

from cascade_texts import attention_text

from einsum_cascade.analysis.semantics import nonlinear_before_reduction
from einsum_cascade.library import library_cascade, library_names
from einsum_cascade.parse import parse_cascade
from simulator.cli.main import main

TRAP = attention_text("expdot", ["SN[m,p] = exp(Q[e,p] * K[e,m])", "SD[p] = SN[m,p]", "A[m,p] = SN[m,p] / SD[p]",
                                  "AV[f,p] = A[m,p] * V[f,m]"], extra="reference: softmax\n")


def test_exp_before_the_dot_products_reduction_is_noted():
    notes = nonlinear_before_reduction(parse_cascade(TRAP))
    assert len(notes) == 1 and notes[0].startswith("Einsum SN applies exp before reducing e")
    fixed = TRAP.replace("SN[m,p] = exp(Q[e,p] * K[e,m])", "QK[m,p] = Q[e,p] * K[e,m]\n  SN[m,p] = exp(QK[m,p])")
    assert nonlinear_before_reduction(parse_cascade(fixed)) == []


def test_no_library_cascade_is_noted():
    assert {n: nonlinear_before_reduction(library_cascade(n)) for n in library_names()} == \
        {n: [] for n in library_names()}


def test_analyze_reports_it(tmp_path, capsys):
    path = tmp_path / "expdot.yaml"
    path.write_text(TRAP)
    assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"][0].startswith("Einsum SN applies exp")
