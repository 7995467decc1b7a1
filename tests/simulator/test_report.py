"""`cascade report DIR`: every row of the sweep in the tables (rejected points with their reasons), the spec and
versions from the manifest, a figure that is not a merge, and a self-contained HTML page."""

from __future__ import annotations

import csv
import json

import pytest

from simulator.cli.main import main
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import parse_sweep

SWEEP = """
version: 1
name: report-test
base: {workload: bert, seq_len: 4K, scope: attention, design: fusemax}
axes:
  arch.global_buffer_bytes: [1KB, 16MB]   # 1 KB holds no query tile: rejected by the model
  arch.pe_dim: [64, 128]
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report") / "sweep"
    run_sweep(parse_sweep(SWEEP), folder, progress=False)
    return folder


def test_the_report_has_every_row_the_spec_and_the_rejections(sweep, tmp_path, capsys):
    assert main(["report", str(sweep), "-o", str(tmp_path), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["sweeps"] == [{"name": "report-test", "rows": 2, "rejected": 2}]
    markdown = (tmp_path / "report.md").read_text()
    results, rejected = markdown.split("### Rejected points (2)")
    assert "## results.csv" not in markdown  # the sweep's rows once, as its table
    with (sweep / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["status"] == "ok":  # each ok row's latency, to 4 significant digits, is in the table
            assert f"{float(row['latency_s']):.4g}" in results
        else:
            assert " ".join(row["reason"].split()) in rejected
    assert "name: report-test" in markdown
    assert "numba" in markdown  # versions from the manifest
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page  # the figure inside
    assert "src='report-figures" not in page  # self-contained: no file it points to


def test_a_sweep_too_wide_for_one_figure_says_so(tmp_path):
    folder = tmp_path / "wide"
    run_sweep(parse_sweep(SWEEP.replace("arch.pe_dim: [64, 128]", "arch.pe_dim: [64, 128]\n  seq_len: [1K, 4K]\n"
                                        "  design: [fusemax, flat]").replace("seq_len: 4K, ", "")
                          .replace(", design: fusemax", "")), folder, progress=False)
    assert main(["report", str(folder)]) == 0
    assert "No figure: the sweep varies" in (folder / "report.md").read_text()


def test_a_folder_without_results_is_one_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.csv here" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2 and not (tmp_path / "missing").exists()
    assert "not a folder" in capsys.readouterr().err


def test_a_broken_manifest_is_one_error(sweep, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy)
    (copy / "manifest.json").write_text("{not json")
    assert main(["report", str(copy)]) == 2
    assert "manifest.json" in capsys.readouterr().err
