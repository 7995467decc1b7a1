"""SpargeAttn-style block skip (library cascade `sparge`, issue 16 item 6): one top-KB choice of key blocks per
block of P0 queries, from sum-pooled queries and keys. Checked by hand on a case where a query's own best block is
not its block's (against the reference where only some blocks are kept: test_selection.py), its analysis by hand,
and its mapping: the cascade's query blocks are the mapper's query tiles, and neither block size is resized."""

from __future__ import annotations

import numpy as np
import pytest

from arch_models import load_arch
from einsum_cascade.analysis import analyze_passes, live_footprint
from einsum_cascade.analysis.symbols import symbol
from einsum_cascade.executor import run_cascade
from einsum_cascade.library import library_cascade
from einsum_cascade.references import REFERENCES
from mappers.search import SearchSettings
from mappers.space import SpatialMappingSpace
from simulator.studies.spatial_search import search_mapping

SPARGE = library_cascade("sparge")


def test_a_block_of_queries_shares_one_choice_worked_by_hand():
    # 4 keys in 2 blocks of 2: K = 1, 1, -1, -1 pools to 2 and -2. One block of 2 queries, Q = 3, -1, pools to 2;
    # predicted scores 2 * 2 / 4 = 1 and -1: the block keeps key block 0 (KB = 1). Query 1 alone (q = -1) would
    # prefer key block 1, but it attends to keys 0 and 1 (equal scores): the mean of V = 10, 20 is 15, as query 0's.
    sizes = SPARGE.sizes({"M": 4, "P": 2, "E": 1, "F": 1, "M0": 2, "P0": 2, "KB": 1})
    inputs = {"Q": np.array([[3.0, -1.0]]), "K": np.array([[1.0, 1.0, -1.0, -1.0]]),
              "V": np.array([[10.0, 20.0, 30.0, 40.0]])}
    trace = run_cascade(SPARGE, inputs, sizes)
    np.testing.assert_allclose(trace.tensors["AV"], [[15.0, 15.0]], rtol=1e-12)
    np.testing.assert_allclose(REFERENCES["sparge"](inputs, sizes), [[15.0, 15.0]], rtol=1e-12)


def test_the_prediction_is_a_pass_and_a_query_keeps_its_blocks_scores():
    passes = analyze_passes(SPARGE)
    assert passes.passes == 2 and passes.pass_of["G"] == 1 and passes.pass_of["QK"] == 2
    footprint = live_footprint(SPARGE, passes)
    E, F, M, M0 = symbol("E"), symbol("F"), symbol("M"), symbol("M0")  # noqa: N806 - shape symbols
    # by hand, pass 2: its block's M1 = M / M0 predicted scores, the running max, sum (and their tile values LM,
    # SLD), the F running and tile numerators, and the query's E inputs; a query's block, p1, is the query itself
    assert (footprint.per_query - (E + 2 * F + M / M0 + 4)).simplify() == 0


def test_both_block_sizes_are_the_algorithms():
    assert SPARGE.fixed_tiles() == {"M0", "P0"}
    space = SpatialMappingSpace(SPARGE, load_arch("fusemax"), {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64,
                                                                  "F": 64})
    assert space.choices["p0"] == [128] and space.choices["m0"] == [64] and space.choices["p1"] == [1]
    assert space.query_parts == ("p1", None, "p0")  # the cascade's query blocks are the mapper's query tiles


def test_sparge_maps_with_the_cascade_blocks_as_tiles():
    arch = load_arch("fusemax")
    found = search_mapping(SPARGE, arch, {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64, "F": 64}, "latency",
                           SearchSettings(evaluations=200, seconds=None), progress=False, use_cache=False)
    assert np.isfinite(found["best"]["latency_s"])
    assert "sizes: {p0: 128, m0: 64}" in found["mapping_yaml"]


def test_map_takes_the_algorithms_block_sizes_beside_a_workload(capsys):
    # SpargeAttn's GPU blocks (128 x 64) use an eighth of a 256 x 256 array; blocks of 256 fill it. --shape beside
    # --workload gives them; a rank size the cascade fixes cannot be contradicted (decode's P = 1).
    import json

    from spec_errors import run_cli

    status, out, _, _ = run_cli(["map", "--arch", "fusemax", "--cascade", "sparge", "--workload", "bert", "--seq",
                                 "4K", "--shape", "P0=256,M0=256", "--budget", "3000", "--no-cache", "--json"], capsys)
    assert status == 0
    assert "sizes: {p0: 256, m0: 256}" in json.loads(out)["mapping_yaml"]
    status, _, err, _ = run_cli(["map", "--arch", "fusemax", "--cascade", "decode", "--workload", "bert", "--seq",
                                 "4K", "--shape", "P=4", "--budget", "100", "--no-cache"], capsys)
    assert status == 2 and "P = 4 contradicts cascade 'decode', which fixes P = 1" in err
    status, _, err, _ = run_cli(["map", "--arch", "fusemax", "--cascade", "decode", "--workload", "bert",
                                 "--budget", "100"], capsys)
    assert status == 2 and "give --workload and --seq together" in err


@pytest.mark.parametrize(("name", "shapes", "m0", "p0"), [
    ("moba", {"M": 256, "P": 256}, 256, None),  # fewer keys than one block of 512: the block is all of them
    ("sparge", {"M": 1000, "P": 1000}, 64, 128),  # short last blocks (1000 = 15 x 64 + 40 = 7 x 128 + 104)
    ("sparge", {"M": 1024, "P": 1}, 64, 1),  # decode: one query, one query block
])
def test_short_blocks_map_padded(name, shapes, m0, p0):
    cascade = library_cascade(name)
    sizes = {"B": 1, "H": 1, "E": 64, "F": 64, **shapes}
    space = SpatialMappingSpace(cascade, load_arch("fusemax"), sizes)
    assert space.choices["m0"] == [m0] and (p0 is None or space.choices["p0"] == [p0])
    found = search_mapping(cascade, load_arch("fusemax"), sizes, "latency",
                           SearchSettings(evaluations=300, seconds=None), progress=False, use_cache=False)
    assert np.isfinite(found["best"]["latency_s"])


def test_the_check_sizes_leave_blocks_out():
    from einsum_cascade.check_shapes import SHAPE_SETS, check_sizes

    for shape_set in SHAPE_SETS:
        sizes = check_sizes(SPARGE, shape_set)
        assert sizes["KB"] < sizes["M1"] or sizes["M1"] == 1  # the declared 16 would keep every block


def test_the_gpu_model_refuses_a_cascade_that_cuts_its_queries_into_blocks(capsys):
    from spec_errors import run_cli

    status, _, err, _ = run_cli(["map", "--arch", "h100", "--cascade", "sparge", "--workload", "bert", "--seq", "1K"],
                                capsys)
    assert status == 2 and "cascade sparge cuts its query rank into blocks (p -> p1, p0)" in err
