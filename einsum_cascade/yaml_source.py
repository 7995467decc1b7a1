"""Load YAML keeping the line of every key, so errors can name `file:line: key`.

Shared by every package that reads user YAML (cascades, architectures, mappings, sweeps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from einsum_cascade.errors import SpecError, SpecErrors


@dataclass(frozen=True, slots=True)
class YamlDocument:
    data: object
    source: str
    lines: dict[tuple, int]  # key path -> 1-based line of its value
    block_scalar_paths: frozenset[tuple]  # values written as `|` or `>` blocks (content starts a line later)
    folded_paths: frozenset[tuple] = frozenset()  # values written as folded `>` blocks (lines joined by spaces)

    def line(self, *path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, message: str, *path) -> SpecError:
        key = ".".join(str(p) for p in path) if path else None
        return SpecError(message, source=self.source, line=self.line(*path), key=key)


def read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SpecError("file not found", source=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read file: {exc.__class__.__name__}", source=str(path)) from None


def load_yaml(text: str, source: str) -> YamlDocument:
    """Parse YAML text; malformed YAML becomes a one-line SpecError with the line."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"malformed YAML: {problem}", source=source,
                        line=mark.line + 1 if mark else None) from None
    lines: dict[tuple, int] = {}
    blocks: set[tuple] = set()
    folded: set[tuple] = set()
    if root is not None:
        try:
            _record_lines(root, (), lines, blocks, folded)
        except SpecError as error:
            raise SpecError(error.message, source=source, line=error.line, key=error.key) from None
    return YamlDocument(data, source, lines, frozenset(blocks), frozenset(folded))


def _record_lines(node: yaml.Node, path: tuple, lines: dict, blocks: set, folded: set) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        blocks.add(path)
        if node.style == ">":
            folded.add(path)
    if isinstance(node, yaml.MappingNode):
        first_line: dict = {}
        for key_node, value_node in node.value:
            resolved = (key_node.tag, key_node.value)  # `1` and `"1"` are different keys
            if resolved in first_line:  # YAML itself would keep the last one silently
                where = ".".join(str(p) for p in path + (key_node.value,))
                raise SpecError(f"duplicate key (first given on line {first_line[resolved]})",
                                line=key_node.start_mark.line + 1, key=where)
            first_line[resolved] = key_node.start_mark.line + 1
            child = path + (key_node.value,)
            _record_lines(value_node, child, lines, blocks, folded)
            lines[child] = value_node.start_mark.line + 1 if not isinstance(value_node, yaml.ScalarNode) \
                else key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _record_lines(item, path + (position,), lines, blocks, folded)


def looks_like_path(name_or_path) -> bool:
    """Whether a name given for a preset is a file path instead (`my/arch.yaml`, not `fusemax`)."""
    text = str(name_or_path)
    return text.endswith((".yaml", ".yml")) or "/" in text


def preset_names(directory: Path) -> list[str]:
    """The presets shipped as `<name>.yaml` files in `directory`."""
    return sorted(path.stem for path in directory.glob("*.yaml"))


def preset_path(directory: Path, name: str, what: str, listing: str, key: str | None = None) -> Path:
    """The file of the shipped preset `name`, or a one-line error naming the ones there are."""
    path = directory / f"{name}.yaml"
    if not path.exists():
        raise SpecError(f"no {what} named {name!r}; {listing}: {', '.join(preset_names(directory))}", key=key)
    return path


class SpecReader:
    """Base of the readers that check a user file: collect every problem, then fail with all of them."""

    def __init__(self, document: YamlDocument):
        self.doc = document
        self.errors: list[SpecError] = []

    def fail(self, message: str, *path) -> None:
        self.errors.append(self.doc.error(message, *path))

    def top_mapping(self, what: str, keys, required) -> dict:
        """The document as a mapping, with unknown and missing top-level keys reported."""
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.doc.error(f"a {what} file must be a YAML mapping with keys {', '.join(keys)}")
        self.known(data, keys)
        for key in required:
            if key not in data:
                self.fail(f"missing required key {key!r}")
        return data

    def known(self, data: dict, keys, *path) -> None:
        for key in data:
            if key not in keys:
                self.fail(f"unknown key {key!r}; allowed: {', '.join(keys)}", *path, key)

    def raise_if_failed(self) -> None:
        if self.errors:
            raise SpecErrors(self.errors)


def parse_checked(text: str, source: str, what: str, keys, problems, build):
    """Load a YAML mapping, report every problem `problems(document)` finds at once, then `build` it."""
    document = load_yaml(text, source)
    if not isinstance(document.data, dict):
        raise document.error(f"a {what} file must be a YAML mapping with keys {', '.join(keys)}")
    errors = problems(document)
    if errors:
        raise SpecErrors(errors)
    return build(document.data, source)


# Kinds of leaf values in a spec file's key table (architecture and GPU files).
POSITIVE_INT, POSITIVE, NON_NEGATIVE, COUNT, TEXT, VERSION = (
    "positive integer", "positive number", "non-negative number", "count", "text", "version")


def leaf_problem(value, kind: str, versions: tuple[int, ...] = (1,)) -> str | None:
    """What is wrong with a leaf value of `kind`, or None."""
    if kind == TEXT:
        return None if isinstance(value, str) and value.strip() else "must be non-empty text"
    if kind == VERSION:
        return None if value in versions and not isinstance(value, bool) else \
            f"is not a supported version (supported: {', '.join(map(str, versions))})"
    if isinstance(value, str) and _looks_numeric(value):
        return f"must be a {kind} (YAML reads {value!r} as text: write the exponent with a sign, e.g. 3.35e+12)"
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return f"must be a {kind}"
    if kind == COUNT:
        return None if isinstance(value, int) and value >= 0 else "must be a non-negative integer"
    if kind == POSITIVE_INT and (not isinstance(value, int) or value <= 0):
        return "must be a positive integer"
    if kind in (POSITIVE, POSITIVE_INT) and not 0 < value < math.inf:
        return "must be a positive number"
    if kind == NON_NEGATIVE and not 0 <= value < math.inf:
        return "must be a non-negative number"
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
