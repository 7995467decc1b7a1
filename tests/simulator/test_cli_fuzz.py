"""Fuzzing the commands' readers (issue 17 item 2): shipped files of every kind (a cascade, a spatial and a GPU
architecture, a spatial and a GPU mapping, a sweep, a measurement CSV), mutated at random, are fed to the
command that reads them. Whatever the file became, the command exits 0 (the mutation left it valid) or 2 (one
or more `cascade: error:` lines), never 1 (an internal error) or a traceback, and within a bound.

Mutations: delete, duplicate or swap lines; replace a value with a hostile token (negative, fractional, huge,
not finite, a list, a map, an alias, a Python tag, an expression); insert a key; cut the file at a byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from spec_errors import run_cli

ROOT = Path(__file__).resolve().parents[2]
TOKENS = ["-1", "0", "2.5", "1e309", ".nan", "-.inf", "[1, 2]", "{a: 1}", "''", "null", "*anchor", "&anchor 3",
          "!!python/object/apply:os.system ['true']", "99999999999999999999", "abc", "M", "1/0", "9 ** 9 ** 9",
          "true", "'16MB'", "\"x\\u0000\"", "[[[[[[[[]]]]]]]]", "1K", "-64K"]
KEYS = ["version", "name", "unknown_key", "M", "density", "homes", "base", "axes", "derived", "pe_dim"]
BOUND_S = 10.0
# In the suite: 12 fixed examples per kind. CASCADE_FUZZ_EXAMPLES=500 explores new ones on every run.
EXAMPLES = int(os.environ.get("CASCADE_FUZZ_EXAMPLES", "12"))
SWEEP = """version: 1
name: fuzzed
base: {workload: bert, scope: attention}
axes:
  design: [flat, fusemax]
  seq_len: [1K, 2K]
"""
CSV = ROOT / "simulator" / "studies" / "gpu_validation" / "data" / "gpu_attention_measurements.csv"


def _csv_sample() -> str:
    lines = CSV.read_text().splitlines()
    return "\n".join([lines[0], *[line for line in lines[1:] if line.startswith(("H100", "A100"))][::40][:3]]) + "\n"


# kind -> (seed text, argv with FILE and OUT placeholders)
KINDS = {
    "cascade": ((ROOT / "einsum_cascade" / "library" / "fusemax.yaml").read_text(),
                ["analyze", "FILE", "--shape", "M=256,P=256,E=64,F=64,B=1,H=1", "--json"]),
    "spatial arch": ((ROOT / "arch_models" / "presets" / "fusemax.yaml").read_text(),
                     ["simulate", "--arch", "FILE", "--mapping", "fusemax", "--workload", "bert", "--seq", "1K",
                      "--json"]),
    "gpu arch": ((ROOT / "arch_models" / "gpu_presets" / "h100-sxm5-80gb.yaml").read_text(),
                 ["simulate", "--arch", "FILE", "--mapping", "fa2", "--workload", "bert", "--seq", "1K", "--json"]),
    "spatial mapping": ((ROOT / "mappers" / "presets" / "fusemax.yaml").read_text(),
                        ["simulate", "--arch", "fusemax", "--mapping", "FILE", "--workload", "bert", "--seq", "1K",
                         "--json"]),
    "gpu mapping": ((ROOT / "mappers" / "gpu_presets" / "fa2.yaml").read_text(),
                    ["simulate", "--arch", "h100-sxm5-80gb", "--mapping", "FILE", "--workload", "bert", "--seq",
                     "1K", "--json"]),
    "sweep": (SWEEP, ["sweep", "FILE", "-o", "OUT", "--json"]),
    "measurements": (_csv_sample(), ["validate-gpu", "--data", "FILE", "--json"]),
}
SUFFIX = {"measurements": ".csv"}
STATUSES: dict[str, list] = {}  # kind -> exit statuses seen (2 must occur: the mutations reach the error paths)


@st.composite
def mutated(draw, text: str) -> str:
    """`text` after one to three random mutations."""
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines() or [""]
        n = draw(st.integers(0, len(lines) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap", "value", "value", "key", "cut"]))
        if operation == "delete":
            del lines[n]
        elif operation == "duplicate":
            lines.insert(n, lines[n])
        elif operation == "swap":
            m = draw(st.integers(0, len(lines) - 1))
            lines[n], lines[m] = lines[m], lines[n]
        elif operation == "value":
            line, token = lines[n], draw(st.sampled_from(TOKENS))
            separator = ":" if ":" in line else ","
            if separator in line:
                cut = draw(st.sampled_from([i for i, c in enumerate(line) if c == separator]))
                lines[n] = line[:cut + 1] + (" " if separator == ":" else "") + token
            else:
                lines[n] = token
        elif operation == "key":
            indent = " " * (len(lines[n]) - len(lines[n].lstrip()))
            lines.insert(n, f"{indent}{draw(st.sampled_from(KEYS))}: {draw(st.sampled_from(TOKENS))}")
        else:
            joined = "\n".join(lines)
            return joined[:draw(st.integers(0, len(joined)))]
        text = "\n".join(lines) + "\n"
    return text


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_mutated_file_is_read_or_refused_cleanly(kind, tmp_path_factory, capsys):
    seed, argv = KINDS[kind]
    folder = tmp_path_factory.mktemp(kind.replace(" ", "-"))
    counter = iter(range(10**6))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize="CASCADE_FUZZ_EXAMPLES" not in os.environ,
              database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(text=mutated(seed))
    def check(text: str) -> None:
        n = next(counter)
        path = folder / f"input-{n}{SUFFIX.get(kind, '.yaml')}"
        path.write_text(text)
        args = [str(path) if a == "FILE" else str(folder / f"out-{n}") if a == "OUT" else a for a in argv]
        note(f"cascade {' '.join(args)}\n--- {path.name} ---\n{text}")
        status, _, err, seconds = run_cli(args, capsys)
        STATUSES.setdefault(kind, []).append(status)
        assert "Traceback" not in err
        assert status in (0, 2), f"exit {status}: {err.strip()[-300:]}"
        if status == 2:
            lines = [line for line in err.splitlines() if line.strip()]
            assert lines and all(line.startswith("cascade: error: ") for line in lines), err[-300:]
        assert seconds < BOUND_S

    check()
    assert 2 in STATUSES[kind], "no mutation broke the file: the fuzz did not reach the error paths"


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_unmutated_seed_file_is_read(kind, tmp_path, capsys):
    """The other end of the fuzz: the seed itself is valid, so an exit 2 above comes from the mutation."""
    seed, argv = KINDS[kind]
    path = tmp_path / f"seed{SUFFIX.get(kind, '.yaml')}"
    path.write_text(seed)
    args = [str(path) if a == "FILE" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    status, _, err, _ = run_cli(args, capsys)
    assert status == 0, err
