"""`check` compares every output of a cascade (issue 16 item 2): a reference for several outputs returns them
by name, and an output no reference gives is an error rather than left unchecked."""

from __future__ import annotations

import numpy as np
import pytest

from einsum_cascade import references
from einsum_cascade.check import check_cascade
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from einsum_cascade.parse import parse_cascade

TWO_OUTPUTS = """
name: softmax-with-denominator
version: 1
ranks: {m: M, p: P, e: E, f: F}
inputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]
outputs: ["AV[f,p]", "SD[p]"]
reference: REF
einsums: |
  QK[m,p] = Q[e,p] * K[e,m]
  GM[p] = QK[m,p] :: max
  SN[m,p] = exp(QK[m,p] - GM[p])
  SD[p] = SN[m,p]
  A[m,p] = SN[m,p] / SD[p]
  AV[f,p] = A[m,p] * V[f,m]
"""


def softmax_and_denominator(inputs, sizes, wrong_denominator=False):
    """AV by the shipped softmax formula, and SD = sum over keys of exp(score - max score), by hand."""
    scores = inputs["Q"].T @ inputs["K"]  # [p, m]
    denominator = np.exp(scores - scores.max(axis=1, keepdims=True)).sum(axis=1)
    return {"AV": references.softmax(inputs, sizes), "SD": denominator + (1.0 if wrong_denominator else 0.0)}


@pytest.fixture
def two_outputs(monkeypatch):
    monkeypatch.setitem(references.REFERENCES, "both", softmax_and_denominator)
    monkeypatch.setitem(references.REFERENCES, "both_wrong", lambda i, s: softmax_and_denominator(i, s, True))
    return lambda ref: parse_cascade(TWO_OUTPUTS.replace("REF", ref), "<two outputs>")


def test_both_outputs_are_compared(two_outputs):
    assert all(r.passed for r in check_cascade(two_outputs("both")))
    assert not any(r.passed for r in check_cascade(two_outputs("both_wrong")))  # only the second output is off


def test_an_output_the_reference_does_not_give_is_an_error(two_outputs):
    with pytest.raises(SpecError, match="SD would go unchecked"):
        check_cascade(two_outputs("softmax"))  # the shipped softmax gives AV only


def test_a_one_output_cascade_is_checked_as_before():
    assert all(r.passed for r in check_cascade(library_cascade("fusemax")))
