"""`cascade demo` (what `make demo` runs, the README's first command) end to end: the FuseMax vs FLAT comparison over
the paper's 4 models x 6 lengths, its table and its figure."""

from __future__ import annotations

import json
from pathlib import Path

from spec_errors import run_cli


def test_the_demo_compares_fusemax_with_flat_and_draws_the_figure(tmp_path, capsys):
    status, out, err, _ = run_cli(["demo", "-o", str(tmp_path / "demo"), "--json"], capsys)
    assert status == 0, err
    result = json.loads(out)
    assert len(result["points"]) == 3 * 4 * 6  # unfused, FLAT, FuseMax x BERT, TrXL, T5, XLM x 1K..1M
    # REFERENCE.md §1 "Published headline results": FuseMax is on average 6.7x faster than FLAT; the issue band
    assert 6.4 <= result["summary"]["fusemax"]["mean_speedup"] <= 7.0
    assert all(Path(figure).stat().st_size > 0 for figure in result["figures"])
    status, out, err, _ = run_cli(["demo", "-o", str(tmp_path / "text")], capsys)
    assert status == 0 and "arithmetic means over all points against flat" in out, err
