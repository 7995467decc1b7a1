"""Accelergy tables in (arch_models/accelergy.py): the FuseMax artifact's ERT_summary and ART files parse, and a
preset whose energies are written `accelergy` (taken from those tables) is the preset with its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arch_models import load_arch
from arch_models.accelergy import OPERATOR_ACTIONS, read_art, read_ert
from arch_models.load import parse_arch
from einsum_cascade.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "docs" / "accelergy"
PRESETS = ROOT / "arch_models" / "presets"


def test_the_artifacts_tables_parse():
    ert = read_ert(TABLES / "2d-fusemax_ERT_summary.yaml")
    assert ert["mac"]["compute"] == pytest.approx(17.16, abs=0.01)       # REFERENCE.md §1 "Energy per action"
    assert ert["global_buffer"]["read"] == pytest.approx(484.97, abs=0.01)
    assert ert["DRAM"]["read"] == 249.6
    assert read_ert(TABLES / "1d-flat_ERT_summary.yaml")["exponentiatial"]["compute"] == pytest.approx(94.65, abs=0.01)
    art = read_art(TABLES / "2d-flat_ART.yaml")
    assert art["reg_file"][0] == pytest.approx(1838.1, abs=0.1) and art["mac"] == (1545.0, 65536)  # §1 "Areas"
    assert art["global_buffer"] == (pytest.approx(94.18e6, rel=1e-3), 1)


def _tabled(preset: str, paths: dict[str, str]) -> tuple[str, int]:
    """The preset's text with every energy its tables hold written `accelergy`, and how many were."""
    data = yaml.safe_load((PRESETS / f"{preset}.yaml").read_text())
    tables = {section: read_ert(path) for section, path in paths.items()}
    replaced = 0

    def put(section: str, target: dict, key: str, component: str, action: str) -> None:
        nonlocal replaced
        if action in tables[section].get(component, {}) and isinstance(target.get(key), float | int):
            target[key] = "accelergy"
            replaced += 1

    for section in ("array_2d", "array_1d"):
        for key in ("read_pj", "write_pj"):
            put(section, data[section]["register_file"], key, "reg_file", key[:-3])
        for name, cost in data[section]["operators"].items():
            if "energy_pj" in cost and name in OPERATOR_ACTIONS:
                put(section, cost, "energy_pj", *OPERATOR_ACTIONS[name])
    for key in ("read_pj", "write_pj"):
        put("global_buffer", data["global_buffer"], key, "global_buffer", key[:-3])
        put("dram", data["dram"], key, "DRAM", key[:-3])
    data["accelergy"] = paths
    return yaml.safe_dump(data, sort_keys=False), replaced


def _energies(arch) -> list[float]:
    values = []
    for array in (arch.array_2d, arch.array_1d):
        values += [array.register_read_pj, array.register_write_pj]
        values += [array.operators[name].energy_pj for name in sorted(array.operators)]
    return values + [arch.global_buffer.read_pj, arch.global_buffer.write_pj, arch.dram.read_pj, arch.dram.write_pj]


def _paths(path_2d: str, path_1d: str) -> dict[str, str]:
    table_2d, table_1d = (str(TABLES / f"{name}_ERT_summary.yaml") for name in (path_2d, path_1d))
    return {"array_2d": table_2d, "array_1d": table_1d, "global_buffer": table_2d, "dram": table_2d}


@pytest.mark.parametrize("preset, path_2d, path_1d, at_least", [
    ("fusemax", "2d-fusemax", "1d-fusemax", 14),
    ("flat", "2d-flat", "1d-flat", 14),
])
def test_a_preset_from_its_tables_is_the_preset(preset, path_2d, path_1d, at_least):
    text, replaced = _tabled(preset, _paths(path_2d, path_1d))
    assert replaced >= at_least
    assert _energies(parse_arch(text, f"<{preset} from tables>")) == pytest.approx(_energies(load_arch(preset)),
                                                                                 rel=1e-4)


def test_a_missing_table_or_action_is_named():
    data = yaml.safe_load(_tabled("fusemax", _paths("2d-fusemax", "1d-fusemax"))[0])
    del data["accelergy"]["array_1d"]
    with pytest.raises(SpecError, match="array_1d.register_file.read_pj: is 'accelergy' but accelergy.array_1d "
                                        "names no table"):
        parse_arch(yaml.safe_dump(data), "<test>")
    data = yaml.safe_load(_tabled("flat", _paths("2d-flat", "1d-flat"))[0])
    data["accelergy"]["array_1d"] = str(TABLES / "1d-fusemax_ERT_summary.yaml")  # has no exp unit
    with pytest.raises(SpecError, match="array_1d.operators.exp.energy_pj: .*1d-fusemax_ERT_summary.yaml has no "
                                        "exponentiatial.compute"):
        parse_arch(yaml.safe_dump(data), "<test>")


def test_the_shipped_example_simulates_as_the_preset():
    from simulator.studies.point import run_point

    example = str(ROOT / "docs" / "examples" / "fusemax-accelergy.yaml")
    tabled, preset = (run_point(arch, "fusemax", "bert", 4096) for arch in (example, "fusemax"))
    assert tabled.energy_pj == pytest.approx(preset.energy_pj, rel=1e-6) and tabled.latency_s == preset.latency_s


def test_areas_from_the_art_are_the_components_of_one_pe_and_the_buffer():
    data = yaml.safe_load((PRESETS / "flat.yaml").read_text())
    data["accelergy"] = {"array_2d": {"art": str(TABLES / "2d-flat_ART.yaml")},
                         "global_buffer": {"art": str(TABLES / "2d-flat_ART.yaml")}}
    data["array_2d"]["pe_area_um2"] = "accelergy"
    data["global_buffer"]["area_mm2"] = "accelergy"
    arch = parse_arch(yaml.safe_dump(data), "<flat areas from the ART>")
    # REFERENCE.md §1 "Areas": FLAT's 2D PE is a 4-entry register file (1838.1 um^2), an adder and a MAC
    assert arch.array_2d.pe_area_um2 == pytest.approx(1838.14968 + 1030 + 1545)
    assert arch.global_buffer.area_mm2 == pytest.approx(94.176, abs=0.001)
    del data["accelergy"]["global_buffer"]
    with pytest.raises(SpecError, match="global_buffer.area_mm2: is 'accelergy' but accelergy.global_buffer names "
                                        "no ART"):
        parse_arch(yaml.safe_dump(data), "<test>")
