"""Checking a cascade against another cascade or a user's Python function (issue 16 item 3): the same inputs
through both, every output compared; what differs fails, what cannot be compared is a one-line error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from einsum_cascade.check import check_cascade
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from einsum_cascade.parse import load_cascade

NAIVE = """\
name: naive
version: 1
ranks: {m: M, p: P, e: E, f: F}
inputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]
outputs: ["AV[f,p]"]
{reference}
einsums: |
  QK[m,p] = Q[e,p] * K[e,m]
  SN[m,p] = exp(QK[m,p])
  SD[p] = SN[m,p]
  AV[f,p] = SN[m,p] * V[f,m] / SD[p]
"""


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_one_pass_form_equals_the_three_pass_definition():
    assert all(r.passed for r in check_cascade(library_cascade("fusemax"), against="softmax-3pass"))


def test_a_tiled_reference_runs_at_the_checked_sizes():
    # the reference's own tile count M1 follows the real M of each shape set (it was computed from a default M = 3,
    # and every shape set with M > 3 failed with a negative index)
    assert all(r.passed for r in check_cascade(library_cascade("fusemax"), against="flashattention-2"))
    assert all(r.passed for r in check_cascade(library_cascade("softmax-3pass"), against="fusemax"))


def test_a_different_computation_fails():
    # causal against the unmasked definition: equal only where no key is masked (the 1 x 1 shape set)
    results = check_cascade(library_cascade("fusemax-causal"), against="softmax-3pass")
    assert [r.passed for r in results] == [False, False, False, True]


def test_a_cascade_file_beside_it_and_a_python_function_both_serve(tmp_path):
    _write(tmp_path, "definition.yaml", NAIVE.replace("{reference}", "reference: softmax"))
    _write(tmp_path, "formula.py", """\
        import numpy as np

        def attention(inputs, sizes):
            scores = inputs["Q"].T @ inputs["K"]
            weights = np.exp(scores - scores.max(axis=1, keepdims=True))
            return (weights / weights.sum(axis=1, keepdims=True) @ inputs["V"].T).T
        """)
    for reference in ("definition.yaml", "formula.py:attention", "softmax-3pass"):
        mine = load_cascade(_write(tmp_path, "mine.yaml", NAIVE.replace("{reference}", f"reference: {reference}")))
        assert all(r.passed for r in check_cascade(mine)), reference


def test_without_a_reference_the_error_says_how_to_give_one(tmp_path):
    mine = load_cascade(_write(tmp_path, "mine.yaml", NAIVE.replace("{reference}", "")))
    with pytest.raises(SpecError, match="no reference to be checked against.*--against"):
        check_cascade(mine)


def test_a_failing_user_function_and_a_missing_input_are_one_line_errors(tmp_path):
    _write(tmp_path, "broken.py", "def attention(inputs, sizes):\n    raise RuntimeError('not yet')\n")
    mine = load_cascade(_write(tmp_path, "mine.yaml", NAIVE.replace("{reference}", "reference: broken.py:attention")))
    with pytest.raises(SpecError, match="failed: RuntimeError: not yet"):
        check_cascade(mine)
    with pytest.raises(SpecError, match="reads BIAS\\[m,p\\], which cascade naive does not have"):
        check_cascade(mine, against="softmax-3pass-bias")


def test_an_error_at_a_later_shape_set_still_names_the_reference(tmp_path):
    _write(tmp_path, "late.py", """\
        from einsum_cascade.references import softmax

        def attention(inputs, sizes):
            if sizes["M"] == 8:  # the second shape set of check_shapes.SHAPE_SETS
                raise RuntimeError("only at M = 8")
            return softmax(inputs, sizes)
        """)
    mine = load_cascade(_write(tmp_path, "mine.yaml", NAIVE.replace("{reference}", "reference: late.py:attention")))
    with pytest.raises(SpecError, match="reference 'late.py:attention' failed: RuntimeError: only at M = 8"):
        check_cascade(mine)


def test_the_command_line_option(tmp_path):
    def check(*argv):
        done = subprocess.run([sys.executable, "-m", "simulator.cli.main", "check", *argv, "--json"],
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    status, out, _ = check("fusemax-alibi", "--against", "softmax-3pass-alibi")
    assert status == 0 and {r["reference"] for r in json.loads(out)["results"]} == {"softmax-3pass-alibi"}
    assert check("fusemax-alibi", "--against", "softmax-3pass-causal")[0] == 1
    status, _, err = check("fusemax", "--against", "no-such-thing")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--against" in err
