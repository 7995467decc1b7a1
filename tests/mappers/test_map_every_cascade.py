"""Every library cascade maps on every spatial preset (issue 16: operators the arrays lack are composed from
their primitives, docs/composed-operators.md), with BERT's attention shapes at 4K tokens (the GEMM at a
BERT projection's). A small search budget suffices: the test asks for a legal mapping, not the best."""

from __future__ import annotations

import math

import pytest

from arch_models import load_arch
from arch_models.load import arch_names
from einsum_cascade.library import library_cascade, library_names
from mappers.search import SearchSettings
from simulator.studies.spatial_search import search_mapping
from workloads.zoo import attention_shapes, load_model

SETTINGS = SearchSettings(evaluations=200, seconds=None, population=64, batch=512)  # a legal mapping, not the best


def _shapes(cascade):
    if cascade.name == "gemm":
        return {"M": 4096, "K": 768, "N": 768}
    return cascade.bind_shapes(attention_shapes(load_model("bert"), 4096), explicit=False)


@pytest.mark.parametrize("preset", arch_names())
def test_every_library_cascade_maps(preset):
    arch = load_arch(preset)
    unmapped = []
    for name in library_names():
        cascade = library_cascade(name)
        found = search_mapping(cascade, arch, _shapes(cascade), "latency", SETTINGS, progress=False, use_cache=False)
        if not math.isfinite(found["best"]["latency_s"]):
            unmapped.append(name)
    assert unmapped == []
