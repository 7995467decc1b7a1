"""`cascade simulate` / `compare` / `list`: JSON keys scripts rely on, and exit-2 errors for bad input."""

import json
from pathlib import Path

import pytest

from simulator.cli.main import main

POINT_KEYS = {"design", "workload", "seq_len", "latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d",
              "area_mm2"}


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_simulate_json_keys(capsys):
    status, out, _ = run_cli(capsys, "simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert",
                             "--seq", "64K", "--json")
    row = json.loads(out)
    assert status == 0
    assert set(row) >= POINT_KEYS
    assert row["seq_len"] == 65536 and isinstance(row["seq_len"], int)
    assert {"einsum_share", "occupancy_bytes", "measured_passes", "bound"} <= set(row)
    # K and V cross DRAM once per query block of P1*256 queries: 64K / (P1*256) times.
    p1 = 65536 // 256 // row["measured_passes"]["K"]["dram_reads_per_element"]
    assert p1 >= 1


def test_compare_json_has_points_and_summary(capsys):
    status, out, _ = run_cli(capsys, "compare", "--workloads", "bert", "--seq", "1K,4K", "--designs", "flat,fusemax",
                             "--baseline", "flat", "--json")
    result = json.loads(out)
    assert status == 0
    assert len(result["points"]) == 4
    for point in result["points"]:
        assert set(point) >= POINT_KEYS
    assert set(result["summary"]["fusemax"]) >= {"mean_speedup", "mean_energy_ratio"}
    # the summary is the mean over the design's points of baseline latency / its latency, same length
    latency = {(p["design"], p["seq_len"]): p["latency_s"] for p in result["points"]}
    expected = sum(latency["flat", n] / latency["fusemax", n] for n in (1024, 4096)) / 2
    assert result["summary"]["fusemax"]["mean_speedup"] == pytest.approx(expected, rel=1e-12)


def test_list_kinds(capsys):
    for kind, expected in [("archs", "fusemax"), ("mappings", "flat"), ("designs", "unfused"), ("workloads", "xlm")]:
        status, out, _ = run_cli(capsys, "list", kind, "--json")
        assert status == 0 and expected in json.loads(out)


def test_unknown_workload_exits_2(capsys):
    status, _, err = run_cli(capsys, "simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "gpt9",
                             "--seq", "1K")
    assert status == 2 and "gpt9" in err and "Traceback" not in err


def test_unsupported_operator_is_rejected_with_the_reason(capsys):
    # FuseMax runs max and exp on its 2D PEs; FLAT's 2D PEs have only MAC and add units.
    status, _, err = run_cli(capsys, "simulate", "--arch", "flat", "--mapping", "fusemax", "--workload", "bert",
                             "--seq", "1K")
    assert status == 2 and "needs operator max" in err and "does not support" in err


def test_tile_that_does_not_divide_pads_the_last_tile_and_says_so(capsys):
    # 1000 keys in tiles of 256 rows: 4 tiles, the last one padded from 232 to 256 (1024 covered, +2.4%)
    status, out, _ = run_cli(capsys, "simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert",
                             "--seq", "1000", "--json")
    assert status == 0
    assert "short last tiles padded: m 1,000 -> 1,024 (+2.4%), p 1,000 -> 1,024 (+2.4%)" in json.loads(out)["note"]


def test_buffer_overflow_is_rejected(tmp_path, capsys):
    from mappers.load import load_mapping

    text = Path(load_mapping("fusemax").source).read_text().replace("p1: max_fit", "p1: 1024")
    path = tmp_path / "big.yaml"
    path.write_text(text)
    status, _, err = run_cli(capsys, "simulate", "--arch", "fusemax", "--mapping", str(path), "--workload", "bert",
                             "--seq", "1M")
    assert status == 2 and "does not fit" in err and "MB" in err


def test_bad_arch_file_exits_2(tmp_path, capsys):
    path = tmp_path / "arch.yaml"
    path.write_text("version: 1\nname: x\nclock_hz: -5\n")
    status, _, err = run_cli(capsys, "simulate", "--arch", str(path), "--mapping", "fusemax", "--workload", "bert",
                             "--seq", "1K")
    assert status == 2 and str(path) in err


def test_simulate_on_a_gpu_uses_the_same_keys(capsys):
    status, out, _ = run_cli(capsys, "simulate", "--arch", "h100-sxm5-80gb", "--mapping", "fa3", "--workload",
                             "llama3-8b", "--seq", "8K", "--json")
    row = json.loads(out)
    assert status == 0 and set(row) >= POINT_KEYS and row["seq_len"] == 8192


def test_compare_mappings_on_one_gpu(capsys):
    status, out, _ = run_cli(capsys, "compare", "--arch", "h100-sxm5-80gb", "--designs", "fa2,fa3", "--workloads",
                             "llama3-8b", "--seq", "8K", "--json")
    result = json.loads(out)
    assert status == 0 and result["baseline"] == "fa2"
    # FA3's wgmma, TMA and softmax overlap make it faster than FA2 on an H100 (FlashAttention-3 paper)
    assert result["summary"]["fa3"]["mean_speedup"] > 1.2
