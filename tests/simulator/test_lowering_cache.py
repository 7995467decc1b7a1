"""The lowering is cached per (cascade, arch, group and its place among the groups) with only extents and
densities per call: a group lowered at one shape and then at another equals a fresh lowering at the second,
two mappings with the same group share it, and the shared arrays cannot be written by a caller."""

import dataclasses

import numpy as np
import pytest

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping
from simulator.spatial import lower
from workloads.zoo import attention_shapes, load_model


def _fields(group):
    return {f.name: getattr(group, f.name) for f in dataclasses.fields(group)}


@pytest.mark.parametrize("cascade, mapping", [("fusemax", "fusemax"), ("softmax-3pass", "flat"),
                                              ("fusemax-window", "fusemax")])
def test_a_cached_lowering_at_a_second_shape_equals_a_fresh_one(cascade, mapping):
    cascade, arch = library_cascade(cascade), load_arch("fusemax")
    mapping = load_mapping(mapping).family()[0]  # FLAT's is a family: its first variant
    first, second = attention_shapes(load_model("bert"), 1024), attention_shapes(load_model("xlm"), 65536)
    lower.lower_group(cascade, arch, mapping, 0, first)
    cached = lower.lower_group(cascade, arch, mapping, 0, second, {"p1": 2})
    lower._STRUCTURES.clear()
    fresh = lower.lower_group(cascade, arch, mapping, 0, second, {"p1": 2})
    assert cached.extents[cached.parts.index("m1")] == 65536 / 256
    for name, value in _fields(fresh).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(cached, name), value, err_msg=name)
        else:
            assert getattr(cached, name) == value, name


def test_the_shared_arrays_are_read_only():
    group = lower.lower_group(library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax"), 0,
                              attention_shapes(load_model("bert"), 1024))
    with pytest.raises(ValueError):
        group.cycles_per_point[0] = 0.0
    with pytest.raises(ValueError):
        group.extents[0] = 1.0


def test_two_mappings_with_the_same_group_share_its_lowering():
    # a mapper's structures share many groups: the cache is keyed by the group, its position and the Einsums of
    # every group (what the lowering reads), not by the mapping object
    cascade, arch, mapping = library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax")
    shapes = attention_shapes(load_model("bert"), 1024)
    first = lower.lower_group(cascade, arch, mapping, 0, shapes)
    copy = dataclasses.replace(mapping, name="a copy", description="another mapping object")
    assert copy is not mapping
    assert lower.lower_group(cascade, arch, copy, 0, shapes).deps is first.deps
    other = dataclasses.replace(mapping, groups=(dataclasses.replace(mapping.groups[0], tiles_in_flight=5),))
    assert lower.lower_group(cascade, arch, other, 0, shapes).tiles_in_flight == 5


def test_a_group_whose_later_groups_differ_is_lowered_again():
    # the lowering of a group reads which tensors later groups take from it (those go to DRAM), so the key has
    # every group's Einsums: the same first group, alone or followed by a group reading its results
    from mappers.space import SpatialMappingSpace

    cascade, arch = library_cascade("softmax-3pass"), load_arch("fusemax")
    shapes = attention_shapes(load_model("bert"), 1024)
    space = SpatialMappingSpace(cascade, arch, shapes)
    for structure in (n for n, s in enumerate(space.structures) if s.grouping == "split"):
        mapping = space.decode(np.array([structure, 0, 0, 0]))
        try:
            followed = lower.lower_group(cascade, arch, mapping, 0, shapes)
            break
        except lower.MappingRejected:  # a pass boundary inside the first group: not this structure
            continue
    assert len(mapping.groups) > 1 and followed is not None
    # the first group without homes for its results (a user's file need not give them): only the groups after
    # it say they go to DRAM
    outputs = {ref.name for ref in cascade.outputs}
    first = mapping.groups[0]
    first = dataclasses.replace(first, homes={t: h for t, h in first.homes.items() if h != "dram" or t in outputs})
    followed = dataclasses.replace(mapping, groups=(first, *mapping.groups[1:]))
    alone = dataclasses.replace(mapping, groups=(first,))

    def to_dram(m):
        lowered = lower.lower_group(cascade, arch, m, 0, shapes)
        return {t for t, d in zip(lowered.tensors, lowered.tensor_to_dram, strict=True) if d} - outputs

    assert to_dram(followed) and not to_dram(alone)  # intermediates a later group reads; none without one
