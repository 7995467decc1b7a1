"""Bad-input tests for architecture files: one per validation rule.

Each test edits the shipped fusemax preset, writes it under tmp_path, loads it, and checks that the
error names the file, the 1-based line of the offending key (found by searching the edited text, not
by asking the parser) and the key path, and says what is wrong. Problems with a whole section (a
missing key, a missing operator) point at the section's first line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_errors import line_of, rejected

from arch_models import load_arch
from arch_models.load import PRESETS_DIR

PRESET_TEXT = (PRESETS_DIR / "fusemax.yaml").read_text()


def edited(*replacements: tuple[str, str]) -> str:
    text = PRESET_TEXT
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def load_errors(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    return path, rejected(lambda: load_arch(str(path)))


def assert_one(tmp_path: Path, text: str, fragment: str, key: str, words: str, after: str = "") -> None:
    path, errors = load_errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{path}:{line_of(text, fragment, after)}: {key}: "), errors[0]
    assert words in errors[0], errors[0]


def test_unknown_top_level_key_lists_the_allowed_keys(tmp_path):
    text = edited(("word_bytes: 2 ", "colour: red\nword_bytes: 2 "))
    assert_one(tmp_path, text, "colour:", "colour",
               "unknown key 'colour'; allowed keys here: version, name, description, clock_hz, word_bytes")


def test_unknown_nested_key(tmp_path):
    text = edited(("    entries: 32", "    depth: 32\n    entries: 32"))
    assert_one(tmp_path, text, "depth:", "array_1d.register_file.depth",
               "unknown key 'depth'; allowed keys here: entries, read_pj, write_pj")


def test_missing_required_key_names_the_section(tmp_path):
    text = edited(("  lanes: 256 ", "  # lanes removed "))
    assert_one(tmp_path, text, "  lane_area_um2:", "array_1d.lanes", "missing required key 'lanes' (number of lanes)")


def test_version_is_required_and_checked(tmp_path):
    assert_one(tmp_path, edited(("version: 1\n", "")), "name: fusemax", "version", "missing required key 'version'")
    assert_one(tmp_path, edited(("version: 1\n", "version: 2\n")), "version: 2", "version",
               "version = 2 is not a supported version (supported: 1)")


def test_unknown_operator_lists_the_vocabulary(tmp_path):
    text = edited(("    max: {cycles: 1, energy_pj: 0.028036}", "    maximum: {cycles: 1, energy_pj: 0.028036}"),
                  ("    relu: {composed_of: {max: 1}}", "    relu: {composed_of: {maximum: 1}}"),  # the 2D array's
                  ("    min: {composed_of: {max: 1}}", "    min: {composed_of: {maximum: 1}}"))
    assert_one(tmp_path, text, "maximum:", "array_2d.operators.maximum",
               "unknown operator 'maximum'; known operators: add, sub, mul, div, max, min, exp")


@pytest.mark.parametrize("old, new, key, words", [
    ("  capacity_bytes: 16777216", "  capacity_bytes: 0", "global_buffer.capacity_bytes",
     "capacity_bytes = 0 must be a positive integer"),
    ("  bandwidth_bytes_per_s: 429496729600", "  bandwidth_bytes_per_s: -5", "dram.bandwidth_bytes_per_s",
     "bandwidth_bytes_per_s = -5 must be a positive number"),
    ("clock_hz: 940000000", "clock_hz: 0", "clock_hz", "clock_hz = 0 must be a positive number"),
    ("  rows: 256", "  rows: 2.5", "array_2d.rows", "rows = 2.5 must be a positive integer"),
    ("  rows: 256", "  rows: many", "array_2d.rows", "rows = 'many' must be a positive integer"),
    ("word_bytes: 2", "word_bytes: true", "word_bytes", "word_bytes = True must be a positive integer"),
])
def test_sizes_bandwidths_and_clocks_must_be_positive(tmp_path, old, new, key, words):
    assert_one(tmp_path, edited((old, new)), new.strip(), key, words)


def test_operator_cycles_must_be_positive(tmp_path):
    text = edited(("    mac: {cycles: 1, energy_pj: 17.1645}", "    mac: {cycles: 0, energy_pj: 17.1645}"))
    assert_one(tmp_path, text, "mac: {cycles: 0", "array_2d.operators.mac.cycles", "cycles = 0 must be a positive")


def test_energy_must_not_be_negative(tmp_path):
    text = edited(("  read_pj: 484.97271", "  read_pj: -484.97271"))
    assert_one(tmp_path, text, "read_pj: -484.97271", "global_buffer.read_pj",
               "read_pj = -484.97271 must be a non-negative number")


def test_operator_without_energy(tmp_path):
    text = edited(("    div: {cycles: 1, energy_pj: 36.251153}", "    div: {cycles: 1}"))
    assert_one(tmp_path, text, "div: {cycles: 1}", "array_1d.operators.div.energy_pj",
               "missing required key 'energy_pj' (energy per operation)")


def test_2d_array_needs_mac_and_every_array_needs_add(tmp_path):
    text = edited(("    mac: {cycles: 1, energy_pj: 17.1645}   # fp16", "    # no mac"))
    path, errors = load_errors(tmp_path, text)  # exp, sub_exp, log and softplus built from MACs lose their part
    assert f"{path}:{line_of(text, '    add: {')}: array_2d.operators: the array_2d needs a 'mac' operator" in \
        " ".join(errors), errors
    assert sum("is composed of 'mac', which is not a primitive operator" in e for e in errors) == 4, errors
    lane_add = "    add: {cycles: 1, energy_pj: 8.3395}    # docs/accelergy/1d"
    text = edited((lane_add, "    # no add"))
    path, errors = load_errors(tmp_path, text)
    assert f"{path}:{line_of(text, 'max: {cycles: 1', 'array_1d:')}: array_1d.operators: the array_1d needs a " \
        "'add' operator" in " ".join(errors), errors


def test_operators_must_be_a_mapping(tmp_path):
    text = edited(("  operators:\n    mac", "  operators: [mac]\n  unused:\n    mac"))
    path, errors = load_errors(tmp_path, text)
    assert any(f"{path}:{line_of(text, 'operators: [mac]')}: array_2d.operators: must map operator names" in error
               for error in errors), errors


def test_every_problem_is_reported_together(tmp_path):
    text = edited(("clock_hz: 940000000", "clock_hz: -1"), ("  rows: 256", "  rows: 0"),
                  ("    exp: {composed_of: {mac: 6, add: 1}}", "    expo: {composed_of: {mac: 6, add: 1}}"),
                  ("  read_pj: 249.6", "  read_pj: -1"))
    path, errors = load_errors(tmp_path, text)
    keys = [error.split(": ")[1] for error in errors]
    assert keys == ["clock_hz", "array_2d.rows", "array_2d.operators.expo", "dram.read_pj"]


def test_malformed_yaml_and_wrong_shapes(tmp_path):
    path, errors = load_errors(tmp_path, "version: 1\nname: [unclosed\n")
    assert errors[0].startswith(f"{path}:") and "malformed YAML" in errors[0]
    path, errors = load_errors(tmp_path, "- just\n- a list\n")
    assert "an architecture file must be a YAML mapping" in errors[0]
    text = edited(("global_buffer:\n", "global_buffer: 16MB\nunused:\n"))  # leaves an `unused` section too
    path, errors = load_errors(tmp_path, text)
    assert f"{path}:{line_of(text, 'global_buffer: 16MB')}: global_buffer: must be a mapping with keys " \
        "capacity_bytes, access_words, read_pj, write_pj, area_mm2" in errors


def test_a_composed_operator_names_primitive_parts_of_its_own_array(tmp_path):
    text = edited(("    exp: {composed_of: {mac: 6, add: 1}}", "    exp: {composed_of: {mac: 6, fma: 1}}"))
    assert_one(tmp_path, text, "exp: {composed_of: {mac: 6, fma", "array_2d.operators.exp.composed_of.fma",
               "exp is composed of 'fma', which is not a primitive operator of this array")
    text = edited(("    exp: {composed_of: {mac: 6, add: 1}}", "    exp: {composed_of: {mac: 0, add: 1}}"))
    assert_one(tmp_path, text, "exp: {composed_of: {mac: 0", "array_2d.operators.exp.composed_of.mac",
               "count 0 of mac must be a positive integer")
    text = edited(("    exp: {composed_of: {mac: 6, add: 1}}", "    exp: {composed_of: {sub_exp: 1}}"))
    assert_one(tmp_path, text, "exp: {composed_of: {sub_exp", "array_2d.operators.exp.composed_of.sub_exp",
               "not a primitive operator")


def test_a_composed_operator_costs_the_sum_of_its_parts_unless_it_says_its_cycles(tmp_path):
    text = edited(("    exp: {composed_of: {mac: 6, add: 1}}", "    exp: {composed_of: {mac: 2, max: 3}, cycles: 4}"))
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    exp = load_arch(str(path)).array_2d.cost("exp")
    assert exp.cycles == 4  # declared: the parts overlap
    assert exp.energy_pj == pytest.approx(2 * 17.1645 + 3 * 0.028036)
    assert exp.composed_of == (("mac", 2), ("max", 3))
