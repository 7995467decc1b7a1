"""The checked-in results/fusemax tables are what `cascade reproduce fusemax` produces now."""

from pathlib import Path

from simulator.studies.reproduce import reproduce_fusemax

CHECKED_IN = Path(__file__).resolve().parents[2] / "results" / "fusemax"
TABLES = ("summary.csv", "attention.csv", "end_to_end.csv", "pareto.csv")


def test_checked_in_tables_match_a_fresh_reproduction(tmp_path):
    result = reproduce_fusemax(tmp_path, jobs=2, progress=False)
    for table in TABLES:
        assert (tmp_path / table).read_text() == (CHECKED_IN / table).read_text(), table
    for figure in ("speedup_attention", "energy_attention", "utilization", "breakdown", "pareto", "roofline"):
        assert f"{figure}.pdf" in result["files"] and f"{figure}.png" in result["files"]
        assert (CHECKED_IN / f"{figure}.pdf").exists()
    # every checked-in file, figures and sweep results included, is byte for byte what a rerun writes (the
    # README names the output folder, and manifests, which record when and where, are not checked in)
    checked_in = [p.relative_to(CHECKED_IN) for p in CHECKED_IN.rglob("*")
                  if p.is_file() and p.name not in ("README.md", "manifest.json")]
    assert len(checked_in) > 20
    differ = [str(p) for p in checked_in if (tmp_path / p).read_bytes() != (CHECKED_IN / p).read_bytes()]
    assert not differ, differ
