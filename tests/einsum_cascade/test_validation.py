"""Bad-input tests for the cascade parser: one per validation rule.

Every test writes a cascade file under tmp_path, loads it with `load_cascade`, and checks that the
error names the file, the 1-based line of the offending line (found independently of the parser, by
searching the file text), and the words that say what is wrong. Einsum-level rules are checked for
both the `einsums: |` block form and the YAML list form.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spec_errors import each

from einsum_cascade.errors import SpecError, SpecErrors
from einsum_cascade.library import LIBRARY_DIR
from einsum_cascade.parse import load_cascade

HEADER = """\
# a small attention cascade used by the validation tests
name: test-cascade
version: 1
ranks: {m: M, p: P, e: E, f: F}
"""
INPUTS = 'inputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]\n'
OUTPUTS = 'outputs: ["AV[f,p]"]\n'
FORMS = ("block", "list")


def einsums_yaml(lines: list[str], form: str) -> str:
    """The `einsums:` key in block form (`einsums: |`) or list form (each item quoted)."""
    if form == "block":
        return "einsums: |\n" + "".join(f"  {line}\n" for line in lines)
    return "einsums:\n" + "".join(f"  - {json.dumps(line)}\n" for line in lines)


def cascade_text(lines: list[str], form: str = "block", extra: str = "", inputs: str = INPUTS,
                 outputs: str = OUTPUTS) -> str:
    return HEADER + inputs + outputs + extra + einsums_yaml(lines, form)


def write(tmp_path: Path, text: str, name: str = "cascade.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line of `text` that contains `needle` (computed without the parser)."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def load_errors(path: Path) -> list[SpecError]:
    """Load `path`, which must be rejected, and return every reported error."""
    with pytest.raises(SpecError) as info:
        load_cascade(path)
    errors = each(info.value)
    assert errors, "a SpecErrors must carry at least one error"
    for one in errors:
        assert one.source == str(path)
        assert "\n" not in one.message, "each error is one line"
    rendered = str(info.value)
    assert len(rendered.splitlines()) == len(errors)
    for one, text in zip(errors, rendered.splitlines(), strict=True):
        assert text.startswith(str(path)), f"error line does not name the file: {text!r}"
        assert one.message in text
    return errors


def find(errors: list[SpecError], *words: str) -> SpecError:
    """The one error whose message contains all `words` (case-insensitive)."""
    matches = [e for e in errors if all(w.lower() in e.message.lower() for w in words)]
    assert len(matches) == 1, f"expected one error with {words}, got: {[e.one_line() for e in errors]}"
    return matches[0]


def assert_error(path: Path, text: str, needle: str | None, *words: str, only: bool = True) -> SpecError:
    """`path` is rejected with an error containing `words`, on the line containing `needle`."""
    errors = load_errors(path)
    error = find(errors, *words)
    if only:
        assert len(errors) == 1, f"unexpected follow-on errors: {[e.one_line() for e in errors]}"
    if needle is None:
        assert error.line is None
    else:
        assert error.line == line_of(text, needle)
        assert f"{path}:{error.line}:" in error.one_line()
    return error


# ---- whole-file rules ---------------------------------------------------------------------------------
def test_malformed_yaml_names_file_and_line(tmp_path):
    text = HEADER + INPUTS + "  outputs: [AV[f,p]]\n" + einsums_yaml(["AV[f,p] = Q[e,p]"], "block")
    path = write(tmp_path, text)
    assert_error(path, text, "  outputs:", "malformed YAML")


def test_mapping_value_in_the_wrong_place_is_malformed_yaml(tmp_path):
    text = "name: t\nversion: 1\n  ranks: {m: M}\n"
    path = write(tmp_path, text)
    error = assert_error(path, text, "  ranks:", "malformed YAML")
    assert "mapping values are not allowed" in error.message


def test_unclosed_flow_mapping_is_malformed_yaml(tmp_path):
    text = "name: t\nversion: 1\nranks: {m: M, p: P\ninputs: [\"Q[m,p]\"]\n"
    path = write(tmp_path, text)
    errors = load_errors(path)
    error = find(errors, "malformed YAML")
    assert error.line is not None and 3 <= error.line <= 4  # the flow mapping opens on 3, PyYAML stops on 4


def test_duplicate_key_is_named_with_both_lines(tmp_path):
    # YAML keeps the last of two equal keys without a word; a second `name:` is a typo worth stopping for
    text = HEADER + "name: other\n" + INPUTS + OUTPUTS + einsums_yaml(["AV[f,p] = Q[e,p]"], "block")
    path = write(tmp_path, text)
    error = assert_error(path, text, "name: other", "duplicate key", f"line {line_of(text, 'name: test-cascade')}")
    assert error.key == "name"


def test_keys_that_differ_only_in_quoting_are_not_duplicates():
    from einsum_cascade.yaml_source import load_yaml

    assert load_yaml('1: a\n"1": b\n', "keys.yaml").data == {1: "a", "1": "b"}


def test_folded_einsum_block_says_to_use_the_literal_block(tmp_path):
    text = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"]).replace("einsums: |",
                                                                                              "einsums: >")
    path = write(tmp_path, text)
    assert_error(path, text, "einsums: >", "folded", "einsums: |", only=False)


def test_missing_file(tmp_path):
    path = tmp_path / "no-such-cascade.yaml"
    with pytest.raises(SpecError) as info:
        load_cascade(path)
    assert info.value.source == str(path)
    assert "file not found" in info.value.message
    assert str(path) in str(info.value)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_cascade(tmp_path)
    assert info.value.source == str(tmp_path)
    assert "cannot read file" in info.value.message


@pytest.mark.parametrize("text", ["- name: t\n- version: 1\n", "just a string\n", "", "# only a comment\n"],
                         ids=["list", "scalar", "empty", "comment"])
def test_not_a_mapping(tmp_path, text):
    path = write(tmp_path, text)
    error = assert_error(path, text, None, "must be a YAML mapping")
    assert "einsums" in error.message  # it lists the required keys


def test_unknown_top_level_key(tmp_path):
    text = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"], extra="einsum_lines: 3\n")
    path = write(tmp_path, text)
    error = assert_error(path, text, "einsum_lines:", "unknown key", "'einsum_lines'")
    assert error.key == "einsum_lines"
    assert "known keys" in error.message


def test_misspelled_required_key_reports_both_problems(tmp_path):
    text = HEADER + INPUTS + OUTPUTS + "einsum: |\n  AV[f,p] = Q[e,p] * K[e,m] * V[f,m]\n"
    path = write(tmp_path, text)
    errors = load_errors(path)
    assert find(errors, "unknown key", "'einsum'").line == line_of(text, "einsum:")
    assert find(errors, "missing required key", "'einsums'").line is None


@pytest.mark.parametrize("key", ["name", "version", "ranks", "inputs", "outputs", "einsums"])
def test_missing_required_key(tmp_path, key):
    full = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"])
    kept = []
    skipping = False
    for line in full.splitlines(keepends=True):
        if line.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        kept.append(line)
    text = "".join(kept)
    path = write(tmp_path, text)
    error = assert_error(path, text, None, "missing required key", repr(key))
    assert error.source == str(path)


# ---- declarations ---------------------------------------------------------------------------------------
def test_unknown_rank_in_inputs(tmp_path):
    inputs = 'inputs:\n  - Q[e,p]\n  - K[e,z]\n  - V[f,m]\n'
    text = cascade_text(["QK[m,p] = Q[e,p] * V[f,m]", "AV[f,p] = QK[m,p] * V[f,m]"], inputs=inputs)
    path = write(tmp_path, text)
    error = assert_error(path, text, "K[e,z]", "unknown rank", "'z'", "K[e,z]")
    assert error.key == "inputs.1"


def test_unknown_rank_in_outputs(tmp_path):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], outputs='outputs:\n  - AV[f,q]\n')
    path = write(tmp_path, text)
    assert_error(path, text, "AV[f,q]", "unknown rank", "'q'")


def test_rank_with_no_shape_symbol(tmp_path):
    text = """\
