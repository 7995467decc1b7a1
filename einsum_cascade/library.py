"""The cascades shipped in `einsum_cascade/library/`, loadable by name or by file path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from einsum_cascade.errors import SpecError
from einsum_cascade.model import Cascade
from einsum_cascade.parse import load_cascade

LIBRARY_DIR = Path(__file__).parent / "library"


def library_names() -> list[str]:
    return sorted(path.stem for path in LIBRARY_DIR.glob("*.yaml"))


@cache
def library_cascade(name: str) -> Cascade:
    path = LIBRARY_DIR / f"{name}.yaml"
    if not path.exists():
        raise SpecError(f"no cascade named {name!r}; library cascades: {', '.join(library_names())}")
    return load_cascade(path)


def resolve_cascade(name_or_path: str) -> Cascade:
    """A library name (`fusemax`) or a path to a cascade file (`my/cascade.yaml`)."""
    looks_like_path = name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path
    return load_cascade(name_or_path) if looks_like_path else library_cascade(name_or_path)
