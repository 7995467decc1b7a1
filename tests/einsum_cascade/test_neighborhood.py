"""Neighborhood attention on 2D and 3D grids (the library's `fusemax-neighborhood-2d` and `-3d`): the mask keeps,
for a query, the 2R+1 positions of its dilation group nearest to it along each axis, shifted inward at the
borders (Hassani et al., CVPR 2023, Sec. 3.1; DiNAT, 2022, Sec. 3). Key sets are written out by hand on a 6 x 6
image; the cascade is run at shapes where windows are smaller than the grid (the check's own small shapes make
every window cover the grid) and compared with the reference, which builds each window query by query."""

from __future__ import annotations

import numpy as np
import pytest

from einsum_cascade.check import random_inputs
from einsum_cascade.executor import run_cascade
from einsum_cascade.library import library_cascade
from einsum_cascade.references import REFERENCES


def _kept(name: str, sizes: dict[str, int]) -> np.ndarray:
    cascade = library_cascade(name)
    mask = cascade.masks[0]
    p, m = np.meshgrid(np.arange(sizes["P"]), np.arange(sizes["M"]), indexing="ij")
    return np.broadcast_to(mask.evaluate({**sizes, "m": m, "p": p}), p.shape)


def _tokens(rows_cols, width: int = 6) -> set[int]:
    return {r * width + c for r, c in rows_cols}


def _square(rows, cols) -> set[int]:
    return _tokens([(r, c) for r in rows for c in cols])


IMAGE = {"M": 36, "P": 36, "GW": 6, "R": 1}


@pytest.mark.parametrize(("dilation", "query", "expected"), [
    (1, (0, 0), _square(range(0, 3), range(0, 3))),  # a corner: the window shifted inward on both axes
    (1, (2, 3), _square(range(1, 4), range(2, 5))),  # inside: centred
    (1, (5, 5), _square(range(3, 6), range(3, 6))),  # the opposite corner
    (1, (0, 4), _square(range(0, 3), range(3, 6))),  # top edge, near the right one
    (2, (0, 0), _square((0, 2, 4), (0, 2, 4))),  # dilation 2: its group is the even rows and columns
    (2, (3, 3), _square((1, 3, 5), (1, 3, 5))),  # the odd group
    (2, (4, 1), _square((0, 2, 4), (1, 3, 5))),
])
def test_2d_windows_by_hand(dilation, query, expected):
    kept = _kept("fusemax-neighborhood-2d", {**IMAGE, "D": dilation})
    row = kept[query[0] * 6 + query[1]]
    assert set(np.flatnonzero(row).tolist()) == expected


def test_3d_window_by_hand():
    # 4 frames of 4 x 4, R = 1: the token at frame 0, row 3, column 1 sees frames 0-2, rows 1-3, columns 0-2
    sizes = {"M": 64, "P": 64, "GH": 4, "GW": 4, "R": 1, "D": 1}
    kept = _kept("fusemax-neighborhood-3d", sizes)
    expected = {t * 16 + r * 4 + c for t in range(0, 3) for r in range(1, 4) for c in range(0, 3)}
    assert set(np.flatnonzero(kept[0 * 16 + 3 * 4 + 1]).tolist()) == expected


@pytest.mark.parametrize(("name", "sizes"), [
    ("fusemax-neighborhood-2d", {"M": 36, "P": 36, "GW": 6, "R": 1, "D": 1, "M0": 4}),
    ("fusemax-neighborhood-2d", {"M": 40, "P": 40, "GW": 6, "R": 1, "D": 2, "M0": 8}),  # a short last row
    ("fusemax-neighborhood-3d", {"M": 64, "P": 64, "GH": 4, "GW": 4, "R": 1, "D": 1, "M0": 16}),
])
def test_the_cascade_computes_the_reference(name, sizes):
    cascade = library_cascade(name)
    full = cascade.sizes({**sizes, "E": 3, "F": 2})
    inputs = random_inputs(cascade, full, np.random.default_rng(3))
    got = run_cascade(cascade, inputs, full).tensors["AV"]
    want = REFERENCES[cascade.reference](inputs, full)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("name", "sizes", "keys"), [
    ("fusemax-neighborhood-2d", {"M": 1024, "P": 1024, "GW": 32, "R": 3, "D": 1}, 49),
    ("fusemax-neighborhood-2d", {"M": 1024, "P": 1024, "GW": 32, "R": 3, "D": 2}, 49),
    ("fusemax-neighborhood-3d", {"M": 1000, "P": 1000, "GH": 10, "GW": 10, "R": 1, "D": 1}, 27),
])
def test_every_query_sees_the_same_number_of_keys_as_the_declared_density_says(name, sizes, keys):
    kept = _kept(name, sizes)
    assert (kept.sum(axis=1) == keys).all()
    from einsum_cascade.analysis.symbols import mask_density
    cascade = library_cascade(name)
    assert mask_density(cascade.masks[0], cascade, sizes) == pytest.approx(keys / sizes["M"])


@pytest.mark.parametrize(("name", "sizes", "keys_per_query"), [
    ("fusemax-neighborhood-2d", {"M": 256, "P": 256, "GW": 64, "R": 3, "D": 1}, 4 * 7),  # 4 rows of 64: 4 x 7
    ("fusemax-neighborhood-2d", {"M": 512, "P": 512, "GW": 32, "R": 3, "D": 4}, 4 * 7),  # 16 rows / 4: groups of 4
    ("fusemax-neighborhood-3d", {"M": 512, "P": 512, "GH": 8, "GW": 8, "R": 2, "D": 1}, 5 * 5 * 5),  # 8 frames
    ("fusemax-neighborhood-3d", {"M": 128, "P": 128, "GH": 8, "GW": 8, "R": 1, "D": 1}, 2 * 3 * 3),  # 2 frames
])
def test_a_window_wider_than_a_small_grid_sees_the_whole_axis(name, sizes, keys_per_query):
    kept = _kept(name, sizes)
    assert (kept.sum(axis=1) == keys_per_query).all()
    from einsum_cascade.analysis.symbols import mask_density
    cascade = library_cascade(name)
    assert mask_density(cascade.masks[0], cascade, sizes) == pytest.approx(keys_per_query / sizes["M"])
