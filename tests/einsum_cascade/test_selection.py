"""Selection masks (issue 16 item 6): a mask that keeps the KB largest scores along a rank, as MoBA's top-k gating
of key blocks (library cascade `moba`). The selection is checked by hand, the cascade against the reference at
shapes where only some blocks are kept, and its analysis (a pass of its own for the gate, the gate's scores
live into the attention pass, the compares of the choice, the density min(KB, M1)/M1) from first principles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spec_errors import rejected

from einsum_cascade.analysis import analyze_passes, live_footprint, operation_counts
from einsum_cascade.analysis.symbols import mask_density
from einsum_cascade.check import random_inputs
from einsum_cascade.errors import SpecError
from einsum_cascade.executor import run_cascade
from einsum_cascade.library import library_cascade
from einsum_cascade.masks import Selection, selected
from einsum_cascade.parse import parse_cascade
from einsum_cascade.references import REFERENCES

MOBA = library_cascade("moba")
TEXT = Path(MOBA.source).read_text()


def test_the_top_values_along_the_rank_ties_to_the_lower_index():
    choice = Selection("G", ("m1", "p"), "m1", "KB")
    scores = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 0.0], [2.0, 0.0, np.nan]])
    # column 0: 3 > 2 > 1 -> rows 1, 2; column 1: 5 = 5 -> rows 0, 1; column 2: 0 = 0 > NaN -> rows 0, 1
    assert selected(choice, scores, 2).tolist() == [[False, True, True], [True, True, True], [True, False, False]]
    assert selected(choice, scores, 5).all()  # more kept than there are: all


@pytest.mark.parametrize(("name", "keys", "queries", "blocks", "top"), [
    ("moba", 64, 16, {"M0": 8}, 3), ("moba", 60, 9, {"M0": 8}, 2), ("moba", 40, 40, {"M0": 5}, 1),
    ("sparge", 64, 16, {"M0": 8, "P0": 4}, 3), ("sparge", 60, 9, {"M0": 8, "P0": 4}, 2),
    ("sparge", 40, 40, {"M0": 5, "P0": 8}, 1)])
def test_a_selection_computes_the_reference_with_some_blocks_left_out(name, keys, queries, blocks, top):
    # moba: one choice per query; sparge: one per block of P0 queries (SpargeAttn-style)
    cascade = library_cascade(name)
    sizes = cascade.sizes({"M": keys, "P": queries, "E": 4, "F": 3, "KB": top, **blocks})
    inputs = random_inputs(cascade, sizes, np.random.default_rng(11))
    trace = run_cascade(cascade, inputs, sizes)
    np.testing.assert_allclose(trace.tensors["AV"], REFERENCES[name](inputs, sizes), rtol=1e-9, atol=1e-12)
    # QK ran on the kept blocks only: top blocks of M0 keys per query, the short last block shorter
    assert trace.present_points["QK"] <= queries * top * blocks["M0"] * sizes["E"]
    assert trace.present_points["QK"] < keys * queries * sizes["E"]


def test_the_gate_is_a_pass_of_its_own_and_its_scores_stay_live():
    passes = analyze_passes(MOBA)
    assert passes.passes == 2  # top-KB needs every block's score before the first kept block is attended
    assert passes.pass_of["G"] == 1 and passes.pass_of["QK"] == 2 and passes.steps[0].reduction == "G"
    footprint = live_footprint(MOBA, passes)
    assert str(footprint.tensors[2]["G"][0]) == "M1" and footprint.order == "O(M)"  # M / M0 scores per query


def test_the_mask_restricts_the_attention_not_the_gate():
    for name in ("KS", "GS", "G"):
        einsum = MOBA.einsum(name)
        assert not MOBA.restricts(MOBA.masks[0], name, set(einsum.iteration_ranks))
    for name in ("QK", "LM", "SLNV", "RNV"):
        assert MOBA.restricts(MOBA.masks[0], name, set(MOBA.einsum(name).iteration_ranks))


def test_the_choice_costs_compares_and_the_density_is_the_kept_fraction():
    counts = operation_counts(MOBA)
    # KB = 3: a binary search of a sorted list of 3 takes ceil(log2(4)) = 2 compares per score, M1 x P scores
    from einsum_cascade.analysis.symbols import symbol

    compares = counts.per_einsum["G"]["max"]
    assert compares.subs(symbol("KB"), 3) == 2 * symbol("M1") * symbol("P")
    assert compares.subs(symbol("KB"), 64) == 7 * symbol("M1") * symbol("P")  # ceil(log2(65))
    assert mask_density(MOBA.masks[0], MOBA, {"M": 4096, "P": 4096}) == 3 / 8  # 3 of 4096 / 512 blocks
    assert mask_density(MOBA.masks[0], MOBA, {"M": 1024, "P": 4096}) == 1.0  # 2 blocks: both kept


@pytest.mark.parametrize(("old", "new", "message"), [
    ('of: "G[m1,p]"', 'of: "GX[m1,p]"', "of = GX: no Einsum of the cascade computes GX"),
    ('of: "G[m1,p]"', 'of: "GS[m1,p]"', "of = GS: GS reduces e; a selection's scores must be an elementwise result"),
    ('of: "G[m1,p]"', 'of: "G[p,m1]"', "of = G[p,m1], but G is G[m1,p]"),
    ("over: m1", "over: e", "over = 'e' must be one of the ranks of G[m1,p]"),
    ("top: KB", "top: -2", "top = -2 must be a positive integer or a param"),
    ("over: m1}", "over: m1, keep: 3}", "unknown key 'keep'; a selection has top, of, over, density"),
    ("over: m1}", 'over: m1, density: "Foo(KB, M1)/M1"}', "density 'Foo(KB, M1)/M1': unknown symbol Foo"),
])
def test_a_bad_selection_is_one_line_naming_the_mask(old, new, message):
    errors = rejected(lambda: parse_cascade(TEXT.replace(old, new), "moba.yaml"))
    assert any("masks.gate" in e and message in e for e in errors), errors


def test_the_gpu_model_refuses_a_data_dependent_mask():
    from simulator.gpu.cascade_work import cascade_tile_work

    with pytest.raises(SpecError, match="mask gate .* chooses key tiles by data"):
        cascade_tile_work(MOBA, 64, 64)


MOBA_MAPPING = """version: 1
name: moba-fused
cascade: moba
groups:
- name: group0
  einsums: [KS, GS, G, QK, LM, RM, SLN, PRM, SPD, SLD, RD, SPNV, SLNV, RNV, AV]
  splits:
    p: [p2, p1, p0]
  sizes: {p0: 256, p1: 1, m0: 512}
  dram_loops: [b, h, p2]
  buffer_loops: [p1]
  spatial:
    2d: {rows: m0, cols: p0}
    1d: {lanes: p0}
  arrays: {KS: 2d, GS: 1d, G: 1d, QK: 2d, LM: 2d, RM: 1d, SLN: 2d, PRM: 1d, SPD: 1d, SLD: 2d, RD: 1d, SPNV: 1d,
    SLNV: 2d, RNV: 1d, AV: 1d}
