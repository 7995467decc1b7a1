"""The cascades shipped in `einsum_cascade/library/`, loadable by name or by file path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from einsum_cascade.model import Cascade
from einsum_cascade.parse import load_cascade
from einsum_cascade.yaml_source import looks_like_path, preset_names, preset_path

LIBRARY_DIR = Path(__file__).parent / "library"


def library_names() -> list[str]:
    return preset_names(LIBRARY_DIR)


@cache
def library_cascade(name: str) -> Cascade:
    return load_cascade(preset_path(LIBRARY_DIR, name, "cascade", "library cascades"))


def causal_form(cascade: Cascade) -> Cascade:
    """The library's causal form of `cascade` (`NAME-causal`: the same Einsums under a `m <= p` mask), so that a
    mapping of the cascade maps its causal form too; a cascade without one is an error naming those there are."""
    from einsum_cascade.errors import SpecError

    forms = [n for n in library_names() if n.endswith("-causal")]
    if cascade.name in forms:  # already the causal form (a mapping searched for it)
        return cascade
    name = f"{cascade.name}-causal"
    if name not in forms:
        raise SpecError(f"cascade {cascade.name} has no causal form in the library (causal forms: {', '.join(forms)})",
                        key="--causal")
    causal = library_cascade(name)
    if [e.name for e in causal.einsums] != [e.name for e in cascade.einsums]:
        raise SpecError(f"{name} does not have {cascade.name}'s Einsums, so {cascade.name}'s mappings do not map it",
                        key="--causal")
    return causal


def resolve_cascade(name_or_path: str) -> Cascade:
    """A library name (`fusemax`) or a path to a cascade file (`my/cascade.yaml`)."""
    return load_cascade(name_or_path) if looks_like_path(name_or_path) else library_cascade(name_or_path)
