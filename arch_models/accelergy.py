"""Accelergy tables in: energies per action (ERT_summary) and areas (ART) in Accelergy 0.4's own YAML format,
as the FuseMax artifact publishes them (docs/accelergy/), used in place of numbers in an architecture file.

An architecture file names the tables of each section (an ERT_summary, or {ert: FILE, art: FILE}) and writes
`accelergy` where a number would go:

    accelergy:                     # paths from the file's folder
      array_2d: {ert: ../accelergy/2d-fusemax_ERT_summary.yaml, art: ../accelergy/2d-fusemax_ART.yaml}
      global_buffer: ../accelergy/2d-fusemax_ERT_summary.yaml
    array_2d:
      pe_area_um2: accelergy       # the ART's components with one instance per PE, summed
      register_file: {entries: 16, read_pj: accelergy, write_pj: accelergy}
      operators: {mac: {cycles: 1, energy_pj: accelergy}}

Each energy the model charges maps to one Accelergy component and action (the *_ACTIONS tables below); the
table must have it. A component's name is the one before its instance range: `system_top_level.mac[1..65536]`
is `mac`, with 65536 instances. Areas: a PE's or lane's is the sum of the ART components with as many instances
as the array has PEs or lanes; a buffer's is its component's (um^2 in the table, mm^2 in the file).
"""

from __future__ import annotations

import re
from pathlib import Path

from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import load_yaml, read_text

WORD = "accelergy"
TABLE_SECTIONS = ("array_2d", "array_1d", "global_buffer", "dram")  # the staging buffer has no table of its own
# The model's energy -> (Accelergy component, action). A register update is charged at the write energy, as
# the artifact's tables price `update` (docs/accelergy/*_ERT_summary.yaml: update = write); sub runs on the
# adder and mul on the MAC unit (REFERENCE.md §1 "Architectures").
OPERATOR_ACTIONS = {"mac": ("mac", "compute"), "mul": ("mac", "compute"), "add": ("add", "compute"),
                    "sub": ("add", "compute"), "max": ("max", "compute"), "div": ("divide", "compute"),
                    "exp": ("exponentiatial", "compute")}  # sic: the artifact's spelling of its exp unit
REGISTER_ACTIONS = {"read_pj": ("reg_file", "read"), "write_pj": ("reg_file", "write")}
BUFFER_ACTIONS = {"read_pj": ("global_buffer", "read"), "write_pj": ("global_buffer", "write")}
DRAM_ACTIONS = {"read_pj": ("DRAM", "read"), "write_pj": ("DRAM", "write")}
AREA_KEYS = {"array_2d": "pe_area_um2", "array_1d": "lane_area_um2", "global_buffer": "area_mm2"}
_INSTANCE = re.compile(r"^(?:.*\.)?([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\.\.(\d+)\])?$")


def read_ert(path: str | Path) -> dict[str, dict[str, float]]:
    """An ERT_summary file: component -> action -> energy in pJ."""
    table: dict[str, dict[str, float]] = {}
    for name, entry in _entries(path, "ERT_summary", "table_summary"):
        actions = entry.get("actions")
        if not isinstance(actions, list):
            raise SpecError(f"component {name} has no list of actions", source=str(path), key="actions")
        table[name] = {str(a.get("name")): _number(a.get("energy"), path, f"{name}.{a.get('name')}")
                       for a in actions if isinstance(a, dict)}
    return table


def read_art(path: str | Path) -> dict[str, tuple[float, int]]:
    """An ART file: component -> (area of one instance in um^2, number of instances)."""
    return {name: (_number(entry.get("area"), path, name), count)
            for name, entry, count in _entries(path, "ART", "tables", counted=True)}


