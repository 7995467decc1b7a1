"""`cascade simulate --cascade NAME --shape ...`, `--set KEY=VALUE` and `--dataflow` (and `--set` on compare, map).

Expected cycle counts are written out by hand from SCALE-Sim's rule (simulator/spatial/kernels/systolic.py): a
weight-stationary GEMM C[M,N] = A[M,K] @ B[K,N] on an R x C array runs ceil(K/R) * ceil(N/C) folds, each
padded to the full array and 2R + C + M - 2 cycles long, and SCALE-Sim reports one cycle less than that.
"""

from __future__ import annotations

import json

import pytest

from simulator.cli.main import main
from simulator.studies.arch_overrides import parse_override_value, parse_set_options

GEMM = ("simulate", "--arch", "fusemax", "--cascade", "gemm", "--shape", "M=1024,N=1024,K=64", "--json")


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_issue_command_gives_scalesims_weight_stationary_count(capsys):
    status, out, err = run_cli(capsys, *GEMM, "--set", "pe_dim=32", "--timing", "systolic", "--dataflow", "ws")
    assert status == 0, err
    row = json.loads(out)
    assert row["array_2d"] == {"rows": 32, "cols": 32}
    folds = (64 // 32) * (1024 // 32)  # K on the rows, N on the columns
    assert row["einsum_cycles"]["Z"] == folds * (2 * 32 + 32 + 1024 - 2) - 1 == 71551
    # `cycles` (beside latency_s) adds the DRAM fill and drain around the array's work: the same amount as
    # with ideal timing, where the array's work is M*N*K / (32*32) MAC cycles
    assert row["latency_s"] == pytest.approx(row["cycles"] / 940e6)
    _, ideal_out, _ = run_cli(capsys, *GEMM, "--set", "pe_dim=32")
    ideal = json.loads(ideal_out)
    assert ideal["einsum_cycles"]["Z"] == 1024 * 1024 * 64 / (32 * 32)
    assert row["cycles"] - row["einsum_cycles"]["Z"] == pytest.approx(ideal["cycles"] - ideal["einsum_cycles"]["Z"])
    assert 0 < row["cycles"] - row["einsum_cycles"]["Z"] < 0.001 * row["cycles"]
    assert (row["timing"], row["dataflow"]) == ("systolic", "ws")


def test_set_pe_dim_changes_the_array(capsys):
    _, default_out, _ = run_cli(capsys, *GEMM)
    _, small_out, _ = run_cli(capsys, *GEMM, "--set", "pe_dim=32")
    default, small = json.loads(default_out), json.loads(small_out)
    assert default["array_2d"] == {"rows": 256, "cols": 256} and small["array_2d"] == {"rows": 32, "cols": 32}
    assert small["arch"] == "fusemax[pe_dim=32]"
    assert default["einsum_cycles"]["Z"] == 1024 * 1024 * 64 / (256 * 256)
    assert small["einsum_cycles"]["Z"] == 1024 * 1024 * 64 / (32 * 32)


@pytest.mark.parametrize(("setting", "words"), [
    ("foo=3", ["--set", "'foo'", "pe_dim"]),
    ("pe_dim=abc", ["--set", "pe_dim", "'abc'"]),
    ("pe_dim=0.5", ["--set", "pe_dim", "positive integer"]),
    ("pe_dim", ["--set", "KEY=VALUE"]),
    ("pe_dim=32,pe_dim=64", ["--set", "twice"]),
])
def test_bad_set_exits_2_with_one_line(capsys, setting, words):
    status, out, err = run_cli(capsys, *GEMM, "--set", setting)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and all(word in err for word in words), err


def test_set_values_parse_sizes_and_exponents():
    assert parse_override_value("16MB", "global_buffer_bytes") == 16 * 2**20
    assert parse_override_value("32K", "global_buffer_bytes") == 32 * 1024
    assert parse_override_value("1e9", "clock_hz") == 10**9 and isinstance(parse_override_value("1e9", "x"), int)
    assert parse_override_value("940e6", "clock_hz") == 940_000_000
    assert parse_override_value("1.5", "clock_hz") == 1.5
    assert parse_set_options(["pe_dim=32,lanes=64", "global_buffer_bytes=8MB"]) == {
        "pe_dim": 32, "lanes": 64, "global_buffer_bytes": 8 * 2**20}


def test_cascade_without_a_shipped_mapping_says_what_to_do(capsys):
    status, _, err = run_cli(capsys, "simulate", "--arch", "fusemax", "--cascade", "softmax-3pass", "--shape",
                             "M=1K,P=1K,E=64,F=64,B=1,H=1")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "--mapping" in err and "cascade map" in err and "--save" in err


@pytest.mark.parametrize("argv", [
    ("simulate", "--arch", "fusemax", "--cascade", "gemm"),  # no --shape
    ("simulate", "--arch", "fusemax", "--cascade", "gemm", "--shape", "M=4,N=4,K=4", "--seq", "1K"),
    ("simulate", "--arch", "fusemax", "--workload", "bert", "--seq", "1K"),  # no --mapping
    ("simulate", "--arch", "h100-sxm5-80gb", "--cascade", "gemm", "--shape", "M=4,N=4,K=4"),
    ("simulate", "--arch", "fusemax", "--cascade", "gemm", "--mapping", "fusemax", "--shape", "M=4,N=4,K=4"),
])
def test_inconsistent_options_exit_2_with_one_line(capsys, argv):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_set_on_compare_applies_to_every_design(capsys):
    status, out, err = run_cli(capsys, "compare", "--workloads", "bert", "--seq", "1K", "--designs", "fusemax",
                               "--baseline", "fusemax", "--set", "global_buffer_bytes=8MB", "--json")
    assert status == 0, err
    (point,) = json.loads(out)["points"]
    assert point["arch"] == f"fusemax[global_buffer_bytes={8 * 2**20}]"
    status, _, err = run_cli(capsys, "compare", "--workloads", "bert", "--seq", "1K", "--designs", "fusemax",
                             "--baseline", "fusemax", "--set", "sm_count=2")
    assert status == 2 and "--set" in err and "sm_count" in err


def test_set_on_map_and_on_gpus(capsys):
    status, out, err = run_cli(capsys, "map", "--arch", "fusemax", "--set", "pe_dim=32", "--cascade", "gemm",
                               "--shape", "M=1024,K=64,N=1024", "--budget", "50", "--no-cache", "--json")
    assert status == 0, err
    assert json.loads(out)["arch"] == "fusemax[pe_dim=32]"
    status, out, err = run_cli(capsys, "simulate", "--arch", "h100-sxm5-80gb", "--mapping", "fa3", "--workload",
                               "llama3-8b", "--seq", "8K", "--set", "sm_count=66", "--json")
    assert status == 0, err
    row = json.loads(out)
    assert row["arch"] == "h100-sxm5-80gb[sm_count=66]"
    from arch_models.gpu import load_gpu

    assert row["cycles"] == pytest.approx(row["latency_s"] * load_gpu("h100-sxm5-80gb").clock_hz)
