"""Load YAML keeping the line of every key, so errors can name `file:line: key`.

Shared by every package that reads user YAML (cascades, architectures, mappings, sweeps).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from einsum_cascade.errors import SpecError, SpecErrors, unknown_name


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


# Input limits (docs/input-limits.md): a spec file larger than this many bytes, a YAML document whose aliases
# expand to more nodes, or one nested deeper, is refused with a one-line error instead of a hang or a crash.
MAX_INPUT_BYTES_VARIABLE = "CASCADE_MAX_INPUT_BYTES"
MAX_INPUT_BYTES = 4 << 20
MAX_YAML_NODES = 200_000
MAX_YAML_DEPTH = 64
SUPPORTED_VERSIONS = (1,)  # the format version of every spec file this release reads
# libyaml's parser where PyYAML was built with it (about 10x faster; same nodes, marks and styles), else PyYAML's.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def max_input_bytes() -> int:
    """The file-size limit: `CASCADE_MAX_INPUT_BYTES` if set (a positive integer), else 4 MiB."""
    text = os.environ.get(MAX_INPUT_BYTES_VARIABLE)
    if text is None:
        return MAX_INPUT_BYTES
    if not text.strip().isdigit() or int(text) <= 0:
        raise SpecError(f"{MAX_INPUT_BYTES_VARIABLE}={text!r} is not a positive number of bytes",
                        key=MAX_INPUT_BYTES_VARIABLE)
    return int(text)


def read_text(path: str | Path) -> str:
    limit = max_input_bytes()
    try:
        size = Path(path).stat().st_size
        if size > limit and Path(path).is_file():
            raise SpecError(f"file is {size:,} bytes, more than the limit of {limit:,} for a spec file (raise it "
                            f"with {MAX_INPUT_BYTES_VARIABLE}=BYTES)", source=str(path))
        return Path(path).read_text()
    except FileNotFoundError:
        raise SpecError("file not found", source=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read file: {exc.__class__.__name__}", source=str(path)) from None


def load_yaml(text: str, source: str) -> YamlDocument:
    """Parse YAML text; malformed YAML, or YAML beyond the size, alias-expansion or nesting limits, becomes a
    one-line SpecError with the line. The text is composed once and the data constructed from that tree."""
    limit = max_input_bytes()
    if len(text) > limit:
        raise SpecError(f"text is {len(text):,} characters, more than the limit of {limit:,} for a spec (raise it "
                        f"with {MAX_INPUT_BYTES_VARIABLE}=BYTES)", source=source)
    _check_bracket_depth(text, source)
    lines: dict[tuple, int] = {}
    blocks: set[tuple] = set()
    folded: set[tuple] = set()
    loader = SAFE_LOADER(text)
    try:
        root = loader.get_single_node()
        if root is not None:  # lines first: constructing merges `<<` keys into the nodes themselves
            _check_size(root, source)
            try:
                _record_lines(root, (), lines, blocks, folded)
            except SpecError as error:
                raise SpecError(error.message, source=source, line=error.line, key=error.key) from None
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"malformed YAML: {problem}", source=source,
                        line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise SpecError(f"YAML nested deeper than this reader allows (the limit is {MAX_YAML_DEPTH} levels)",
                        source=source) from None
    finally:
        loader.dispose()
    return YamlDocument(data, source, lines, frozenset(blocks), frozenset(folded))


def _check_bracket_depth(text: str, source: str) -> None:
    """Refuse deeply nested flow collections before the (recursive) YAML composer meets them. Brackets inside
    strings (an Einsum's `Q[e,p]`) are balanced, so they add a level or two, never dozens."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > 2 * MAX_YAML_DEPTH:
        raise SpecError(f"YAML nested more than {MAX_YAML_DEPTH} levels deep ({deepest} open brackets at once)",
                        source=source)


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse a document nested deeper than MAX_YAML_DEPTH or whose aliases expand to more than MAX_YAML_NODES
    nodes (a "billion laughs" file is a few lines that expand to billions). Sizes are memoised per node, so
    the check costs one visit per distinct node."""
    expanded: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_YAML_DEPTH:
            raise SpecError(f"YAML nested more than {MAX_YAML_DEPTH} levels deep", source=source,
                            line=node.start_mark.line + 1)
        if id(node) in expanded:
            return expanded[id(node)]
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_YAML_NODES:
                raise SpecError(f"YAML expands to more than {MAX_YAML_NODES:,} values (aliases of aliases?); a spec "
                                "file is far smaller", source=source, line=node.start_mark.line + 1)
        expanded[id(node)] = total
        return total

    size(root, 0)


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
        raise SpecError(unknown_name(what, name, preset_names(directory), listing), key=key)
    return path


def header_problems(data: dict) -> list[tuple[str, str]]:
    """(message, key) for a `version` this release does not read and a `name` that is not non-empty text."""
    problems = []
    for key, kind in (("version", VERSION), ("name", TEXT)):
        wrong = leaf_problem(data[key], kind, SUPPORTED_VERSIONS) if key in data else None
        if wrong:
            problems.append((f"{key} = {data[key]!r} {wrong}", key))
    return problems


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
        self.header(data)
        return data

    def header(self, data: dict) -> None:
        for message, key in header_problems(data):
            self.fail(message, key)

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
