"""A mapping's homes, spill, arrays and stages name tensors and Einsums of its cascade (issue 17): a name that
is not there is an error naming it, never ignored."""

from __future__ import annotations

import pytest

from arch_models import load_arch
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from mappers.load import PRESET_DIR, parse_mapping
from simulator.studies.mapping_choice import simulate_family

FUSEMAX = (PRESET_DIR / "fusemax.yaml").read_text()
SHAPES = {"B": 1, "H": 1, "M": 1024, "P": 1024, "E": 64, "F": 64}


@pytest.mark.parametrize("find, replace, words", [
    ("RM: buffer, RD: buffer", "RM: buffer, NOPE: buffer, RD: buffer", "homes names NOPE, which is not a tensor"),
    ("{RM: 1,", "{RMX: 1,", "stages names RMX, which is not an Einsum of this group"),
])
def test_a_name_the_cascade_lacks_is_an_error(find, replace, words):
    assert FUSEMAX.count(find) == 1
    mapping = parse_mapping(FUSEMAX.replace(find, replace), "m.yaml")
    with pytest.raises(SpecError, match=words):
        simulate_family(library_cascade("fusemax"), load_arch("fusemax"), mapping, SHAPES)
