"""Named designs (an architecture and a mapping) from designs.yaml, and the GEMM mapping of a whole layer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from einsum_cascade.errors import SpecError, unknown_name
from einsum_cascade.yaml_source import load_yaml, read_text

DESIGNS_FILE = Path(__file__).with_name("designs.yaml")


@dataclass(frozen=True)
class Design:
    name: str
    arch: str
    mapping: str
    label: str


@cache
def _designs_document():
    return load_yaml(read_text(DESIGNS_FILE), str(DESIGNS_FILE))


def design_names() -> list[str]:
    return list(_designs_document().data["designs"])


def load_design(name: str, key: str = "--designs") -> Design:
    designs = _designs_document().data["designs"]
    if name not in designs:
        raise SpecError(unknown_name("design", name, designs), key=key)
    entry = designs[name]
    return Design(name, entry["arch"], entry["mapping"], entry.get("label", name))


def gemm_mapping_name() -> str:
    return _designs_document().data["gemm_mapping"]


def design_point(design_name: str, arch: str | None = None) -> tuple[str, str, str]:
    """(arch, mapping, design label) of a named design, or with `arch` the mapping of that name on the given
    architecture (e.g. fa3 on an H100)."""
    if arch is not None:
        return arch, design_name, design_name
    design = load_design(design_name)
    return design.arch, design.mapping, design.name