def _entries(path: str | Path, top: str, key: str, counted: bool = False):
    document = load_yaml(read_text(path), str(path))
    body = document.data.get(top) if isinstance(document.data, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise SpecError(f"not an Accelergy {top} table: needs {top}.{key}, a list of components",
                        source=str(path), key=top)
    for entry in body[key]:
        match = _INSTANCE.match(str(entry.get("name", ""))) if isinstance(entry, dict) else None
        if not match:
            raise SpecError(f"component {entry!r} has no name like system.mac[1..256]", source=str(path), key=key)
        count = int(match.group(3)) - int(match.group(2)) + 1 if match.group(2) else 1  # [1..256]: 256 instances
        yield (match.group(1), entry, count) if counted else (match.group(1), entry)


def _number(value, path, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SpecError(f"{value!r} is not a non-negative number", source=str(path), key=key)
    return float(value)


def fill_from_tables(data: dict, source: str) -> dict:
    """`data` (an architecture file's mapping) with every `accelergy` value replaced by its table's energy;
    a section with such a value and no table, or a table without the action, is an error naming both."""
    tables = data.get(WORD) or {}
    if not isinstance(tables, dict) or any(k not in TABLE_SECTIONS for k in tables) or not all(
            isinstance(v, str) or (isinstance(v, dict) and set(v) <= {"ert", "art"}) for v in tables.values()):
        raise SpecError(f"must map sections ({', '.join(TABLE_SECTIONS)}) to an ERT_summary file or to "
                        "{ert: FILE, art: FILE}", source=source, key=WORD)
    filled = {k: v for k, v in data.items() if k != WORD}
    for section in TABLE_SECTIONS:
        if isinstance(filled.get(section), dict):
            named = tables.get(section)
            ert, art = (named.get("ert"), named.get("art")) if isinstance(named, dict) else (named, None)
            filled[section] = _fill_section(section, filled[section], ert, source)
            filled[section] = _fill_area(section, filled[section], art, source)
    return filled


def _fill_area(section: str, body: dict, art_path: str | None, source: str) -> dict:
    key = AREA_KEYS.get(section)
    if key is None or body.get(key) != WORD:
        return body
    if art_path is None:
        raise SpecError(f"is {WORD!r} but {WORD}.{section} names no ART (an area table)", source=source,
                        key=f"{section}.{key}")
    path = _resolve(art_path, source)
    table = read_art(path)
    if section.startswith("array_"):
        sides = ("rows", "cols") if section == "array_2d" else ("lanes",)
        for side in sides:
            value = body.get(side)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SpecError(f"{side} = {value!r} must be a positive integer (it counts the ART's instances)",
                                source=source, key=f"{section}.{side}")
        count = body["rows"] * body["cols"] if section == "array_2d" else body["lanes"]
        parts = {name: area for name, (area, n) in table.items() if n == count}
        if not parts:
            raise SpecError(f"{path} has no component with {count} instances (one per PE)", source=source,
                            key=f"{section}.{key}")
        return {**body, key: sum(parts.values())}
    if "global_buffer" not in table:
        raise SpecError(f"{path} has no global_buffer (it has: {', '.join(table)})", source=source,
                        key=f"{section}.{key}")
    return {**body, key: table["global_buffer"][0] / 1e6}


def _resolve(table_path: str, source: str) -> Path:
    path = Path(table_path)
    if not path.is_absolute() and source not in ("<string>", ""):
        path = Path(source).parent / path
    return path


def _fill_section(section: str, body: dict, table_path: str | None, source: str) -> dict:
    wanted = []  # (key path inside the section, component, action)
    if section.startswith("array_"):
        registers = body.get("register_file")
        if isinstance(registers, dict):
            wanted += [(("register_file", k), *a) for k, a in REGISTER_ACTIONS.items() if registers.get(k) == WORD]
        operators = body.get("operators")
        if isinstance(operators, dict):
            tabled = [name for name, cost in operators.items()
                      if isinstance(cost, dict) and cost.get("energy_pj") == WORD]
            if undeclared := [name for name in tabled if name not in OPERATOR_ACTIONS]:
                raise SpecError(f"no Accelergy action is declared for operator {undeclared[0]} (declared: "
                                f"{', '.join(OPERATOR_ACTIONS)}); give its energy_pj as a number", source=source,
                                key=f"{section}.operators.{undeclared[0]}.energy_pj")
            wanted += [(("operators", name, "energy_pj"), *OPERATOR_ACTIONS[name]) for name in tabled]
    else:
        actions = DRAM_ACTIONS if section == "dram" else BUFFER_ACTIONS
        wanted += [((k,), *a) for k, a in actions.items() if body.get(k) == WORD]
    if not wanted:
        return body
    where = f"{section}.{'.'.join(wanted[0][0])}"
    if table_path is None:
        raise SpecError(f"is {WORD!r} but {WORD}.{section} names no table", source=source, key=where)
    path = _resolve(table_path, source)
    table = read_ert(path)
    body = _copy(body)
    for keys, component, action in wanted:
        if action not in table.get(component, {}):
            present = ", ".join(table) if component not in table else ", ".join(table[component])
            raise SpecError(f"{path} has no {component}.{action} (it has: {present})", source=source,
                            key=f"{section}.{'.'.join(keys)}")
        target = body
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = table[component][action]
    return body


def _copy(value):
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else value
