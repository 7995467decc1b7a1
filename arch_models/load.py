"""Read a spatial-architecture YAML file, validate it, and build a frozen `SpatialArch`.

Validation walks the whole file first and collects every problem (unknown or missing keys, bad
values, unknown operators), each naming `file:line: key.path`; only a fully valid file is built.
Presets live in `arch_models/presets/` and are loaded by name (`fusemax`, `flat`, ...).
"""

from __future__ import annotations

import functools
from pathlib import Path

from arch_models.accelergy import fill_from_tables
from arch_models.spatial import OPERATOR_NAMES, Buffer, ComputeArray, Dram, OperatorCost, SpatialArch
from einsum_cascade.errors import SpecError, SpecErrors
from einsum_cascade.yaml_source import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    TEXT,
    VERSION,
    YamlDocument,
    leaf_problem,
    load_yaml,
    looks_like_path,
    preset_names,
    preset_path,
    read_text,
)

PRESETS_DIR = Path(__file__).parent / "presets"
SUPPORTED_VERSIONS = (1,)

SECTION = "section"

# Each section: key -> (kind or nested section, required, what it is).
REGISTER_FILE = {
    "entries": (POSITIVE_INT, True, "register-file depth per PE/lane (words)"),
    "read_pj": (NON_NEGATIVE, True, "energy per register read"),
    "write_pj": (NON_NEGATIVE, True, "energy per register write"),
}
OPERATOR = {
    "cycles": (POSITIVE, True, "issue cycles one operation occupies the PE/lane"),
    "energy_pj": (NON_NEGATIVE, True, "energy per operation"),
}
# An operator built from other operators of the same array: cycles and energy are the sums over its parts,
# unless `cycles` says otherwise (parts on different units that pipeline, e.g. an adder feeding an exp unit).
COMPOSED_OPERATOR = {
    "composed_of": ("composition", True, "operator -> count of the primitive operations it takes"),
    "cycles": (POSITIVE, False, "issue cycles, when the parts overlap (default: the sum of the parts' cycles)"),
}
ARRAY_2D = {
    "rows": (POSITIVE_INT, True, "PE rows"),
    "cols": (POSITIVE_INT, True, "PE columns"),
    "pe_area_um2": (POSITIVE, True, "area of one PE"),
    "register_file": (REGISTER_FILE, True, "per-PE register file"),
    "operators": ("operators", True, "operator -> {cycles, energy_pj} or {composed_of: {...}}"),
}
ARRAY_1D = {
    "lanes": (POSITIVE_INT, True, "number of lanes"),
    "lane_area_um2": (POSITIVE, True, "area of one lane"),
    "register_file": (REGISTER_FILE, True, "per-lane register file"),
    "operators": ("operators", True, "operator -> {cycles, energy_pj} or {composed_of: {...}}"),
}
BUFFER = {
    "capacity_bytes": (POSITIVE_INT, True, "capacity"),
    "access_words": (POSITIVE_INT, True, "words moved by one read or write access (a row)"),
    "read_pj": (NON_NEGATIVE, True, "energy per read access"),
    "write_pj": (NON_NEGATIVE, True, "energy per write access"),
    "area_mm2": (NON_NEGATIVE, True, "area"),
}
DRAM = {
    "bandwidth_bytes_per_s": (POSITIVE, True, "bandwidth"),
    "access_words": (POSITIVE_INT, True, "words moved by one read or write access"),
    "read_pj": (NON_NEGATIVE, True, "energy per read access"),
    "write_pj": (NON_NEGATIVE, True, "energy per write access"),
}
TOP_LEVEL = {
    "version": (VERSION, True, "format version of the file (1)"),
    "name": (TEXT, True, "the architecture's name"),
    "description": (TEXT, False, "one line on what it is"),
    "clock_hz": (POSITIVE, True, "clock frequency"),
    "word_bytes": (POSITIVE_INT, True, "bytes per data word"),
    "array_2d": (ARRAY_2D, True, "the 2D PE array"),
    "array_1d": (ARRAY_1D, True, "the 1D vector array"),
    "global_buffer": (BUFFER, True, "the global buffer"),
    "staging_buffer": (BUFFER, False, "optional buffer between the global buffer and the 2D array"),
    "dram": (DRAM, True, "off-chip memory"),
}
# Operators each array must offer (the 2D array runs the matrix products; every array reduces with add).
REQUIRED_OPERATORS = {"array_2d": ("mac", "add"), "array_1d": ("add",)}


def arch_names() -> list[str]:
    return preset_names(PRESETS_DIR)


