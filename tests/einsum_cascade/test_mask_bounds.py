"""`Mask.box_bounds`: whether a mask holds on all or some points of a box of ranks, against evaluating every point."""

from __future__ import annotations

import numpy as np
import pytest

from einsum_cascade.masks import parse_mask

SYMBOLS = {"W": 17, "BS": 32}
EXACT = ["m <= p", "m < p", "|m - p| <= W", "m - p >= -W", "m > p + W", "m // BS == p // BS", "m != p"]
SOUND_ONLY = ["m // BS == p // BS or m // BS == 0", "not (m % 7 == 3)", "m - p >= -W and m <= p", "m * 2 <= p + W"]


def _boxes(count: int):
    rng = np.random.default_rng(11)
    for _ in range(count):
        p0, m0 = (int(x) for x in rng.integers(0, 200, 2))
        yield p0, p0 + int(rng.integers(0, 60)), m0, m0 + int(rng.integers(0, 60))


@pytest.mark.parametrize("text", EXACT + SOUND_ONLY)
def test_bounds_against_every_point(text):
    mask = parse_mask("m", text)
    for p0, p1, m0, m1 in _boxes(300):
        grid_p, grid_m = np.meshgrid(np.arange(p0, p1 + 1), np.arange(m0, m1 + 1), indexing="ij")
        exact = mask.evaluate({"p": grid_p, "m": grid_m, **SYMBOLS})
        always, sometimes = mask.box_bounds({"p": p0, "m": m0, **SYMBOLS}, {"p": p1, "m": m1, **SYMBOLS})
        assert (not always or exact.all()) and (sometimes or not exact.any())  # never wrongly full or empty
        if text in EXACT:
            assert (bool(always), bool(sometimes)) == (bool(exact.all()), bool(exact.any())), (p0, p1, m0, m1)


def test_bounds_broadcast_over_arrays_of_boxes():
    # causal tiles of 4 x 4 on 8 x 8: the diagonal tiles are cut, the one above it empty, the one below it full
    mask = parse_mask("causal", "m <= p")
    first = np.array([0, 4])
    always, sometimes = mask.box_bounds({"p": first[:, None], "m": first[None, :]},
                                        {"p": first[:, None] + 3, "m": first[None, :] + 3})
    assert always.tolist() == [[False, False], [True, False]] and sometimes.tolist() == [[True, False], [True, True]]
