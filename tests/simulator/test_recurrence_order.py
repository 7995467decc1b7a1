"""A binding's stages must not issue a recurrence's reader before the result it reads (`recurrence_in_order`).

FuseMax's running sums: SPD (1D, stage 1) scales the running denominator RD of the previous key tile, and RD
is computed in stage 4 (the `every-deep` binding of the searched mapping below: tests/golden/map_spatial.json).
Tile t's SPD issues at step t + 1; the RD it reads belongs to the tile `stride` back and issues at step
t - stride + 4. So SPD waits for a result not yet issued unless stride >= 4 - 1 = 3 (SPNV reading RNV, stages
1 and 4, gives the same bound). With the key loop m1 outside the query loops p2 and p1, the recurrence's stride
is p2 * p1 tiles; with P = 256 * p1 queries (p2 = 1) it is p1: 1 and 2 cannot run, 4 can. Before this rule the
tile schedule read the unissued result as finished at cycle 0, and such tilings came out too fast.
"""

import dataclasses

import numpy as np
import pytest

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import parse_mapping
from simulator.spatial.batch import evaluate_group_batch, recurrence_in_order, recurrence_stride
from simulator.spatial.lower import MappingRejected, lower_group
from simulator.spatial.simulate import simulate

MAPPING = """
version: 1
name: deep
cascade: fusemax
groups:
- name: group0
  einsums: [QK, LM, RM, SLN, PRM, SPD, SLD, RD, SPNV, SLNV, RNV, AV]
  splits:
    p: [p2, p1, p0]
  sizes: {{p0: 256, p1: {p1}, m0: 256}}
  dram_loops: [b, h, m1, p2]
  buffer_loops: [p1]
  spatial:
    2d: {{rows: m0, cols: p0}}
    1d: {{lanes: p0}}
  arrays: {{QK: 2d, LM: 2d, RM: 1d, SLN: 2d, PRM: 1d, SPD: 1d, SLD: 2d, RD: 1d, SPNV: 1d, SLNV: 2d, RNV: 1d, AV: 1d}}
  stages: {{RM: 1, SLN: 3, PRM: 1, SPD: 1, SLD: 3, RD: 4, SPNV: 1, SLNV: 3, RNV: 4, AV: 4}}
  homes: {{QK: reg, LM: staging, RM: buffer, SLN: reg, PRM: reg, SPD: reg, SLD: staging, RD: buffer, SPNV: buffer,
    SLNV: buffer, RNV: buffer, AV: dram}}
  spill: [SPNV, SLNV]
"""


def shapes(p1: int) -> dict[str, int]:
    return {"B": 1, "H": 1, "M": 4096, "P": 256 * p1, "E": 64, "F": 64}


@pytest.mark.parametrize(("p1", "runs"), [(1, False), (2, False), (4, True), (8, True)])
def test_a_deep_binding_needs_three_tiles_between_steps_of_the_running_sums(p1, runs):
    cascade, arch, mapping = library_cascade("fusemax"), load_arch("fusemax"), parse_mapping(MAPPING.format(p1=p1))
    lowered = lower_group(cascade, arch, mapping, 0, shapes(p1))
    extents = lowered.extents[None, :]
    assert recurrence_stride(lowered, extents)[0] == p1
    batch = evaluate_group_batch(lowered, arch, extents)
    assert batch.in_order[0] == runs and batch.feasible[0] == runs
    assert np.isfinite(batch.cycles[0]) == runs
    if runs:
        assert simulate(cascade, arch, mapping, shapes(p1)).cycles > 0
    else:
        with pytest.raises(MappingRejected, match=r"SP[DN]V? in stage 1 .* RN?[DV], whose result of "
                                                  rf"{p1} tile\(s\) back .* in stage 4"):
            simulate(cascade, arch, mapping, shapes(p1))


def test_no_recurrence_is_always_in_order():
    cascade, arch = library_cascade("fusemax"), load_arch("fusemax")
    lowered = lower_group(cascade, arch, parse_mapping(MAPPING.format(p1=1)), 0, shapes(1))
    lowered = dataclasses.replace(lowered, recurrence=np.zeros_like(lowered.recurrence))
    assert recurrence_in_order(lowered, np.repeat(lowered.extents[None, :], 3, axis=0)).all()


def test_a_recurrence_whose_loop_runs_once_takes_no_step():
    # M = 256 keys in one tile of m0 = 256: m1 runs once, the running sums never read a previous key tile, and
    # the deep binding runs at any stride (here 1: one query tile)
    cascade, arch, mapping = library_cascade("fusemax"), load_arch("fusemax"), parse_mapping(MAPPING.format(p1=1))
    shapes_one_tile = {**shapes(1), "M": 256}
    lowered = lower_group(cascade, arch, mapping, 0, shapes_one_tile)
    assert lowered.extents[lowered.parts.index("m1")] == 1
    assert recurrence_stride(lowered, lowered.extents[None, :])[0] == 1
    assert simulate(cascade, arch, mapping, shapes_one_tile).cycles > 0


@pytest.mark.parametrize(("slots", "runs"), [(4, False), (5, True)])
def test_a_buffer_slot_per_stage_stage_zero_to_the_deepest(slots, runs):
    # stages 0 to 4 work on tiles t to t - 4: five tiles' buffers coexist. With four, the DRAM task, issued first
    # in its step, would reuse the slot of tile t - 4 while that tile's stage-4 tasks are yet to issue
    cascade, arch = library_cascade("fusemax"), load_arch("fusemax")
    text = MAPPING.format(p1=4) + f"  tiles_in_flight: {slots}\n"
    if runs:
        assert lower_group(cascade, arch, parse_mapping(text), 0, shapes(4)).tiles_in_flight == slots
    else:
        with pytest.raises(MappingRejected, match="at least 5 tiles"):
            lower_group(cascade, arch, parse_mapping(text), 0, shapes(4))


def test_a_selection_s_scores_are_staged_before_the_einsums_it_restricts():
    # MoBA's gate scores G choose the key blocks that QK ... RNV see: the mapper stages every restricted Einsum
    # at or after G, and a mapping that stages one before G is refused
    from mappers.space import SpatialMappingSpace
    from workloads.zoo import attention_shapes, load_model

    cascade, arch = library_cascade("moba"), load_arch("fusemax")
    space = SpatialMappingSpace(cascade, arch, attention_shapes(load_model("bert"), 1024))
    restricted = [e.name for e in cascade.einsums if cascade.selection_inputs(e) == ["G"]]
    assert {"QK", "AV"} & set(restricted) == {"QK"}
    deep = None
    for n, structure in enumerate(space.structures):
        mapping = space.decode(np.array([n, 0, 0, 0]))
        for group in mapping.groups:
            if "G" in group.einsums:
                stage = group.stages.get("G", 0)
                assert all(group.stages.get(e, 0) >= stage for e in restricted if e in group.einsums)
                if stage > 0 and structure.grouping == "fused":
                    deep = mapping
    assert deep is not None  # a binding that stages G after some Einsum exists, so the check above bites
    group = deep.groups[0]
    early = dataclasses.replace(group, stages={**group.stages, "QK": 0, "G": 1})
    with pytest.raises(MappingRejected, match="QK .* is restricted by mask .* whose scores G"):
        lower_group(cascade, arch, dataclasses.replace(deep, groups=(early,)), 0,
                    attention_shapes(load_model("bert"), 1024))
