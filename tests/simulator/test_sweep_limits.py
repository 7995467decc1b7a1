"""A sweep's size is checked before any point is built (issue 17): 10 axes of 10 values is 10**10 points, an
error naming the count, not a run with a 288-hour ETA."""

from __future__ import annotations

import time

import pytest

from einsum_cascade.errors import SpecError
from simulator.studies.sweeps.spec import parse_sweep

HEADER = "version: 1\nname: big\nbase: {design: fusemax, workload: bert, scope: attention}\n"
TEN = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"


def test_a_huge_product_is_refused_with_its_count_at_once():
    text = HEADER + "axes: {seq_len: [1K, 2K], batch: " + TEN + ", arch.pe_dim: " + TEN + ", arch.lanes: " + TEN + \
        ", arch.clock_hz: " + TEN + ", arch.global_buffer_bytes: " + TEN + "}\n"
    start = time.perf_counter()
    with pytest.raises(SpecError, match="expand to 200,000 points, more than max_points = 100,000"):
        parse_sweep(text)
    assert time.perf_counter() - start < 1.0


def test_zipped_axes_count_once_and_max_points_raises_the_limit():
    # 10 x 10 zipped = 10 points (not 100), x 3 seq_lens = 30
    text = HEADER + "axes: {seq_len: [1K, 2K, 4K], batch: " + TEN + ", arch.pe_dim: " + TEN + "}\n" \
        "zip: [[batch, arch.pe_dim]]\n"
    assert len(parse_sweep(text + "max_points: 30\n").points) == 30
    with pytest.raises(SpecError, match="expand to 30 points, more than max_points = 29"):
        parse_sweep(text + "max_points: 29\n")
