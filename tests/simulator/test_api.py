"""The Python API (simulator/api.py) returns tables that agree with the command line and with values derived
here from their own columns; the notebook example in docs/ runs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from einsum_cascade.errors import SpecError
from simulator import api
from simulator.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_notebook_example_runs(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "api_example.py"), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "latency_vs_pe_dim.png").stat().st_size > 1000
    with (tmp_path / "latency_vs_pe_dim.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 6  # 2 designs x 3 array sizes


def test_simulate_is_the_command_lines_point(capsys):
    frame = api.simulate("fusemax", workload="bert", seq_len="4K")
    assert main(["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "4K",
                 "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert len(frame) == 1 and frame.latency_s[0] == cli["latency_s"] and frame.energy_pj[0] == cli["energy_pj"]
    parts = frame.filter(regex=r"^energy_.+_pj$").sum(axis=1)[0]
    assert parts == pytest.approx(frame.energy_pj[0], rel=1e-9)  # the components add up to the total


def test_compare_gives_each_points_ratio_to_the_baseline():
    frame = api.compare(["fusemax"], ["bert"], ["1K", "16K"], baseline="flat")
    assert len(frame) == 4 and set(frame.design) == {"fusemax", "flat"}
    base = frame[frame.design == "flat"].set_index("seq_len")
    fusemax = frame[frame.design == "fusemax"].set_index("seq_len")
    assert list(fusemax.speedup) == pytest.approx(list(base.latency_s / fusemax.latency_s))
    assert list(fusemax.energy_ratio) == pytest.approx(list(fusemax.energy_pj / base.energy_pj))


def test_map_finds_a_gemm_mapping_no_faster_than_the_array_allows():
    frame = api.map("gemm", "fusemax", {"M": 1024, "N": 1024, "K": 64}, budget=2000)
    macs, pes, clock_hz = 1024 * 1024 * 64, 256 * 256, 940e6  # REFERENCE.md §1: 256x256 PEs at 940 MHz
    assert frame.latency_s[0] >= macs / pes / clock_hz * (1 - 1e-9)
    assert frame.mapping[0]


def test_validate_gpu_keeps_every_measured_row(tmp_path):
    from simulator.studies.gpu_validation.measurements import DATA_FILE

    lines = DATA_FILE.read_text().splitlines(keepends=True)
    sample = tmp_path / "sample.csv"  # the header, two modelled rows and one no preset models
    sample.write_text("".join([*lines[:3], lines[1].replace("A100-SXM4-80GB", "Z9000", 1)]))
    frame = api.validate_gpu(sample)
    assert len(frame) == 3 and list(frame.modelled) == [True, True, False]
    assert "no GPU preset named" in frame.reason[2]


def test_results_of_a_folder_without_results_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="run `cascade sweep`"):
        api.results(tmp_path)
