"""A mask's declared density (issue 17): unknown symbols refused when the file is read, a value outside (0, 1]
refused where it is priced, and `check` counts the points the mask keeps against the declared value."""

from __future__ import annotations

import pytest

from einsum_cascade.analysis.symbols import mask_density
from einsum_cascade.check import density_errors
from einsum_cascade.errors import SpecError
from einsum_cascade.library import LIBRARY_DIR, library_cascade
from einsum_cascade.parse import parse_cascade
from einsum_cascade.yaml_source import read_text

CAUSAL = read_text(LIBRARY_DIR / "softmax-3pass-causal.yaml")


def with_density(density: str):
    return parse_cascade(CAUSAL.replace('density: "(P+1)/(2*P)"', f'density: "{density}"'), "c.yaml")


def test_a_density_naming_an_unknown_symbol_is_refused_on_reading():
    with pytest.raises(SpecError, match="density '\\(Q\\+1\\)/\\(2\\*P\\)': unknown symbol Q"):
        with_density("(Q+1)/(2*P)")


@pytest.mark.parametrize("density, shown", [("2", "is 2 at"), ("1/(P-P)", "is nan at"), ("0", "is 0 at")])
def test_a_density_outside_zero_to_one_is_an_error_not_clipped(density, shown):
    cascade = with_density(density)
    with pytest.raises(SpecError, match=shown):
        mask_density(cascade.masks[0], cascade, {"M": 64, "P": 64})


def test_the_causal_density_matches_the_points_kept_on_square_shapes():
    # m <= p over 8 x 8 keeps 8 * 9 / 2 = 36 of 64 points = (P + 1) / (2P) = 9/16
    cascade = library_cascade("softmax-3pass-causal")
    assert density_errors(cascade, {"M": 8, "P": 8, "E": 2, "F": 2}) == ()


def test_a_non_square_shape_shows_where_the_closed_form_stops_holding():
    # M = 13 keys, P = 6 queries: m <= p keeps 1 + 2 + ... + 6 = 21 of 78 points = 0.269231; (P + 1) / (2P) = 7/12
    cascade = library_cascade("softmax-3pass-causal")
    assert density_errors(cascade, {"M": 13, "P": 6, "E": 2, "F": 2}) == ("causal: declared 0.583333, keeps 0.269231",)
