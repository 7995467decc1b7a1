"""A mask that declares no density is priced at the fraction of points it keeps, counted exactly at each shape
(issue 16 item 2), and `map` says so; for the causal mask that count is (P+1)/(2P) at M = P (by hand: query p
sees keys 0..p), so the undeclared mask is priced exactly as the library's declared one. A mask with a declared
density gets no note."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from spec_errors import run_cli

from einsum_cascade.analysis.symbols import mask_density
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from einsum_cascade.masks import count_kept, parse_mask
from einsum_cascade.parse import parse_cascade


def _undeclared(tmp_path) -> Path:
    text = Path(library_cascade("fusemax-causal").source).read_text()
    path = tmp_path / "causal-no-density.yaml"
    path.write_text(text.replace(', density: "(P+1)/(2*P)"', ""))
    return path


def test_map_prices_a_mask_without_a_density_by_counting_and_says_so(tmp_path, capsys):
    argv = ["map", "--arch", "fusemax", "--workload", "bert", "--seq", "1K", "--budget", "300", "--no-cache",
            "--json", "--cascade"]
    status, out, err, _ = run_cli([*argv, str(_undeclared(tmp_path))], capsys)
    assert status == 0, err
    undeclared = json.loads(out)
    assert undeclared["note"].startswith("mask causal declares no density: priced at the fraction of points counted")
    status, out, err, _ = run_cli([*argv, "fusemax-causal"], capsys)
    declared = json.loads(out)
    assert status == 0 and "note" not in declared
    assert undeclared["best"]["latency_s"] == pytest.approx(declared["best"]["latency_s"], rel=1e-12)


def test_the_count_is_exact(tmp_path):
    cascade = parse_cascade(_undeclared(tmp_path).read_text(), source="causal-no-density.yaml")
    for n in (1, 7, 1000, 65536):
        assert mask_density(cascade.masks[0], cascade, {"M": n, "P": n}) == (n + 1) / (2 * n)
    # a 3-rank mask with % and //, against every point
    mask = parse_mask("x", "m % 3 == p % 5 or m // 4 == p and g <= m")
    g, p, m = np.meshgrid(np.arange(5), np.arange(23), np.arange(41), indexing="ij")
    assert count_kept(mask, {"m": 41, "p": 23, "g": 5}, {}) == int(mask.evaluate({"m": m, "p": p, "g": g}).sum())


def test_a_mask_that_keeps_nothing_is_an_error(tmp_path):
    text = _undeclared(tmp_path).read_text().replace('where: "m <= p"', 'where: "m > p + M"')
    cascade = parse_cascade(text, source="empty.yaml")
    with pytest.raises(SpecError, match=r"mask causal \(m > p \+ M\) keeps no point at M=1024, P=1024"):
        mask_density(cascade.masks[0], cascade, {"M": 1024, "P": 1024})


@pytest.mark.parametrize("name", ["fusemax-causal", "fusemax-window", "fusemax-sinks", "softmax-3pass-block-sparse",
                                  "fusemax-neighborhood-2d", "fusemax-neighborhood-3d"])
def test_the_count_agrees_with_each_library_masks_declared_density(name):
    # the declared densities were derived by hand (each file's header); the count knows nothing of them
    cascade = library_cascade(name)
    mask = cascade.masks[0]
    sizes = cascade.sizes({"M": 2048, "P": 2048, "E": 64, "F": 64})
    kept = count_kept(mask, {"m": 2048, "p": 2048}, sizes)
    assert kept / 2048**2 == pytest.approx(mask_density(mask, cascade, {"M": 2048, "P": 2048}), rel=1e-12)


@pytest.mark.parametrize("text", ["m + 1 > (m % (p - 1)) * 0", "m <= 0 * (m // (p - 1))", "m // (p - 3) <= 2"])
def test_bounds_that_multiply_zero_by_an_unbounded_range_still_count_exactly(text):
    # an interval of m % (p - 1) or m // (p - 1) is unbounded where p - 1 can be 0; times 0 it is not "empty"
    mask = parse_mask("x", text)
    p, m = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    with np.errstate(all="ignore"):
        expected = int(np.broadcast_to(mask.evaluate({"m": m, "p": p}), m.shape).sum())
        assert count_kept(mask, {"m": 64, "p": 64}, {}) == expected


def test_a_mask_the_bounds_cannot_decide_is_refused_quickly_and_one_without_ranks_is_all_or_nothing():
    import time

    mask = parse_mask("x", "(m * 7 + p * 3) % 11 == 0")  # undecided in every box: would be 4e9 points one by one
    start = time.perf_counter()
    with pytest.raises(ValueError, match="cannot be counted in bounded time"):
        count_kept(mask, {"m": 65536, "p": 65536}, {})
    assert time.perf_counter() - start < 10  # refused before the points are counted (about 1 s here)
    assert count_kept(parse_mask("x", "M >= 1"), {}, {"M": 4}) == 1
    assert count_kept(parse_mask("x", "M >= 5"), {}, {"M": 4}) == 0
