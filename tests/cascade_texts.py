"""Test helpers that write small cascades: an attention cascade over Q[e,p], K[e,m], V[f,m] from its Einsum
lines, and a cascade with any ranks and tensors, parsed."""

from __future__ import annotations

from einsum_cascade.parse import parse_cascade


def attention_text(name: str, einsums: list[str], extra: str = "") -> str:
    """The YAML of an attention cascade `name` computing AV[f,p] by `einsums`; `extra` adds top-level keys."""
    return (f'name: {name}\nversion: 1\nranks: {{m: M, p: P, e: E, f: F}}\ninputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]\n'
            f'outputs: ["AV[f,p]"]\n{extra}einsums: |\n' + "".join(f"  {line}\n" for line in einsums))


def small_cascade(ranks: str, inputs: str, outputs: str, einsums: list[str], extra: str = ""):
    """A parsed cascade named t: `ranks` as in a YAML flow map (`m: M, p: P`), inputs and outputs as quoted
    lists, one Einsum per line."""
    text = (f"name: t\nversion: 1\nranks: {{{ranks}}}\ninputs: [{inputs}]\noutputs: [{outputs}]\n{extra}"
            "einsums: |\n" + "".join(f"  {line}\n" for line in einsums))
    return parse_cascade(text, source="test.yaml")