name: t
version: 1
ranks:
  m: M
  p:
inputs: ["Q[m]"]
outputs: ["A[m]"]
einsums: |
  A[m] = Q[m]
"""
    path = write(tmp_path, text)
    error = assert_error(path, text, "  p:", "rank 'p' is missing a shape symbol")
    assert error.key == "ranks.p"


def test_rank_with_lower_case_symbol(tmp_path):
    text = ("name: t\nversion: 1\nranks:\n  m: M\n  p: p\ninputs: ['Q[m]']\noutputs: ['A[m]']\n"
            "einsums: |\n  A[m] = Q[m]\n")
    path = write(tmp_path, text)
    assert_error(path, text, "  p: p", "rank 'p' is missing a shape symbol")


def test_partition_whose_tile_param_is_missing(tmp_path):
    text = """\
name: t
version: 1
ranks: {m: M, p: P}
params: {W: 2}
partitions:
  - m -> m1, m0
inputs: ["K[m,p]"]
outputs: ["S[p]"]
einsums: |
  S[p] = K[m,p]
"""
    path = write(tmp_path, text)
    error = assert_error(path, text, "m -> m1, m0", "'m0' is missing a shape", "M0", "params")
    assert error.key == "partitions.0"


def test_partition_of_unknown_rank(tmp_path):
    text = "name: t\nversion: 1\nranks: {m: M, p: P}\nparams: {N0: 2}\npartitions:\n  - n -> n1, n0\n" \
           "inputs: ['K[m,p]']\noutputs: ['S[p]']\neinsums: |\n  S[p] = K[m,p]\n"
    path = write(tmp_path, text)
    assert_error(path, text, "n -> n1, n0", "unknown rank 'n'")


@pytest.mark.parametrize("value", [".inf", ".nan", "true", "big"])
def test_param_must_be_a_finite_number(tmp_path, value):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], extra=f"params:\n  W: {value}\n")
    path = write(tmp_path, text)
    assert_error(path, text, "  W:", "must be a finite number")


@pytest.mark.parametrize("value", ["2.5", "0", "-4"])
def test_a_tile_size_must_be_a_positive_integer(tmp_path, value):
    text = "name: t\nversion: 1\nranks: {m: M, p: P}\nparams:\n  M0: " + value + "\npartitions:\n  - m -> m1, m0\n" \
           "inputs: ['K[m,p]']\noutputs: ['S[p]']\neinsums: |\n  S[p] = K[m,p]\n"
    path = write(tmp_path, text)
    assert_error(path, text, "  M0:", "must be a positive integer")


def test_a_parameter_keeps_its_value_and_type():
    # LAM = 0.5 was truncated to 0 by int(); a slope may be negative; a whole number stays an int
    from einsum_cascade.parse import parse_cascade

    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m] * LAM * NEG"], extra="params: {LAM: 0.5, NEG: -2}\n")
    sizes = parse_cascade(text).sizes({"M": 4, "P": 4, "E": 2, "F": 2})
    assert sizes["LAM"] == 0.5 and sizes["NEG"] == -2 and isinstance(sizes["NEG"], int)


def test_query_ranks_must_be_a_list(tmp_path):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], extra="query_ranks: 5\n")
    path = write(tmp_path, text)
    assert_error(path, text, "query_ranks:", "must be a list of ranks")


def test_unknown_query_rank(tmp_path):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], extra="query_ranks: [q]\n")
    path = write(tmp_path, text)
    assert_error(path, text, "query_ranks:", "unknown rank", "q")


def test_input_declared_twice(tmp_path):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], inputs='inputs: ["Q[e,p]", "K[e,m]", "V[f,m]", '
                        '"K[e,m]"]\n')
    path = write(tmp_path, text)
    assert_error(path, text, "inputs:", "tensor K is defined twice")


@pytest.mark.parametrize("where, words", [
    ("m <= q", ("unknown rank or symbol", "q")),
    ("m ** 2 < p", ("Pow", "not allowed")),
    ("exp(m) < p", ("only abs() may be called",)),
    ("abs(m, p) < 2", ("abs() takes one operand",)),
    ("abs <= 2", ("unknown rank or symbol", "abs")),
    ("m < 0.5", ("constants must be integers",)),
])
def test_bad_mask(tmp_path, where, words):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], extra=f"masks:\n  bad: {json.dumps(where)}\n")
    path = write(tmp_path, text)
    error = assert_error(path, text, "  bad:", *words)
    assert error.key == "masks.bad"


def test_output_never_defined(tmp_path):
    text = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]"])
    path = write(tmp_path, text)
    error = assert_error(path, text, "outputs:", "output AV is never defined by an Einsum")
    assert error.key == "outputs.0"


def test_output_that_is_an_input(tmp_path):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], outputs='outputs:\n  - AV[f,p]\n  - Q[e,p]\n')
    path = write(tmp_path, text)
    assert_error(path, text, "  - Q[e,p]", "output Q is never defined by an Einsum")


def test_output_with_wrong_ranks(tmp_path):
    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], outputs='outputs: ["AV[p,f]"]\n')
    path = write(tmp_path, text)
    assert_error(path, text, "outputs:", "does not match its definition", "AV[f,p]")


def test_initial_value_for_a_non_iterative_tensor(tmp_path):
    text = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"],
                        extra="initial:\n  QK: 0\n")
    path = write(tmp_path, text)
    error = assert_error(path, text, "  QK: 0", "initial value given for QK", "not an iterative Einsum")
    assert error.key == "initial.QK"


def test_initial_value_that_is_not_a_number(tmp_path):
    text = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+1,p] = max(RM[m,p], QK[m,p])",
                         "AV[f,p] = RM[M,p] * V[f,m]"], extra="initial:\n  RM: lots\n")
    path = write(tmp_path, text)
    assert_error(path, text, "  RM: lots", "is not a number")


# ---- Einsum lines: each rule in block form and in list form --------------------------------------------
EINSUM_RULES = {
    # id: (Einsum lines, extra top-level YAML, text of the offending line, words of the message)
    "unknown-rank-in-expression": (
        ["QK[m,p] = Q[e,p] * K[e,z]", "AV[f,p] = QK[m,p] * V[f,m]"], "",
        "K[e,z]", ("unknown rank", "'z'", "K[e,z]")),
    "unknown-rank-in-output": (
        ["QK[m,q] = Q[e,p] * K[e,m]", "AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], "",
        "QK[m,q]", ("unknown rank", "'q'", "QK[m,q]")),
    "used-before-defined": (
        ["AV[f,p] = QK[m,p] * V[f,m]", "QK[m,p] = Q[e,p] * K[e,m]"], "",
        "AV[f,p] =", ("tensor QK is used before it is defined", "defined later")),
    "never-defined": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * W[f,m]"], "",
        "W[f,m]", ("tensor W", "never defined")),
    "used-in-own-definition": (
        ["AV[f,p] = AV[f,p] + Q[e,p] * K[e,m] * V[f,m]"], "",
        "AV[f,p] =", ("AV is used in its own definition", "iterative")),
    "operator-not-in-vocabulary": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = gelu(QK[m,p]) * V[f,m]"], "",
        "gelu", ("operator 'gelu' is not in the vocabulary", "exp")),
    "power-not-in-vocabulary": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] ** 2 * V[f,m]"], "",
        "** 2", ("not in the operator vocabulary",)),
    "wrong-arity": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = exp(QK[m,p], 2) * V[f,m]"], "",
        "exp(", ("exp() takes one operand",)),
    "bad-reduce-operator": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "GM[p] = QK[m,p] :: mean", "AV[f,p] = GM[p] * V[f,m]"], "",
        ":: mean", ("reduce operator 'mean' is not in the vocabulary",)),
    "reduce-operator-without-reduction": (
        ["S[e,p] = Q[e,p] * 2 :: max", "AV[f,p] = S[e,p] * K[e,m] * V[f,m]"], "",
        ":: max", ("reduce operator max given but no rank is reduced",)),
    "not-an-einsum": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] QK[m,p] * V[f,m]"], "",
        "AV[f,p] QK", ("is not an Einsum of the form",)),
    "unparsable-output": (
        ["QK[m,p = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"], "",
        "QK[m,p =", ("cannot parse", "never closed")),
    "iterative-without-initial-value": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+1,p] = max(RM[m,p], QK[m,p])", "AV[f,p] = RM[M,p] * V[f,m]"], "",
        "RM[m+1,p]", ("iterative Einsum RM has no initial value", "initial")),
    "shape-mismatch-rank": (
        ["QK[m,p] = Q[f,p] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"], "",
        "Q[f,p]", ("shape mismatch", "Q[f,p]", "Q[e,p]")),
    "shape-mismatch-too-few-indices": (
        ["QK[m,p] = Q[e] * K[e,m]", "AV[f,p] = QK[m,p] * V[f,m]"], "",
        "Q[e]", ("shape mismatch", "too few indices", "Q[e,p]")),
    "shape-mismatch-too-many-indices": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p,f] * V[f,m]"], "",
        "QK[m,p,f]", ("shape mismatch", "too many indices", "QK[m,p]")),
    "shape-mismatch-between-two-uses": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m,p] * QK[p,m] * V[f,m]"], "",
        "QK[p,m]", ("shape mismatch", "QK[p,m]")),
    "defined-twice": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "QK[m,p] = Q[e,p] * K[e,m] * 2", "AV[f,p] = QK[m,p] * V[f,m]"], "",
        "* 2", ("tensor QK is defined twice",)),
    "redefines-an-input": (
        ["K[e,m] = Q[e,p] * 2", "AV[f,p] = Q[e,p] * K[e,m] * V[f,m]"], "",
        "K[e,m] = Q", ("tensor K is defined twice",)),
    "unknown-symbol": (
        ["QK[m,p] = Q[e,p] * K[e,m] / X", "AV[f,p] = QK[m,p] * V[f,m]"], "",
        "/ X", ("unknown symbol 'X'",)),
    "final-index-on-non-iterative-tensor": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[M,p] * V[f,m]"], "",
        "QK[M,p]", ("final index M", "QK is not an iterative tensor")),
    "final-index-on-an-input": (
        ["AV[f,p] = Q[e,p] * K[E,m] * V[f,m]"], "",
        "K[E,m]", ("final index E", "K is not an iterative tensor")),
    "final-index-of-wrong-rank": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+1,p] = max(RM[m,p], QK[m,p])", "AV[f,p] = RM[P,p] * V[f,m]"],
        "initial: {RM: -inf}\n",
        "RM[P,p]", ("final index P of RM[P,p] does not belong to rank m",)),
    "final-index-of-a-rank-the-tensor-does-not-advance": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+1,p] = max(RM[m,p], QK[m,p])", "AV[f,p] = RM[M,P] * V[f,m]"],
        "initial: {RM: -inf}\n",
        "RM[M,P]", ("final index P", "RM is not an iterative tensor over p")),
    "own-final-iterate": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+1,p] = max(RM[M,p], QK[m,p])", "AV[f,p] = RM[M,p] * V[f,m]"],
        "initial: {RM: -inf}\n",
        "RM[M,p], QK", ("cannot read its own final iterate",)),
    "shifted-index-on-non-iterative-tensor": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "AV[f,p] = QK[m+1,p] * V[f,m]"], "",
        "QK[m+1,p]", ("shifted index m+1", "iterative")),
    "shifted-index-in-own-recurrence": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+1,p] = max(RM[m+1,p], QK[m,p])", "AV[f,p] = RM[M,p] * V[f,m]"],
        "initial: {RM: -inf}\n",
        "RM[m+1,p] = ", ("reads the previous iterate", "index m not m+1")),
    "output-index-not-rank-or-rank-plus-one": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "RM[m+2,p] = max(RM[m,p], QK[m,p])", "AV[f,p] = QK[m,p] * V[f,m]"],
        "initial: {RM: -inf}\n",
        "RM[m+2,p]", ("index m+2 must be a rank or rank+1",)),
    "previous-iterate-of-non-iterative-tensor": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "S[m,p] = QK[m,p] + T[m,p]", "T[m,p] = QK[m,p]",
         "AV[f,p] = S[m,p] * V[f,m]"],
        "initial: {T: 0}\n",
        "S[m,p] =", ("reads a previous iterate but T is not an iterative Einsum",)),
    "recurrence-reduces-its-own-rank": (
        ["QK[m,p] = Q[e,p] * K[e,m]", "B[p] = R[m,p] :: max", "R[m+1,p] = R[m,p] + B[p] + QK[m,p]",
         "AV[f,p] = R[M,p] * V[f,m]"],
        "initial: {R: 0}\n",
        "B[p] =", ("B is part of the recurrence over m", "cannot reduce the rank it advances")),
}


# rules whose mistake is, correctly, reported twice (the other report is checked in the test)
SECOND_ERROR = {
    "previous-iterate-of-non-iterative-tensor": (("initial value given for T",), "initial:"),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("rule", list(EINSUM_RULES))
def test_einsum_rule(tmp_path, rule, form):
    lines, extra, needle, words = EINSUM_RULES[rule]
    text = cascade_text(lines, form, extra=extra)
    path = write(tmp_path, text)
    error = assert_error(path, text, needle, *words, only=rule not in SECOND_ERROR)
    assert error.key == "einsums"
    if rule in SECOND_ERROR:
        errors = load_errors(path)
        second_words, second_needle = SECOND_ERROR[rule]
        assert len(errors) == 2
        assert find(errors, *second_words).line == line_of(text, second_needle)


@pytest.mark.parametrize("form", FORMS)
def test_line_numbers_count_blank_and_comment_lines(tmp_path, form):
    lines = ["QK[m,p] = Q[e,p] * K[e,m]", "# the max pass", "GM[p] = QK[m,p] :: max", "",
             "AV[f,p] = exp(QK[m,p] - GM[p]) * V[f,m] / X"]
    if form == "list":
        lines = [line for line in lines if line and not line.startswith("#")]
    text = cascade_text(lines, form)
    path = write(tmp_path, text)
    error = assert_error(path, text, "/ X", "unknown symbol 'X'")
    assert error.line == (12 if form == "block" else 10)  # counted by hand from the file layout


def test_unquoted_list_item_with_reduce_operator_reads_as_mapping(tmp_path):
    text = HEADER + INPUTS + OUTPUTS + """\
