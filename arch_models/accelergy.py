"""Accelergy tables in: energies per action (ERT_summary) and areas (ART) in Accelergy 0.4's own YAML format,
as the FuseMax artifact publishes them (docs/accelergy/), used in place of numbers in an architecture file.

An architecture file names a table per section and writes `accelergy` where a number would go:

    accelergy: {array_2d: ../../docs/accelergy/2d-fusemax_ERT_summary.yaml, ...}   # paths from the file's folder
    array_2d:
      register_file: {entries: 16, read_pj: accelergy, write_pj: accelergy}
      operators: {mac: {cycles: 1, energy_pj: accelergy}}

Each energy the model charges maps to one Accelergy component and action (ACTIONS); the table must have it.
A component's name is the one before its instance range: `system_top_level.mac[1..65536]` is `mac`.
"""

from __future__ import annotations

import re
from pathlib import Path

from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import load_yaml, read_text

WORD = "accelergy"
TABLE_SECTIONS = ("array_2d", "array_1d", "global_buffer", "staging_buffer", "dram")
# The model's energy -> (Accelergy component, action). A register update is charged at the write energy, as
# the artifact's tables price `update` (docs/accelergy/*_ERT_summary.yaml: update = write); sub runs on the
# adder and mul on the MAC unit (REFERENCE.md §1 "Architectures").
OPERATOR_ACTIONS = {"mac": ("mac", "compute"), "mul": ("mac", "compute"), "add": ("add", "compute"),
                    "sub": ("add", "compute"), "max": ("max", "compute"), "div": ("divide", "compute"),
                    "exp": ("exponentiatial", "compute")}  # sic: the artifact's spelling of its exp unit
REGISTER_ACTIONS = {"read_pj": ("reg_file", "read"), "write_pj": ("reg_file", "write")}
BUFFER_ACTIONS = {"read_pj": ("global_buffer", "read"), "write_pj": ("global_buffer", "write")}
DRAM_ACTIONS = {"read_pj": ("DRAM", "read"), "write_pj": ("DRAM", "write")}
_INSTANCE = re.compile(r"^(?:.*\.)?([A-Za-z_][A-Za-z0-9_]*)(?:\[\d+\.\.\d+\])?$")


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


def read_art(path: str | Path) -> dict[str, float]:
    """An ART file: component -> area of one instance in um^2."""
    return {name: _number(entry.get("area"), path, name) for name, entry in _entries(path, "ART", "tables")}


def _entries(path: str | Path, top: str, key: str):
    document = load_yaml(read_text(path), str(path))
    body = document.data.get(top) if isinstance(document.data, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise SpecError(f"not an Accelergy {top} table: needs {top}.{key}, a list of components",
                        source=str(path), key=top)
    for entry in body[key]:
        match = _INSTANCE.match(str(entry.get("name", ""))) if isinstance(entry, dict) else None
        if not match:
            raise SpecError(f"component {entry!r} has no name like system.mac[1..256]", source=str(path), key=key)
        yield match.group(1), entry


def _number(value, path, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SpecError(f"{value!r} is not a non-negative number", source=str(path), key=key)
    return float(value)


def fill_from_tables(data: dict, source: str) -> dict:
    """`data` (an architecture file's mapping) with every `accelergy` value replaced by its table's energy;
    a section with such a value and no table, or a table without the action, is an error naming both."""
    tables = data.get(WORD) or {}
    if not isinstance(tables, dict) or any(k not in TABLE_SECTIONS for k in tables):
        raise SpecError(f"must map sections ({', '.join(TABLE_SECTIONS)}) to ERT_summary files", source=source,
                        key=WORD)
    filled = {k: v for k, v in data.items() if k != WORD}
    for section in TABLE_SECTIONS:
        if isinstance(filled.get(section), dict):
            filled[section] = _fill_section(section, filled[section], tables.get(section), source)
    return filled


def _fill_section(section: str, body: dict, table_path: str | None, source: str) -> dict:
    wanted = []  # (key path inside the section, component, action)
    if section.startswith("array_"):
        registers = body.get("register_file")
        if isinstance(registers, dict):
            wanted += [(("register_file", k), *a) for k, a in REGISTER_ACTIONS.items() if registers.get(k) == WORD]
        operators = body.get("operators")
        if isinstance(operators, dict):
            wanted += [(("operators", name, "energy_pj"), *OPERATOR_ACTIONS.get(name, (name, "compute")))
                       for name, cost in operators.items() if isinstance(cost, dict) and cost.get("energy_pj") == WORD]
    else:
        actions = DRAM_ACTIONS if section == "dram" else BUFFER_ACTIONS
        wanted += [((k,), *a) for k, a in actions.items() if body.get(k) == WORD]
    if not wanted:
        return body
    where = f"{section}.{'.'.join(wanted[0][0])}"
    if table_path is None:
        raise SpecError(f"is {WORD!r} but {WORD}.{section} names no table", source=source, key=where)
    path = Path(table_path)
    if not path.is_absolute() and source not in ("<string>", ""):
        path = Path(source).parent / path
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
