"""Ranks of any length: tile sizes are powers of two and divisors, and a tile that does not divide its rank leaves a
short last tile, padded. The padded tile is computed whole (the array runs the full tile), DRAM moves only real
elements, and only real points count as utilization. Expected values are worked out by hand in the comments."""

import numpy as np
import pytest

from arch_models.load import load_arch
from einsum_cascade.library import resolve_cascade
from mappers.load import load_mapping
from mappers.search import SearchSettings
from mappers.space import SpatialMappingSpace, tile_sizes
from simulator.spatial.kernels.costs import _real_fraction
from simulator.spatial.mapper_cost import SpatialCost
from simulator.studies.mapping_choice import simulate_family
from simulator.studies.point import run_point
from simulator.studies.spatial_search import search_best

BERT_HEADS = 64 * 12  # BERT's batch x heads (workloads/models.yaml): the attention's independent copies


def test_tile_sizes_are_the_powers_of_two_and_the_divisors():
    # 1500 = 2^2 * 3 * 5^3: its divisors up to 256, with the powers of two up to 256
    assert tile_sizes(1500, 256) == [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 16, 20, 25, 30, 32, 50, 60, 64, 75, 100, 125,
                                     128, 150, 250, 256]
    assert tile_sizes(65536, 256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # a power of two: as before
    assert tile_sizes(37, 16) == [1, 2, 4, 8, 16]  # a prime: its only divisor up to 16 is 1
    assert tile_sizes(197, 197) == [1, 2, 4, 8, 16, 32, 64, 128, 197]


def test_the_buffer_loop_holds_no_more_query_tiles_than_there_are():
    shapes = {"B": 64, "H": 12, "HKV": 12, "M": 1500, "P": 1500, "E": 64, "F": 64, "G": 1}
    space = SpatialMappingSpace(resolve_cascade("fusemax"), load_arch("fusemax"), shapes)
    choices = space.choices
    # 1500 queries in tiles of 256: ceil(1500 / 256) = 6 tiles, so the buffer loop may hold 6 but not 8
    genomes = np.array([[0, choices["p0"].index(256), choices["p1"].index(p1), choices["m0"].index(256)]
                        for p1 in (1, 6, 8)])
    assert space.legal_sizes(genomes).tolist() == [True, True, False]


@pytest.fixture(scope="module")
def bert_points():
    return {seq: run_point("fusemax", "fusemax", "bert", seq).to_dict() for seq in (197, 256)}


def test_a_padded_tile_is_computed_whole(bert_points):
    # FuseMax's mapping tiles keys and queries by 256 (the array): 197 tokens run one tile, padded to 256, the same
    # tile 256 tokens run, so the arrays do the same work and spend the same compute and register energy
    short, full = bert_points[197], bert_points[256]
    for part in ("compute_2d", "registers_2d", "compute_1d", "registers_1d"):
        assert short["energy_breakdown"][part] == pytest.approx(full["energy_breakdown"][part], rel=1e-12)


def test_dram_moves_only_real_elements(bert_points):
    # FuseMax reads Q, K, V and writes the output once each (REFERENCE.md §1): 4 x copies x tokens x E (= F = 64)
    # fp16 words; the padding of the short tile is never in memory
    for seq in (197, 256):
        assert bert_points[seq]["dram_bytes"] == pytest.approx(4 * BERT_HEADS * seq * 64 * 2, rel=1e-12)


def test_padding_is_not_utilization(bert_points):
    # every Einsum on FuseMax's 2D array (QK, LM, SLN, SLD, SLNV) spans the keys and the queries: of the padded
    # 256 x 256 tile, 197 x 197 points are real
    short, full = bert_points[197], bert_points[256]
    used = short["util_2d"] * short["cycles"] / (full["util_2d"] * full["cycles"])
    assert used == pytest.approx((197 / 256) ** 2, rel=1e-12)


def test_the_mapper_tiles_a_prime_length_like_the_padded_one():
    # 37 tokens on a 16 x 16 array: tiles of 16 leave ceil(37 / 16) = 3 tiles a side, as 48 tokens have, so the best
    # latency is the same; with tiles that divide 37 only (size 1) it would take 37 x 37 tiles
    arch = load_arch("fusemax", {"pe_dim": 16})
    cascade = resolve_cascade("fusemax")
    best = {}
    for seq in (37, 48):
        shapes = {"B": 1, "H": 1, "HKV": 1, "M": seq, "P": seq, "E": 64, "F": 64, "G": 1}
        summary, mapping, _ = search_best(cascade, arch, shapes, "latency",
                                          SearchSettings(strategy="exhaustive", seconds=None), progress=False,
                                          use_cache=False)
        best[seq] = summary["best"]
        assert {"p0": 16, "m0": 16}.items() <= mapping.groups[0].sizes.items()
    assert best[37]["latency_s"] == pytest.approx(best[48]["latency_s"], rel=1e-12)
    assert best[37]["util_2d"] / best[48]["util_2d"] == pytest.approx((37 / 48) ** 2, rel=1e-12)


def test_max_fit_takes_the_largest_divisor_of_the_tiles_there_are():
    # FuseMax's mapping sizes P1 max_fit (REFERENCE.md §1): 1500 queries in tiles of 256 are ceil(1500 / 256) = 6
    # tiles, whose divisors are 1, 2, 3 and 6; 6 tiles of Q (6 x 256 x 64 fp16 words, 196 KB) and the running state
    # fit the 16 MB buffer, so the buffer holds all 6 and the DRAM loop over query blocks runs once
    report = simulate_family(resolve_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax"),
                             {"B": 64, "H": 12, "HKV": 12, "M": 1500, "P": 1500, "E": 64, "F": 64, "G": 1})
    assert (report.groups[0].extents["p1"], report.groups[0].extents["p2"]) == (6, 1)


def bert(tokens: int) -> dict:
    return {"B": 64, "H": 12, "HKV": 12, "M": tokens, "P": tokens, "E": 64, "F": 64, "G": 1}


def test_max_fit_pads_the_last_block_when_the_tile_count_is_prime():
    # 65539 queries are ceil(65539 / 256) = 257 tiles of 256, a prime: the buffer holds Q and the running RM, RD
    # and RNV of each query (64 + 1 + 1 + 64 fp16 words, 65 KiB per tile), so 257 tiles (17 MB) overflow the 16 MB
    # buffer and 129 (8.7 MB) fit: blocks of 129 tiles, ceil(257 / 129) = 2 of them, the last one short (divisors
    # alone would leave blocks of 1 tile, and K and V streamed 257 times)
    report = simulate_family(resolve_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax"), bert(65539))
    assert (report.groups[0].extents["p1"], report.groups[0].extents["p2"]) == (129, 2)


def test_the_mapper_offers_buffer_loops_with_a_short_last_block():
    # 65539 queries (a prime) in tiles of 256 are 257 tiles (a prime): blocks of 129 tiles run twice, the last one
    # short (ceil(257 / 2)); 129 = 3 x 43 is neither a power of two nor a divisor of 65539 or of the tile count of
    # any other tile size (ceil(65539 / 2^k) for k <= 8: 65539, 32770, 16385, 8193, 4097, 2049, 1025, 513, 257)
    space = SpatialMappingSpace(resolve_cascade("fusemax"), load_arch("fusemax"), bert(65539))
    assert 129 in space.choices["p1"]


def test_chunks_may_be_as_long_as_a_rank_that_is_not_a_power_of_two():
    cascade = resolve_cascade("lightning-attention")
    shapes = cascade.bind_shapes(bert(197), explicit=False)
    assert 197 in SpatialMappingSpace(cascade, load_arch("fusemax"), shapes).choices["m0"]


def test_a_masked_problem_at_a_padded_length_runs_as_the_problem_at_that_length():
    # a window of W = 128 keys each side (the cascade's default) keeps (2W + 1) L - W (W + 1) of L x L points; at
    # 769 tokens FuseMax's 256 x 256 tiles cover 1024, and the window over the padded positions is the window at
    # 1024: the same work (compute energy), no longer (latency), and useful work only the real kept points
    cascade, arch, mapping = resolve_cascade("fusemax-window"), load_arch("fusemax"), load_mapping("fusemax")
    short, full = (simulate_family(cascade, arch, mapping, bert(n)) for n in (769, 1024))
    assert short.energy_breakdown["compute_2d"] == pytest.approx(full.energy_breakdown["compute_2d"], rel=1e-12)
    assert short.latency_s <= full.latency_s

    def kept(length: int) -> int:
        return 257 * length - 128 * 129

    used = short.util_2d * short.cycles / (full.util_2d * full.cycles)
    assert used == pytest.approx(kept(769) / kept(1024), rel=1e-9)


def test_a_spilled_tensor_writes_only_its_real_elements_to_dram():
    # FLAT's block-serial dataflow on a 2 MB buffer spills a share of the scores QK [p, m]; at 4099 tokens the
    # tiles cover 4352 = 17 x 256 of each rank, the same tiles as at 4352, so the same share spills, and of it only
    # (4099 / 4352)^2 is real
    cascade, arch = resolve_cascade("softmax-3pass"), load_arch("flat", {"global_buffer_bytes": 2 * 2**20})
    variant = next(v for v in load_mapping("flat").family() if v.name == "flat-block-serial")
    short, full = (simulate_family(cascade, arch, variant, bert(n)).groups[0] for n in (4099, 4352))
    assert short.spilled_fraction == full.spilled_fraction > 0
    written = short.tensor_words["QK"]["dram_write"] / full.tensor_words["QK"]["dram_write"]
    assert written == pytest.approx((4099 / 4352) ** 2, rel=1e-12)


def test_ranks_cut_into_the_same_chunks_count_their_real_points_chunk_by_chunk():
    spans, shared = np.array([[True, True]]), np.array([0, 0])  # queries and keys in chunks (outer part 0)
    real = np.array([1.0, 1.0])  # not used for shared ranks
    # 769 tokens in 4 chunks of 256: 3 full chunks (256 x 256 pairs) and one of 1 x 1
    fraction = _real_fraction(spans, 0, real, shared, np.array([769.0, 769.0]), np.array([256.0, 256.0]),
                              np.array([4.0]))
    assert fraction == pytest.approx((3 * 256 * 256 + 1) / (4 * 256 * 256), rel=1e-12)
    # 1000 queries, 2000 keys, chunks of 256: 8 chunks; queries fill 3 and 232 of the 4th, and end there
    fraction = _real_fraction(spans, 0, real, shared, np.array([1000.0, 2000.0]), np.array([256.0, 256.0]),
                              np.array([8.0]))
    assert fraction == pytest.approx((3 * 256 * 256 + 232 * 256) / (8 * 256 * 256), rel=1e-12)
    # ranks of their own: the product of their real fractions
    fraction = _real_fraction(spans, 0, np.array([0.5, 0.75]), np.array([-1, -1]), np.array([1.0, 1.0]),
                              np.array([1.0, 1.0]), np.array([1.0]))
    assert fraction == 0.5 * 0.75


def test_a_row_its_tiles_cover_exactly_is_costed_at_the_real_lengths_whatever_row_came_first():
    # a search lowers each structure once, at the first row it meets (here a padded one: tiles of 256 cover 1024 of
    # 1000 tokens); a later row with tiles of 250 covers 1000 exactly, so its window densities are those at 1000,
    # the same as when that row comes first
    space = SpatialMappingSpace(resolve_cascade("fusemax-window"), load_arch("fusemax"), bert(1000))
    choices = space.choices

    def genome(tile: int) -> list[int]:
        return [0, choices["p0"].index(tile), choices["p1"].index(1), choices["m0"].index(tile)]

    exact = np.array([genome(250)])
    after_padded = SpatialCost(space).metrics(np.array([genome(256), genome(250)]))
    alone = SpatialCost(space).metrics(exact)
    assert np.isfinite(alone[0][0])
    assert (after_padded[0][1], after_padded[1][1]) == (alone[0][0], alone[1][0])


def test_end_to_end_points_say_which_layer_gemms_are_padded():
    # BERT at 197 tokens: each projection GEMM has 64 x 197 = 12,608 rows, in tiles of 256 ceil(12608 / 256) = 50
    # tiles, 12,800 rows covered
    note = run_point("fusemax", "fusemax", "bert", 197, end_to_end=True).to_dict()["note"]
    assert "layer q_proj: short last tiles padded: m 12,608 -> 12,800 (+1.5%)" in note