einsums:
  - QK[m,p] = Q[e,p] * K[e,m]
  - GM[p] = QK[m,p] :: max
  - AV[f,p] = exp(QK[m,p] - GM[p]) * V[f,m]
"""
    path = write(tmp_path, text)
    error = assert_error(path, text, ":: max", "YAML read this list item as a mapping", "quote", "einsums: |")
    assert "GM[p] = QK[m,p] :: max" in error.message
    assert error.key == "einsums"


def test_quoted_list_item_with_reduce_operator_is_fine(tmp_path):
    text = HEADER + INPUTS + OUTPUTS + """\
einsums:
  - QK[m,p] = Q[e,p] * K[e,m]
  - "GM[p] = QK[m,p] :: max"
  - AV[f,p] = exp(QK[m,p] - GM[p]) * V[f,m]
"""
    cascade = load_cascade(write(tmp_path, text))
    assert [e.line for e in cascade.einsums] == [line_of(text, "QK[m,p] ="), line_of(text, ":: max"),
                                                 line_of(text, "AV[f,p] =")]


def test_list_item_that_is_not_a_string(tmp_path):
    text = HEADER + INPUTS + OUTPUTS + "einsums:\n  - AV[f,p] = Q[e,p] * K[e,m] * V[f,m]\n  - 42\n"
    path = write(tmp_path, text)
    assert_error(path, text, "  - 42", "list item 42 is not an Einsum line")


@pytest.mark.parametrize("value", ["[]", "''", "7"])
def test_einsums_must_be_a_non_empty_list_or_block(tmp_path, value):
    text = HEADER + INPUTS + OUTPUTS + f"einsums: {value}\n"
    path = write(tmp_path, text)
    errors = load_errors(path)
    assert find(errors, "must be a non-empty list of Einsum lines").line == line_of(text, "einsums:")


# ---- several errors at once -----------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_several_errors_are_reported_together(tmp_path, form):
    inputs = 'inputs:\n  - Q[e,p]\n  - K[e,z]\n  - V[f,m]\n'
    lines = [
        "QK[m,p] = Q[e,p] * K[e,m] / X",       # unknown symbol
        "GM[p] = QK[m,p] :: mean",              # bad reduce operator
        "SN[m,p] = gelu(QK[m,p] - GM[p])",      # operator not in the vocabulary
        "AV[f,p] = SN[m,p] * W[f,m]",           # tensor never defined
    ]
    text = cascade_text(lines, form, inputs=inputs, extra="initial: {QK: 0}\n")
    path = write(tmp_path, text)
    errors = load_errors(path)
    expected = [
        (("unknown rank 'z'",), "K[e,z]"),
        (("unknown symbol 'X'",), "/ X"),
        (("reduce operator 'mean'",), ":: mean"),
        (("operator 'gelu'",), "gelu("),
        (("tensor W", "never defined"), "W[f,m]"),
        (("initial value given for QK",), "initial:"),
    ]
    for words, needle in expected:
        assert find(errors, *words).line == line_of(text, needle)
    # each mistake is reported once; the lines after a broken definition do not repeat it
    assert len(errors) == len(expected), [e.one_line() for e in errors]
    assert isinstance(pytest.raises(SpecErrors, load_cascade, path).value, SpecErrors)


def test_errors_in_a_definition_do_not_cascade_into_its_uses(tmp_path):
    text = cascade_text(["QK[m,p] = Q[e,p] * K[e,m]", "GM[p] = QK[m,p] :: mean", "SN[m,p] = QK[m,p] - GM[p]",
                         "AV[f,p] = gelu(SN[m,p]) * V[f,m]"])
    path = write(tmp_path, text)
    errors = load_errors(path)
    assert [e.line for e in errors] == [line_of(text, ":: mean"), line_of(text, "gelu")]


# ---- good input -----------------------------------------------------------------------------------------
LIBRARY_FILES = sorted(LIBRARY_DIR.glob("*.yaml"))


def test_library_is_not_empty():
    assert len(LIBRARY_FILES) >= 4


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[p.stem for p in LIBRARY_FILES])
def test_every_library_file_parses(path):
    cascade = load_cascade(path)
    assert cascade.source == str(path)
    assert cascade.name == path.stem
    assert cascade.einsums and cascade.outputs
    defined = {e.name for e in cascade.einsums}
    assert {ref.name for ref in cascade.outputs} <= defined
    file_lines = path.read_text().splitlines()
    for einsum in cascade.einsums:  # every Einsum remembers the line it came from
        assert file_lines[einsum.line - 1].strip() == einsum.text


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[p.stem for p in LIBRARY_FILES])
def test_library_file_in_list_form_parses_to_the_same_einsums(tmp_path, path):
    block = load_cascade(path)
    text = path.read_text()
    head, _, body = text.partition("einsums: |\n")
    lines = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
    listed = load_cascade(write(tmp_path, head + einsums_yaml(lines, "list")))
    assert [(e.text, e.expr, e.reduce_op, e.iteration_ranks) for e in listed.einsums] == \
           [(e.text, e.expr, e.reduce_op, e.iteration_ranks) for e in block.einsums]
    list_lines = (head + einsums_yaml(lines, "list")).splitlines()
    for einsum in listed.einsums:
        assert einsum.text in list_lines[einsum.line - 1]


def test_check_scales_structural_params_to_the_small_shapes_and_keeps_the_others():
    # `cascade check` used to give every param the shape set's tile, a slope of 0.5 included
    from einsum_cascade.check import SHAPE_SETS, check_sizes
    from einsum_cascade.library import library_cascade
    from einsum_cascade.parse import parse_cascade

    text = cascade_text(["AV[f,p] = Q[e,p] * K[e,m] * V[f,m] * LAM"], extra="params: {LAM: 0.5}\n")
    assert check_sizes(parse_cascade(text), SHAPE_SETS[0])["LAM"] == 0.5
    assert check_sizes(library_cascade("fusemax"), SHAPE_SETS[0])["M0"] == SHAPE_SETS[0]["tile"]
    assert check_sizes(library_cascade("softmax-3pass-window"), SHAPE_SETS[1])["W"] == SHAPE_SETS[1]["tile"]
