"""Normalised bar figures draw every point (issue 17): a point is every swept key but the design, so two array
sizes are two bars, never merged; a missing result or a lone baseline is an error, never a dropped bar."""

from __future__ import annotations

import pytest

import simulator.studies.plots.style as style
from einsum_cascade.errors import SpecError
from simulator.studies.plots.figures import normalised_bars
from simulator.studies.plots.rows import point_columns


def row(design, pe_dim, latency, seq_len=4096.0):
    return {"point_id": f"{design}{pe_dim}", "point_index": 0.0, "design": design, "workload": "bert",
            "scope": "attention", "seq_len": seq_len, "arch.pe_dim": pe_dim, "status": "ok", "latency_s": latency}


ROWS = [row("flat", 128.0, 4.0), row("fusemax", 128.0, 1.0), row("flat", 256.0, 3.0), row("fusemax", 256.0, 0.5)]


def test_a_swept_array_size_is_part_of_the_point():
    assert point_columns(ROWS) == ["workload", "seq_len", "arch.pe_dim"]


def test_two_designs_at_two_array_sizes_are_two_bars(tmp_path, monkeypatch):
    drawn = []
    bars = style.stacked_bars

    def recording(axes, x, heights, *args, **kwargs):
        drawn.append(list(heights))
        return bars(axes, x, heights, *args, **kwargs)

    monkeypatch.setattr(style, "stacked_bars", recording)
    normalised_bars(ROWS, "latency_s", "flat", "attention", tmp_path / "s.pdf", "speedup")
    assert drawn == [[4.0, 6.0]]  # flat / fusemax at pe_dim 128 and 256


def test_a_missing_result_is_an_error_not_a_dropped_bar(tmp_path):
    with pytest.raises(SpecError, match="1 point\\(s\\) missing, e.g. design fusemax"):
        normalised_bars(ROWS[:3], "latency_s", "flat", "attention", tmp_path / "s.pdf", "speedup")


def test_the_baseline_alone_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="only design"):
        normalised_bars([ROWS[0], ROWS[2]], "latency_s", "flat", "attention", tmp_path / "s.pdf", "speedup")


def test_a_figure_path_is_a_pdf_or_a_folder(tmp_path):
    from simulator.cli.output import figure_path

    folder = tmp_path / "figures"
    folder.mkdir()
    assert figure_path(str(folder), "speedup") == folder / "speedup.pdf"  # not figures.pdf beside the folder
    assert figure_path(str(tmp_path / "a" / "fig"), "speedup") == tmp_path / "a" / "fig" / "speedup.pdf"  # a folder
    assert figure_path(str(tmp_path / "b" / "fig.pdf"), "speedup") == tmp_path / "b" / "fig.pdf"
    with pytest.raises(SpecError, match="not .txt"):
        figure_path(str(tmp_path / "notes.txt"), "speedup")
    (tmp_path / "file").write_text("")
    with pytest.raises(SpecError, match="cannot create"):
        figure_path(str(tmp_path / "file" / "x.pdf"), "speedup")  # a file where a folder should be
