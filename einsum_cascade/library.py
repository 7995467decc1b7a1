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


def resolve_cascade(name_or_path: str) -> Cascade:
    """A library name (`fusemax`) or a path to a cascade file (`my/cascade.yaml`)."""
    return load_cascade(name_or_path) if looks_like_path(name_or_path) else library_cascade(name_or_path)
