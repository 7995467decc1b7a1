"""Input limits (issue 17): oversized files, alias bombs, deep nesting, huge expressions and unbounded sweep
arithmetic are one-line SpecErrors within a second, never a hang, a MemoryError or a RecursionError."""

from __future__ import annotations

import time

import pytest

from einsum_cascade.errors import SpecError
from einsum_cascade.expr import ExprSyntaxError, parse_expr
from einsum_cascade.yaml_source import load_yaml, read_text


def refused(call, *args) -> str:
    start = time.perf_counter()
    with pytest.raises(SpecError) as error:
        call(*args)
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert "\n" not in message
    return message


def test_an_alias_bomb_is_refused_before_it_expands():
    # 10 levels of 9 aliases each: 9**10 (3.5 billion) values from 10 lines
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))
    assert "expands to more than" in refused(load_yaml, text, "bomb.yaml")


def test_a_few_aliases_are_fine():
    assert load_yaml("a: &a [1, 2]\nb: *a\n", "ok.yaml").data == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("text", ["a: " + "[" * 5000 + "]" * 5000, "a: " + "{b: " * 100 + "1" + "}" * 100,
                                  "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "x: 1\n"])
def test_deep_nesting_is_refused(text):
    assert "nested more than 64 levels" in refused(load_yaml, text, "deep.yaml")


def test_a_file_above_the_size_limit_is_refused_and_the_limit_can_be_raised(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * 100 + "\n")
    monkeypatch.setenv("CASCADE_MAX_INPUT_BYTES", "50")
    assert "CASCADE_MAX_INPUT_BYTES" in refused(read_text, path)
    monkeypatch.setenv("CASCADE_MAX_INPUT_BYTES", "200")
    assert read_text(path).startswith("# x")
    monkeypatch.setenv("CASCADE_MAX_INPUT_BYTES", "lots")
    assert "not a positive number" in refused(read_text, path)


@pytest.mark.parametrize("text", ["+".join(["Q[e,p]"] * 1400), "+".join(["Q[e,p]"] * 5000), "-" * 3000 + "Q[e,p]"])
def test_huge_or_deep_expressions_are_refused(text):
    start = time.perf_counter()
    with pytest.raises(ExprSyntaxError):
        parse_expr(text)
    assert time.perf_counter() - start < 1.0


def test_a_long_but_shallow_expression_parses():
    assert parse_expr("+".join(["Q[e,p]"] * 150)) is not None


def test_a_near_miss_is_suggested_never_picked():
    from einsum_cascade.errors import unknown_name
    from einsum_cascade.library import library_cascade

    message = refused(library_cascade, "fusemx")
    assert "no cascade named 'fusemx' (did you mean 'fusemax'?); library cascades:" in message
    assert unknown_name("model", "gpt5", ["bert", "t5"]) == "no model named 'gpt5'; models: bert, t5"
