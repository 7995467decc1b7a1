"""Every figure draws one mark per row (issue 15): each kind, and `--x/--y` with and without a baseline, rendered
from a small sweep of two designs x two array sizes x two lengths, its marks counted on the matplotlib figure;
rows that would share a mark are an error naming the axis to add, never a silent merge."""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import pytest

import simulator.studies.plots.figures as figures
import simulator.studies.plots.style as style
from einsum_cascade.errors import SpecError
from simulator.cli.main import main
from simulator.studies.plots.rows import narrowed, read_rows
from simulator.studies.plots.xy import xy_figure
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import parse_sweep

SWEEP = """
version: 1
name: marks
base: {workload: bert, scope: attention, arch.global_buffer_bytes: 16MB}
axes: {design: [flat, fusemax], arch.pe_dim: [64, 128], seq_len: [1K, 4K]}
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    directory = tmp_path_factory.mktemp("marks")
    run_sweep(parse_sweep(SWEEP), directory, progress=False)
    return directory


def marks(figure) -> int:
    """Markers on lines (legend proxies have no data), bars (a stack counts once per x) and scatter points."""
    from matplotlib.collections import PolyCollection  # bars drawn as one collection (style.stacked_bars)

    count = 0
    for axes in figure.axes:
        count += sum(len(line.get_xdata()) for line in axes.lines if line.get_marker() not in ("None", "", None))
        bars = {round(p.get_x(), 9) for p in axes.patches}
        bars |= {round(float(path.vertices[:, 0].min()), 9) for c in axes.collections if isinstance(c, PolyCollection)
                 for path in c.get_paths()}
        count += len(bars)
        count += sum(len(c.get_offsets()) for c in axes.collections if not isinstance(c, PolyCollection))
    return count


@pytest.fixture
def drawn(monkeypatch):
    """The figures a kind hands to `save`, kept open for counting."""
    kept = []
    save = figures.save

    def keep(figure, path):
        kept.append(marks(figure))
        return save(figure, path)

    monkeypatch.setattr(figures, "save", keep)
    return kept


def test_byte_sizes_with_units_in_a_sweep(results):
    rows = read_rows(results)
    assert {r["arch.global_buffer_bytes"] for r in rows} == {16 * 2**20}  # 16MB, binary as --set reads it
    assert len(rows) == 8


@pytest.mark.parametrize("kind, where, expected", [
    ("speedup", {}, 4),                            # the fusemax rows; flat is the baseline
    ("energy", {}, 4),
    ("utilization", {"arch.pe_dim": "64"}, 2 * 4),  # 4 rows, a marker in each panel
    ("breakdown", {}, 8),
    ("pareto", {}, 8),
    ("roofline", {}, 8),
])
def test_each_kind_draws_a_mark_per_row(results, tmp_path, drawn, kind, where, expected):
    figures.plot(results, kind, tmp_path / f"{kind}.pdf", "flat", where=where)
    assert drawn == [expected]


def test_ablation_draws_the_mean_of_every_point(results, tmp_path, drawn, monkeypatch):
    with (results / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    latency = {(r["arch.pe_dim"], r["seq_len"], r["design"]): float(r["latency_s"]) for r in rows}
    expected = sum(latency[(p, n, "flat")] / latency[(p, n, "fusemax")] for p in ("64", "128")
                   for n in ("1024", "4096")) / 4
    heights = []
    bars = style.stacked_bars
    monkeypatch.setattr(style, "stacked_bars", lambda axes, x, h, *a, **k: (heights.append(list(h)),
                                                                             bars(axes, x, h, *a, **k))[1])
    figures.plot(results, "ablation", tmp_path / "ablation.pdf", "flat")
    assert heights == [[pytest.approx(expected)]]


def test_parity_draws_a_marker_per_row(tmp_path, drawn):
    with (tmp_path / "results.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["kernel", "measured", "predicted", "unit"], ["FA2", 300, 310, "TFLOPs/s"],
                                      ["FA3", 600, 570, "TFLOPs/s"], ["FA3", 500, 550, "TFLOPs/s"]])
    figures.plot(tmp_path, "parity", tmp_path / "parity.pdf")
    assert drawn == [3]


@pytest.mark.parametrize("hue, col, where, baseline, expected", [
    ("design", "seq_len", {}, None, 8),
    ("seq_len", None, {"design": "fusemax"}, None, 4),
    ("seq_len", None, {}, "flat", 4),             # ratios: the baseline's own rows are not drawn
])
def test_any_metric_against_any_axis_draws_a_mark_per_row(results, hue, col, where, baseline, expected):
    rows = narrowed(read_rows(results), where)
    figure = xy_figure(rows, "arch.pe_dim", "latency_s", hue, col, baseline)
    assert marks(figure) == expected
    plt.close(figure)


def test_a_speedup_against_an_axis_is_the_ratio_at_each_point(results):
    rows = read_rows(results)
    figure = xy_figure(rows, "arch.pe_dim", "latency_s", "seq_len", None, "flat")
    by = {(r["design"], r["arch.pe_dim"], r["seq_len"]): r["latency_s"] for r in rows}
    drawn = sorted(y for line in figure.axes[0].lines for y in line.get_ydata() if line.get_marker() == "o")
    assert drawn == pytest.approx(sorted(by[("flat", p, n)] / by[("fusemax", p, n)] for p in (64.0, 128.0)
                                         for n in (1024.0, 4096.0)))
    assert figure.axes[0].get_ylabel() == "speedup over FLAT (x)"
    plt.close(figure)


def test_rows_that_would_share_a_mark_are_an_error_naming_the_axis(results):
    rows = read_rows(results)
    with pytest.raises(SpecError, match="differ in design, seq_len.*--where design=flat --where seq_len=1K"):
        xy_figure(rows, "arch.pe_dim", "latency_s")
    with pytest.raises(SpecError, match="differ in arch.pe_dim"):
        figures.utilization(rows, "attention", None)


def test_the_command_line_plots_against_axes_and_explains_kinds(results, tmp_path, capsys):
    out = tmp_path / "f.pdf"
    assert main(["plot", str(results), "--x", "arch.pe_dim", "--y", "energy_pj", "--hue", "design", "--col",
                 "seq_len", "-o", str(out)]) == 0
    assert out.exists() and out.with_suffix(".png").exists()
    assert main(["plot", str(results), "--x", "arch.pe_dim", "--y", "latency_s", "-o", str(out)]) == 2
    assert "put design and seq_len on --x, --hue or --col" in capsys.readouterr().err
    assert main(["plot", str(results), "--kind", "parity", "-o", str(out)]) == 2
    assert "needs results with columns measured, predicted" in capsys.readouterr().err
    assert main(["plot", str(results), "--x", "arch.pe_dim", "--y", "latency_s", "--where", "seq_len=2K",
                 "--hue", "design", "-o", str(out)]) == 2
    assert "no result has seq_len = 2K; present: 1K, 4K" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", "--help"])
    assert "pareto       latency against area" in capsys.readouterr().out


def test_what_cannot_be_drawn_is_one_error(results, tmp_path, capsys):
    out = str(tmp_path / "f.pdf")
    cases = [
        (["--x", "arch.pe_dim", "--y", "latency_s", "--where", "design=flat", "--where", "design=fusemax"],
         "design is given twice"),
        (["--x", "arch.pe_dim", "--y", "energy_staging_pj", "--hue", "seq_len", "--baseline", "flat"],
         "energy_staging_pj is 0"),  # FLAT has no staging buffer
        (["--kind", "utilization", "--scope", "end-to-end"], "no results in scope end-to-end"),
        (["--x", "arch.pe_dim", "--y", "latency_s", "--hue", "arch.pe_dim"], "must be different columns"),
        (["--x", "arch.pe_dim", "--y", "bound", "--hue", "design", "--col", "seq_len"], "'bound' is not a number"),
    ]
    for argv, words in cases:
        assert main(["plot", str(results), *argv, "-o", out]) == 2, argv
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, (argv, err)


def test_energies_counted_two_ways_are_not_drawn_together():
    rows = [{"point_id": str(n), "point_index": float(n), "arch": a, "seq_len": 1024.0, "status": "ok",
             "energy_pj": 1.0 + n, "energy_basis": b}
            for n, (a, b) in enumerate((("fusemax", "actions x energy per action"),
                                        ("h100", "board power limit x time (upper bound)")))]
    with pytest.raises(SpecError, match="counted two ways"):
        xy_figure(rows, "arch", "energy_pj")
