"""`cascade simulate --stats`: per tensor and storage level, words, physical accesses and energy. Checked
against counts derived by hand for FuseMax on BERT at 1K tokens, and against the report's own level totals
(the tensors must add up to them)."""

from __future__ import annotations

import json

import pytest

from simulator.cli.main import main
from simulator.studies.point import run_point

B, H, P, E = 64, 12, 1024, 64  # BERT, batch 64 (REFERENCE.md §1 "Workloads")
DRAM_PJ, DRAM_WORDS = 249.6, 4  # per 64-bit access of 16-bit words (REFERENCE.md §1 "Energy per action")


@pytest.fixture(scope="module")
def point():
    return run_point("fusemax", "fusemax", "bert", P, stats=True).to_dict()


def test_q_is_read_and_the_output_written_once_from_and_to_dram(point):
    stats = point["storage_by_tensor"]
    words = B * H * P * E  # one read of Q, one write of AV (F = E)
    assert stats["Q"]["dram"]["read_words"] == words and stats["Q"]["dram"]["write_words"] == 0
    assert stats["AV"]["dram"]["write_words"] == words
    assert stats["Q"]["dram"]["read_accesses"] == words / DRAM_WORDS
    assert stats["Q"]["dram"]["energy_pj"] == pytest.approx(words / DRAM_WORDS * DRAM_PJ)


def test_the_tensors_add_up_to_each_level(point):
    stats, storage, energy = point["storage_by_tensor"], point["storage"], point["energy_breakdown"]
    for level in ("buffer", "dram", "staging"):
        mine = [levels[level] for levels in stats.values() if level in levels]
        assert sum(m["energy_pj"] for m in mine) == pytest.approx(energy[level], rel=1e-9)
        for key in storage[level]:
            if key != "access_words":
                assert sum(m.get(key, 0.0) for m in mine) == pytest.approx(storage[level][key], rel=1e-9)
    assert stats["QK"] == {}  # the scores never leave the PEs' registers


def test_end_to_end_names_each_layers_tensors():
    stats = run_point("fusemax", "fusemax", "bert", P, end_to_end=True, stats=True).to_dict()["storage_by_tensor"]
    layers = {name.split(":")[0] for name in stats if ":" in name}
    assert len(layers) >= 4 and "Q" in stats  # the layer GEMMs beside attention's own tensors


def test_the_command_prints_and_reports_them(capsys):
    assert main(["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "1K",
                 "--stats"]) == 0
    assert "registers only" in capsys.readouterr().out
    assert main(["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "1K",
                 "--json"]) == 0
    assert "storage_by_tensor" not in json.loads(capsys.readouterr().out)  # only when asked
    assert main(["simulate", "--arch", "h100", "--mapping", "fa2", "--workload", "bert", "--seq", "1K",
                 "--stats"]) == 2
    assert "for spatial arrays" in capsys.readouterr().err