"""


def test_the_spatial_model_charges_the_choice_on_the_scores_array():
    # G = GS / M0: one division per score; choosing the top 3 of a query's blocks: ceil(log2(3 + 1)) = 2 compares,
    # and with KB = 64 given as a shape, ceil(log2(65)) = 7
    from arch_models import load_arch
    from mappers.load import parse_mapping
    from simulator.spatial.lower import lower_group

    arch = load_arch("fusemax")
    shapes = {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64, "F": 64}
    mapping = parse_mapping(MOBA_MAPPING, "moba-fused.yaml")
    lowered = lower_group(MOBA, arch, mapping, 0, shapes)
    lanes = arch.array_1d
    g = [e.name for e in lowered.einsums].index("G")
    assert lowered.cycles_per_point[g] == lanes.cost("div").cycles + 2 * lanes.cost("max").cycles
    wider = lower_group(MOBA, arch, mapping, 0, {**shapes, "KB": 64})
    assert wider.cycles_per_point[g] == lanes.cost("div").cycles + 7 * lanes.cost("max").cycles
    qk = [e.name for e in lowered.einsums].index("QK")
    assert lowered.density[qk] == 3 / 8 and lowered.density[g] == 1.0  # the attention is masked, the gate is not


def test_the_block_a_selection_chooses_is_the_algorithms_not_the_mappers():
    # MoBA's top-KB choice is over blocks of M0 = 512 keys: a mapping with 256-key tiles would compute another
    # algorithm (3 of 16 blocks instead of 3 of 8), so it is refused, and the mapper searches only M0 = 512.
    # FuseMax's M0 only regroups its running sums: the mapper sizes it.
    from arch_models import load_arch
    from mappers.load import parse_mapping
    from mappers.space import SpatialMappingSpace
    from simulator.spatial.lower import MappingRejected, lower_group

    assert MOBA.fixed_tiles() == {"M0"} and library_cascade("nsa").fixed_tiles() == {"M0"}
    assert library_cascade("fusemax").fixed_tiles() == frozenset()
    arch = load_arch("fusemax")
    shapes = {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64, "F": 64}
    halved = parse_mapping(MOBA_MAPPING.replace("m0: 512", "m0: 256"), "moba-256.yaml")
    with pytest.raises(MappingRejected, match="sizes m0 = 256, but cascade moba's outputs depend on M0 = 512"):
        lower_group(MOBA, arch, halved, 0, shapes)
    assert SpatialMappingSpace(MOBA, arch, shapes).choices["m0"] == [512]
    # fewer keys than one block: the 512 block is all 100 keys, as the search's own choice of 100 is
    short = {**shapes, "M": 100, "P": 100}
    assert SpatialMappingSpace(MOBA, arch, short).choices["m0"] == [100]
    lowered = lower_group(MOBA, arch, parse_mapping(MOBA_MAPPING.replace("p0: 256", "p0: 4"), "m.yaml"), 0, short)
    extents = dict(zip(lowered.parts, lowered.extents, strict=True))
    assert (extents["m0"], extents["m1"]) == (100, 1)
    assert len(SpatialMappingSpace(library_cascade("fusemax"), arch, shapes).choices["m0"]) > 1


NSA = library_cascade("nsa")


def test_nsa_computes_the_reference_with_each_branch_restricted_by_its_own_mask():
    sizes = NSA.sizes({"M": 64, "P": 40, "E": 4, "F": 3, "M0": 8, "NB": 3, "W": 5, "GC": 0.5, "GSL": 0.3, "GW": 0.2})
    inputs = random_inputs(NSA, sizes, np.random.default_rng(5))
    trace = run_cascade(NSA, inputs, sizes)
    np.testing.assert_allclose(trace.tensors["AV"], REFERENCES["nsa"](inputs, sizes), rtol=1e-9, atol=1e-12)
    # by hand: the selected branch's products cover 3 blocks of 8 keys per query, the window's |m - p| <= 5
    window_pairs = sum(min(p + 5, 63) - max(p - 5, 0) + 1 for p in range(40))
    assert trace.present_points["SQK"] == 40 * 3 * 8 * 4 and trace.present_points["WQK"] == window_pairs * 4
    assert trace.present_points["CQ"] == 40 * 8 * 4  # the compressed branch is not masked


def test_a_mask_restricts_only_the_einsums_it_names():
    selection, window = NSA.masks
    for name, expected in (("SQK", (True, False)), ("WQK", (False, True)), ("CS", (False, False)),
                           ("CE", (False, False))):
        ranks = set(NSA.einsum(name).iteration_ranks)
        assert (NSA.restricts(selection, name, ranks), NSA.restricts(window, name, ranks)) == expected, name


@pytest.mark.parametrize(("old", "new", "message"), [
    ("einsums: [WQK,", "einsums: [WQX,", "masks.window: einsums: no Einsum of the cascade is named WQX"),
    ("einsums: [SQK, SLM, SRM, SLN, SPR, SLD, SRD, SLV, SRV]", "einsums: SQK",
     "masks.selected: einsums = 'SQK' must be a non-empty list of Einsum names"),
    ('density: "((2*W+1)*M', 'densty: "((2*W+1)*M', "masks.window: unknown key 'densty'; a mask has where, density"),
])
def test_a_bad_mask_scope_or_key_is_one_line(old, new, message):
    text = Path(NSA.source).read_text()
    assert old in text
    errors = rejected(lambda: parse_cascade(text.replace(old, new), "nsa.yaml"))
    assert any(message in e for e in errors), errors


def test_the_gpu_model_refuses_a_mask_of_some_einsums_only():
    from simulator.gpu.cascade_work import cascade_tile_work

    with pytest.raises(SpecError, match="mask selected restricts only some Einsums"):
        cascade_tile_work(NSA, 64, 64)


def test_a_group_that_loops_over_the_blocks_cannot_choose_them_inside_the_loop():
    # the choice of G over m1 needs every block's score: a group that walks m1 as a loop and attends inside it
    # would attend a block before the last score exists
    from arch_models import load_arch
    from mappers.load import parse_mapping
    from simulator.spatial.lower import MappingRejected, lower_group

    looping = MOBA_MAPPING.replace("dram_loops: [b, h, p2]", "dram_loops: [b, h, m1, p2]")
    with pytest.raises(MappingRejected, match="restricted by mask gate, whose choice needs every G over loop m1"):
        lower_group(MOBA, load_arch("fusemax"), parse_mapping(looping, "moba-looping.yaml"), 0,
                    {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64, "F": 64})


def test_two_selections_restricting_each_others_scores_are_refused_and_recurrent_scores_too():
    text = TEXT.replace("  G[m1,p] = GS[m1,p] / M0\n", "  G[m1,p] = GS[m1,p] / M0\n  G2[m1,p] = GS[m1,p] * 2\n")
    text = text.replace('masks: {gate: {top: KB, of: "G[m1,p]", over: m1}}',
                        'masks: {gate: {top: KB, of: "G[m1,p]", over: m1}, gate2: {top: 2, of: "G2[m1,p]", over: m1}}')
    with pytest.raises(SpecError, match="selection masks gate and gate2 each restrict Einsums the other's scores"):
        parse_cascade(text, "two.yaml")
    errors = rejected(lambda: parse_cascade(TEXT.replace('of: "G[m1,p]"', 'of: "RM[m1,p]"'), "moba.yaml"))
    assert any("of = RM: RM is a recurrence over m1" in e for e in errors), errors


def test_a_declared_selection_density_is_checked_and_bad_densities_and_tops_are_refused():
    from einsum_cascade.check import density_errors

    declared = parse_cascade(TEXT.replace('over: m1}}', 'over: m1, density: "1/100"}}'), "moba.yaml")
    sizes = declared.sizes({"M": 64, "P": 8, "E": 2, "F": 2, "M0": 8})
    assert density_errors(declared, sizes) == ("gate: declared 0.01, keeps 0.375",)  # 3 of 8 blocks
    assert density_errors(MOBA, sizes) == ()
    errors = rejected(lambda: parse_cascade(TEXT.replace("KB: 3}", "KB: 0}"), "moba.yaml"))
    assert any("masks.gate: top = KB = 0 must be a positive integer" in e for e in errors), errors
    causal = Path(library_cascade("fusemax-causal").source).read_text().replace('"(P+1)/(2*P)"', '"(P+1/(2*P)"')
    errors = rejected(lambda: parse_cascade(causal, "causal.yaml"))
    assert any("masks.causal: density '(P+1/(2*P)' is not an arithmetic expression" in e for e in errors), errors
