"""Architecture variants are built once per (preset, overrides) and reused (the lowering cache is keyed by the
arch object), without letting an equal-comparing value of another type skip the override checks."""

from __future__ import annotations

import pytest

from arch_models import load_arch
from einsum_cascade.errors import SpecError


def test_the_same_overrides_give_the_same_object_and_other_ones_another():
    first = load_arch("fusemax", {"pe_dim": 128, "global_buffer_bytes": 4194304})
    assert load_arch("fusemax", {"global_buffer_bytes": 4194304, "pe_dim": 128}) is first
    assert load_arch("fusemax", {"pe_dim": 64, "global_buffer_bytes": 4194304}) is not first


def test_a_value_equal_to_an_accepted_one_is_still_checked():
    load_arch("fusemax", {"pe_dim": 1})
    with pytest.raises(SpecError, match="pe_dim = True must be a positive integer"):
        load_arch("fusemax", {"pe_dim": True})  # True == 1, but a boolean is not an array size
