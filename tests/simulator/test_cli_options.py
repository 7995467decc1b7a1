"""One option name per concept (README's option table): every command's long options and aliases appear in the
table, the aliases it declares are the only other names, and `--design` is the same point as its --arch and
--mapping."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from simulator.cli.main import build_parser, main

README = Path(__file__).resolve().parents[2] / "README.md"
EVERYWHERE = {"--json", "--help"}


def _options() -> dict[str, dict[str, tuple[str, ...]]]:
    """command -> canonical long option -> its aliases."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {name: {longs[0]: tuple(longs[1:]) for a in command._actions
                   if (longs := [o for o in a.option_strings if o.startswith("--")]) and longs[0] not in EVERYWHERE}
            for name, command in commands.items()}


def _table_aliases() -> dict[str, set[str]]:
    """README's option table: command -> the aliases its rows declare ("compare: `--designs`; map: `--kernel`")."""
    table = README.read_text().split("### Options: one name per concept")[1].split("\n\n")[2]
    aliases: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        for entry in row.strip("|").split("|")[3].split(";"):
            command, _, names = entry.partition(":")
            aliases.setdefault(command.strip(), set()).update(re.findall(r"`(--[a-z-]+)`", names))
    return aliases


def test_the_option_table_names_every_alias_under_its_command():
    declared = _table_aliases()
    for command, options in _options().items():
        for canonical, aliases in options.items():
            for alias in aliases:
                assert alias in declared.get(command, set()), f"{command} {canonical}: alias {alias} is not in " \
                                                              f"README's option table under {command}"
    table = README.read_text().split("### Options: one name per concept")[1].split("\n\n")[2]
    concepts = {"--design", "--designs", "--arch", "--set", "--mapping", "--mappings", "--cascade", "--workload",
                "--workloads", "--seq", "--shape", "--end-to-end", "--causal", "--baseline", "--out", "--plot",
                "--csv", "--jobs"}
    assert concepts <= set(re.findall(r"`(--[a-z-]+)", table))


def test_no_option_answers_to_a_prefix(capsys):
    import pytest

    with pytest.raises(SystemExit) as stopped:
        main(["simulate", "--desig", "fusemax", "--workload", "bert", "--seq", "1K"])
    assert stopped.value.code == 2 and "unrecognized arguments: --desig" in capsys.readouterr().err


def test_no_command_has_two_names_for_a_mapping_or_a_length():
    for command, options in _options().items():
        assert not {"--kernel", "--kernels", "--seqlens"} & set(options), command  # only as aliases


def test_design_is_its_arch_and_mapping(capsys):
    points = []
    for argv in (["--design", "fusemax-no-binding"], ["--arch", "fusemax", "--mapping", "fusemax-no-binding"]):
        assert main(["simulate", *argv, "--workload", "bert", "--seq", "4K", "--json"]) == 0
        points.append(json.loads(capsys.readouterr().out))
    assert points[0]["latency_s"] == points[1]["latency_s"] and points[0]["energy_pj"] == points[1]["energy_pj"]
    assert main(["simulate", "--design", "flat", "--arch", "flat", "--workload", "bert", "--seq", "4K"]) == 2
    assert "drop --arch" in capsys.readouterr().err


def test_singular_aliases_of_list_options(capsys):
    outputs = []
    for argv in (["--designs", "fusemax", "--workloads", "bert"], ["--design", "fusemax", "--workload", "bert"]):
        assert main(["compare", *argv, "--seq", "1K", "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1]
