"""Which register-homed results take register entries (`simulator.spatial.lower._storage`).

A register result whose readers are all element-wise over its own parts, in the producer's pipeline stage,
flows through a pipeline latch and takes no entry (FuseMax's SLNV and SPNV, REFERENCE.md §1); one read by a
reduction, or by a later stage, must be held. A result that a later element-wise Einsum overwrites in place
lends its entries to that Einsum, so it must keep them even if its only reader is element-wise.
"""

from __future__ import annotations

from cascade_texts import attention_text

from arch_models import load_arch
from einsum_cascade.parse import parse_cascade
from mappers.load import parse_mapping
from simulator.spatial.lower import lower_group

CASCADE = attention_text("chain", ["X[m,p] = Q[e,p] * K[e,m]", "Y[m,p] = exp(X[m,p])", "AV[f,p] = Y[m,p] * V[f,m]"])

MAPPING = """
version: 1
name: chain
cascade: chain
groups:
  - name: all
    splits: {{p: [p1, p0], m: [m1, m0]}}
    sizes: {{p0: 4, m0: 4}}
    dram_loops: [b, h, p1, m1]
    spatial: {{2d: {{rows: m0, cols: p0}}}}
    arrays: {{default: 2d}}
    stages: {stages}
    homes: {homes}
"""

SHAPES = {"B": 1, "H": 1, "M": 16, "P": 16, "E": 4, "F": 4}


def storage(homes: str, stages: str = "{}") -> dict[str, bool]:
    arch = load_arch("fusemax").with_overrides(pe_dim=4, global_buffer_bytes=1 << 20)
    mapping = parse_mapping(MAPPING.format(homes=homes, stages=stages), "<chain>")
    lowered = lower_group(parse_cascade(CASCADE, "<chain>"), arch, mapping, 0, SHAPES)
    return dict(zip(lowered.tensors, map(bool, lowered.tensor_storage), strict=True))


def test_a_register_result_read_element_wise_in_its_stage_is_streamed():
    # Y lives in the buffer, so it is not an in-place update of X; X's only reader is element-wise
    held = storage("{X: reg, Y: buffer, AV: dram}")
    assert held["X"] is False and held["Y"] is True


def test_a_register_result_read_in_a_later_stage_is_held():
    assert storage("{X: reg, Y: buffer, AV: dram}", "{Y: 1, AV: 1}")["X"] is True


def test_a_register_result_read_by_a_reduction_is_held():
    # Y's reader AV reduces over m: Y must be held whole for it
    assert storage("{X: buffer, Y: reg, AV: dram}")["Y"] is True


def test_a_result_updated_in_place_keeps_the_entries_its_successor_uses():
    # Y = exp(X) overwrites X in place (X's last reader, same parts, same home): Y has no storage of its own,
    # so X's entries are Y's, and X may not be streamed even though its only reader is element-wise
    held = storage("{X: reg, Y: reg, AV: dram}")
    assert held["Y"] is False and held["X"] is True
