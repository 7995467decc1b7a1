"""Every plot kind writes a non-empty PDF and PNG from a small results directory."""

import csv

import pytest

from simulator.cli.main import main
from simulator.studies.plots.figures import KINDS
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import parse_sweep


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    directory = tmp_path_factory.mktemp("results")
    run_sweep(parse_sweep("""
version: 1
name: plots
base: {workload: bert, scope: attention}
axes: {design: [unfused, flat, fusemax], seq_len: [1K, 4K]}
"""), directory / "compare", progress=False)
    run_sweep(parse_sweep("""
version: 1
name: pareto
base: {design: fusemax, workload: bert, seq_len: 4K, scope: attention}
axes: {arch.pe_dim: [16, 64, 256]}
"""), directory / "pareto", progress=False)
    parity = directory / "parity"
    parity.mkdir()
    with (parity / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kernel", "measured", "predicted", "unit"])
        writer.writerows([["FA2", 300, 310, "TFLOPs/s"], ["FA3", 600, 570, "TFLOPs/s"], ["FA3", 50, 55, "TFLOPs/s"]])
    return directory


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_writes_pdf_and_png(results, tmp_path, kind, capsys):
    source = {"pareto": "pareto", "parity": "parity"}.get(kind, "compare")
    out = tmp_path / f"{kind}.pdf"
    assert main(["plot", str(results / source), "--kind", kind, "-o", str(out)]) == 0
    for path in (out, out.with_suffix(".png")):
        assert path.exists() and path.stat().st_size > 1000
    assert out.read_bytes().startswith(b"%PDF")


def test_plot_of_a_missing_directory_exits_2(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "none"), "--kind", "speedup", "-o", str(tmp_path / "x.pdf")]) == 2
    assert "run `cascade sweep`" in capsys.readouterr().err


def test_a_comparison_of_designs_without_a_house_colour_gives_each_its_own(tmp_path, monkeypatch):
    # GPU kernels (fa2, fa3) have no colour of their own: each takes the next of the palette, in the bars and the
    # legend, so the designs stay apart
    import simulator.studies.plots.comparison as comparison
    from simulator.studies.plots.style import OTHER_COLOURS

    points = [{"workload": "bert", "seq_len": n, "design": d, "speedup": s, "energy_ratio": 1.0 / s}
              for n in (1024, 4096) for d, s in (("fa2", 1.5), ("fa3", 2.0))]
    kept = []
    monkeypatch.setattr(comparison, "save", lambda figure, path: kept.append(figure) or [])
    comparison.plot_comparison({"points": points, "summary": {"sdpa": {}, "fa2": {}, "fa3": {}},
                                "baseline": "sdpa"}, tmp_path / "c.pdf")
    top = kept[0].axes[0]
    faces = [tuple(c.get_facecolor()[0]) for c in top.collections]
    handles = top.get_legend().legend_handles
    from matplotlib.colors import to_rgba

    assert faces == [to_rgba(OTHER_COLOURS[0]), to_rgba(OTHER_COLOURS[1])]
    assert [tuple(h.get_facecolor()) for h in handles] == faces