def load_arch(name_or_path: str, overrides: dict | None = None) -> SpatialArch:
    """A preset name (`fusemax`) or a path to an architecture file, optionally with sweep overrides."""
    if looks_like_path(name_or_path):
        arch = load_arch_file(name_or_path)
    else:
        arch = load_arch_file(preset_path(PRESETS_DIR, name_or_path, "architecture", "presets"))
    if overrides is None:
        return arch
    if not isinstance(overrides, dict):
        raise SpecError(f"overrides must be a mapping such as {{pe_dim: 128}}, not {overrides!r}")
    try:  # keyed with each value's type: True == 1 and 1e9 == 1000000000, but they are not the same input
        return _overridden(arch, tuple(sorted((k, type(v), v) for k, v in overrides.items())))
    except TypeError:  # an unhashable value: with_overrides says what is wrong with it
        return arch.with_overrides(**overrides)


@functools.lru_cache(maxsize=256)
def _overridden(arch: SpatialArch, overrides: tuple) -> SpatialArch:
    """One object per (preset, overrides): a sweep asks for the same variant at every workload and length, and
    the lowering cache (`simulator.spatial.lower`) is keyed by the arch object, so a new equal object per point
    would lower every group again."""
    return arch.with_overrides(**{key: value for key, _, value in overrides})


def load_arch_file(path: str | Path) -> SpatialArch:
    return parse_arch(read_text(path), source=str(path))


@functools.lru_cache(maxsize=64)
def parse_arch(text: str, source: str = "<string>") -> SpatialArch:
    """The architecture a file's text describes; cached by text and source (SpatialArch is a frozen value, and
    a comparison or sweep loads the same preset for every point)."""
    document = load_yaml(text, source)
    if not isinstance(document.data, dict):
        raise document.error("an architecture file must be a YAML mapping with keys " + ", ".join(TOP_LEVEL))
    data = fill_from_tables(document.data, document.source)  # `accelergy` values from Accelergy tables
    errors: list[SpecError] = []
    _check_section(document, data, TOP_LEVEL, (), errors)
    if errors:
        raise SpecErrors(errors)
    return _build(data, document.source)


# ---- validation -------------------------------------------------------------------------------
def _check_section(doc: YamlDocument, data, schema: dict, path: tuple, errors: list[SpecError]) -> None:
    if not isinstance(data, dict):
        errors.append(doc.error(f"must be a mapping with keys {', '.join(schema)}", *path))
        return
    for key in data:
        if key not in schema:
            errors.append(doc.error(f"unknown key {key!r}; allowed keys here: {', '.join(schema)}", *path, key))
    for key, (kind, required, meaning) in schema.items():
        if key not in data:
            if required:
                line = doc.line(*path) if path else doc.lines.get(())
                errors.append(SpecError(f"missing required key {key!r} ({meaning})", doc.source, line,
                                        ".".join(map(str, path + (key,)))))
            continue
        value, where = data[key], path + (key,)
        if isinstance(kind, dict):
            _check_section(doc, value, kind, where, errors)
        elif kind == "operators":
            _check_operators(doc, value, where, errors)
        elif kind == "composition":
            continue  # checked with the array's other operators (_check_composition)
        else:
            problem = leaf_problem(value, kind, SUPPORTED_VERSIONS)
            if problem:
                errors.append(doc.error(f"{key} = {value!r} {problem}", *where))
    for operator in REQUIRED_OPERATORS.get(path[-1] if path else "", ()):
        operators = data.get("operators")
        if isinstance(operators, dict) and operator not in operators:
            errors.append(doc.error(f"the {path[-1]} needs a {operator!r} operator (it runs the cascade's "
                                    f"{'matrix products' if operator == 'mac' else 'sums'}); "
                                    f"it lists: {', '.join(map(str, operators)) or 'nothing'}",
                                    *path, "operators"))


def _check_operators(doc: YamlDocument, operators, path: tuple, errors: list[SpecError]) -> None:
    if not isinstance(operators, dict) or not operators:
        errors.append(doc.error("must map operator names to {cycles, energy_pj}, e.g. "
                                "{mac: {cycles: 1, energy_pj: 17.16}}", *path))
        return
    for name, cost in operators.items():
        if name not in OPERATOR_NAMES:
            errors.append(doc.error(f"unknown operator {name!r}; known operators: {', '.join(OPERATOR_NAMES)}",
                                    *path, name))
        elif isinstance(cost, dict) and "composed_of" in cost:
            _check_section(doc, cost, COMPOSED_OPERATOR, path + (name,), errors)
            _check_composition(doc, operators, name, cost["composed_of"], path + (name, "composed_of"), errors)
        else:
            _check_section(doc, cost, OPERATOR, path + (name,), errors)


def _check_composition(doc: YamlDocument, operators: dict, name: str, parts, path: tuple,
                       errors: list[SpecError]) -> None:
    """Parts of a composed operator: primitive operators of the same array, each with a positive count."""
    if not isinstance(parts, dict) or not parts:
        errors.append(doc.error("must map operators of this array to counts, e.g. {mac: 6, add: 1}", *path))
        return
    for part, count in parts.items():
        cost = operators.get(part)
        if not isinstance(cost, dict) or "composed_of" in cost:
            primitives = [n for n, c in operators.items() if isinstance(c, dict) and "composed_of" not in c]
            errors.append(doc.error(f"{name} is composed of {part!r}, which is not a primitive operator of this "
                                    f"array; primitives here: {', '.join(map(str, primitives)) or 'none'}",
                                    *path, part))
        problem = leaf_problem(count, POSITIVE_INT)
        if problem:
            errors.append(doc.error(f"count {count!r} of {part} {problem}", *path, part))


# ---- building (input already validated) -----------------------------------------------------
def _build(data: dict, source: str) -> SpatialArch:
    staging = data.get("staging_buffer")
    return SpatialArch(
        name=str(data["name"]), description=str(data.get("description", "")),
        clock_hz=float(data["clock_hz"]), word_bytes=int(data["word_bytes"]),
        array_2d=_array(data["array_2d"], rows=data["array_2d"]["rows"], cols=data["array_2d"]["cols"],
                        area=data["array_2d"]["pe_area_um2"]),
        array_1d=_array(data["array_1d"], rows=1, cols=data["array_1d"]["lanes"],
                        area=data["array_1d"]["lane_area_um2"]),
        global_buffer=_buffer(data["global_buffer"]),
        staging_buffer=_buffer(staging) if staging is not None else None,
        dram=Dram(bandwidth_bytes_per_s=float(data["dram"]["bandwidth_bytes_per_s"]),
                  access_words=int(data["dram"]["access_words"]), read_pj=float(data["dram"]["read_pj"]),
                  write_pj=float(data["dram"]["write_pj"])),
        source=source,
    )


def _array(spec: dict, rows: int, cols: int, area: float) -> ComputeArray:
    registers = spec["register_file"]
    primitive = {str(name): OperatorCost(cycles=float(cost["cycles"]), energy_pj=float(cost["energy_pj"]))
                 for name, cost in spec["operators"].items() if "composed_of" not in cost}
    operators = {str(name): primitive.get(str(name)) or _composed(cost, primitive)
                 for name, cost in spec["operators"].items()}
    return ComputeArray(rows=int(rows), cols=int(cols), register_entries=int(registers["entries"]),
                        register_read_pj=float(registers["read_pj"]),
                        register_write_pj=float(registers["write_pj"]),
                        operators=operators, pe_area_um2=float(area))


def _composed(spec: dict, primitive: dict[str, OperatorCost]) -> OperatorCost:
    parts = tuple(sorted((str(part), int(count)) for part, count in spec["composed_of"].items()))
    cycles = spec.get("cycles", sum(count * primitive[part].cycles for part, count in parts))
    return OperatorCost(cycles=float(cycles), energy_pj=sum(count * primitive[part].energy_pj for part, count in parts),
                        composed_of=parts)


def _buffer(spec: dict) -> Buffer:
    return Buffer(capacity_bytes=int(spec["capacity_bytes"]), access_words=int(spec["access_words"]),
                  read_pj=float(spec["read_pj"]), write_pj=float(spec["write_pj"]),
                  area_mm2=float(spec["area_mm2"]))


def arch_to_spec(arch: SpatialArch) -> dict:
    """The resolved architecture in the file format (to write next to results); parses back to `arch`."""
    def array(compute: ComputeArray) -> dict:
        return {"register_file": {"entries": compute.register_entries, "read_pj": compute.register_read_pj,
                                  "write_pj": compute.register_write_pj},
                "operators": {name: _operator_spec(cost) for name, cost in compute.operators.items()}}

    def buffer(spec: Buffer) -> dict:
        return {"capacity_bytes": spec.capacity_bytes, "access_words": spec.access_words,
                "read_pj": spec.read_pj, "write_pj": spec.write_pj, "area_mm2": spec.area_mm2}

    spec = {
        "version": SUPPORTED_VERSIONS[-1], "name": arch.name, "description": arch.description or arch.name,
        "clock_hz": arch.clock_hz, "word_bytes": arch.word_bytes,
        "array_2d": {"rows": arch.array_2d.rows, "cols": arch.array_2d.cols,
                     "pe_area_um2": arch.array_2d.pe_area_um2, **array(arch.array_2d)},
        "array_1d": {"lanes": arch.array_1d.cols, "lane_area_um2": arch.array_1d.pe_area_um2,
                     **array(arch.array_1d)},
        "global_buffer": buffer(arch.global_buffer),
        "dram": {"bandwidth_bytes_per_s": arch.dram.bandwidth_bytes_per_s, "access_words": arch.dram.access_words,
                 "read_pj": arch.dram.read_pj, "write_pj": arch.dram.write_pj},
    }
    if arch.staging_buffer is not None:
        spec["staging_buffer"] = buffer(arch.staging_buffer)
    return spec


def _operator_spec(cost: OperatorCost) -> dict:
    if not cost.composed_of:
        return {"cycles": cost.cycles, "energy_pj": cost.energy_pj}
    return {"composed_of": dict(cost.composed_of), "cycles": cost.cycles}
