"""Scans (issue 16 item 5): a key-rank state read at the query's own position (`S[p+1,e,f]` with `aligned: {p: m}`),
which writes causal linear attention and RetNet retention in their recurrent forms (docs/examples/scans/). Checked
against a hand-worked case, the direct formulas and the library's parallel forms; the analysis by hand; the cost
models refuse them with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy
from spec_errors import rejected, run_cli

from einsum_cascade.analysis.footprint import live_footprint
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.analysis.symbols import symbol
from einsum_cascade.check import check_cascade
from einsum_cascade.errors import SpecError
from einsum_cascade.executor import run_cascade
from einsum_cascade.library import library_cascade
from einsum_cascade.parse import load_cascade, parse_cascade

SCANS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "scans"
LINEAR = SCANS / "linear-attention-recurrent.yaml"
RETENTION = SCANS / "retention-recurrent.yaml"

SCAN = """\
name: prefix-mean
version: 1
ranks: {m: M, p: P, f: F}
aligned: {p: m}
inputs: ["V[f,m]"]
outputs: ["AV[f,p]"]
initial: {S: 0, Z: 0}
einsums: |
  S[m+1,f] = S[m,f] + V[f,m]
  Z[m+1] = Z[m] + 1
  AV[f,p] = S[p+1,f] / Z[p+1]
"""


def test_a_prefix_mean_worked_by_hand():
    # query p reads the state after key p: the mean of V[0..p]. V = 1, 2, 3, 4 gives 1, 1.5, 2, 2.5.
    trace = run_cascade(parse_cascade(SCAN), {"V": np.array([[1.0, 2.0, 3.0, 4.0]])}, {"M": 4, "P": 4, "F": 1})
    assert trace.tensors["AV"].tolist() == [[1.0, 1.5, 2.0, 2.5]]


def test_fewer_queries_than_keys_read_the_first_positions():
    # P = 2 of M = 4: queries 0 and 1 read the state after keys 0 and 1.
    trace = run_cascade(parse_cascade(SCAN), {"V": np.array([[1.0, 2.0, 3.0, 4.0]])}, {"M": 4, "P": 2, "F": 1})
    assert trace.tensors["AV"].tolist() == [[1.0, 1.5]]


def test_more_queries_than_keys_is_an_error_naming_the_sizes():
    with pytest.raises(SpecError, match=r"P = 5 must not exceed M = 4"):
        run_cascade(parse_cascade(SCAN), {"V": np.ones((1, 4))}, {"M": 4, "P": 5, "F": 1})


@pytest.mark.parametrize("path", [LINEAR, RETENTION])
def test_the_recurrent_forms_match_their_direct_formulas(path):
    results = check_cascade(load_cascade(path))
    assert results and all(r.passed for r in results)


@pytest.mark.parametrize(("path", "parallel"), [(LINEAR, "linear-attention-causal"), (RETENTION, "retention")])
def test_the_recurrent_forms_match_the_library_parallel_forms(path, parallel):
    results = check_cascade(load_cascade(path), against=parallel)
    assert results and all(r.passed for r in results)


def test_linear_attention_recurrent_is_one_pass_with_state_independent_of_the_length():
    cascade = load_cascade(LINEAR)
    passes = analyze_passes(cascade)
    assert passes.passes == 1
    footprint = live_footprint(cascade, passes)
    E, F = symbol("E"), symbol("F")  # noqa: N806 - shape symbols
    # by hand: S is E x F, Z is E, and the query's feature map FQ is E
    assert sympy.simplify(footprint.per_query - (E * F + 2 * E)) == 0
    assert footprint.order == "O(1)"


def test_retention_recurrent_keeps_the_decayed_state_only():
    cascade = load_cascade(RETENTION)
    footprint = live_footprint(cascade, analyze_passes(cascade))
    E, F = symbol("E"), symbol("F")  # noqa: N806
    assert sympy.simplify(footprint.per_query - (E * F + E)) == 0  # S, and the query Q


@pytest.mark.parametrize(("fragment", "replacement", "message"), [
    ("aligned: {p: m}", "aligned: {p: x}", "aligned.p: unknown rank 'x'"),
    ("aligned: {p: m}", "aligned: {p: p}", "aligned.p: rank 'p' is aligned with itself"),
    ("aligned: {p: m}", "aligned: [p, m]", "aligned: must map a query rank"),
    ("aligned: {p: m}\n", "", "S[p+1,f] uses p (P) where S[m,f] has m (M); to read it at the position of p, declare "
                              "aligned: {p: m}"),
    ("S[p+1,f] / Z[p+1]", "S[p+2,f] / Z[p+1]", "a shifted index p+2 is only allowed as rank+1"),
    ("aligned: {p: m}", "aligned: {p: [m]}", "aligned.p: ['m'] is not a rank name"),
    ("aligned: {p: m}", "aligned: {p: m, f: m}", "aligned.f: rank 'f' is not a query rank (query ranks: p)"),
    ("aligned: {p: m}", "aligned: {m: p}", "aligned.m: rank 'm' is not a query rank"),
    ("S[m+1,f] = S[m,f] + V[f,m]", "S[m+1,f] = S[m,f] + V[f,m] * S[p,f]",
     "S[p,f]: an iterative Einsum reads only its previous iterate, not its state at the position of p"),
])
def test_bad_alignments_are_one_line_errors(fragment, replacement, message):
    text = SCAN.replace(fragment, replacement)
    assert any(message in line for line in rejected(lambda: parse_cascade(text, source="scan.yaml"))), \
        rejected(lambda: parse_cascade(text, source="scan.yaml"))


def test_a_partitioned_rank_cannot_be_aligned():
    text = SCAN.replace("aligned: {p: m}", "params: {M0: 2}\npartitions: ['m -> m1, m0']\naligned: {p: m}")
    assert any("rank 'm' is partitioned" in line for line in rejected(lambda: parse_cascade(text)))


@pytest.mark.parametrize(("arch", "model"), [("fusemax", "spatial cost model"), ("h100", "GPU model")])
def test_both_cost_models_refuse_a_scan_with_the_reason(arch, model, capsys):
    status, _, err, _ = run_cli(["map", "--arch", arch, "--cascade", str(LINEAR), "--workload", "bert", "--seq",
                                 "1K", "--budget", "2000", "--no-cache"], capsys)
    assert status == 2
    assert f"Einsum NUM reads S[p+1,e,f] at the position of a query (aligned {{p: m}}): the {model}" in err


def test_reading_a_rank_of_the_same_shape_is_not_a_scan():
    # a tensor read with another rank of its own shape (Q[d,p] for Q[e,p], d: E) is a rename, costed as before
    text = """\
name: renamed
version: 1
ranks: {m: M, p: P, e: E, d: E, f: F}
inputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]
outputs: ["AV[f,p]"]
einsums: |
  QK[m,p] = Q[d,p] * K[d,m]
  AV[f,p] = QK[m,p] * V[f,m]
"""
    cascade = parse_cascade(text)
    assert cascade.position_reads() == [] and cascade.scan_refused("GPU model") is None


def test_an_einsum_walking_the_keys_needs_a_whole_scan_read_at_query_positions():
    # S walks m while reading T at every p + 1: all of T, complete only after its own pass, so 2 passes (the same
    # as reading T's final iterate); NUM-style reads by an Einsum that does not walk the keys stay in the pass
    text = SCAN.replace('inputs: ["V[f,m]"]', 'inputs: ["V[f,m]", "W[f,p]"]').replace(
        "initial: {S: 0, Z: 0}", "initial: {S: 0, Z: 0, T: 0}").replace(
        "  S[m+1,f] = S[m,f] + V[f,m]\n",
        "  T[m+1,f] = T[m,f] + V[f,m]\n  S[m+1,f] = S[m,f] + T[p+1,f] * W[f,p] * V[f,m]\n")
    assert "T[p+1,f] * W[f,p]" in text
    passes = analyze_passes(parse_cascade(text))
    assert passes.passes == 2 and passes.pass_of["T"] == 1 and passes.pass_of["S"] == 2
    assert analyze_passes(parse_cascade(SCAN)).passes == 1


def test_analyze_at_more_queries_than_keys_is_an_error():
    from einsum_cascade.analysis.report import analysis_report

    with pytest.raises(SpecError, match=r"P = 8 must not exceed M = 4"):
        analysis_report(load_cascade(LINEAR), "M", {"M": 4, "P": 8, "E": 2, "F": 2, "B": 1, "H": 1})


LIGHTNING = Path(library_cascade("lightning-attention").source)


def test_lightning_chunked_form_matches_the_direct_formula_and_the_other_forms():
    cascade = load_cascade(LIGHTNING)
    for against in (None, "linear-attention-causal", str(LINEAR)):
        results = check_cascade(cascade, against=against)
        assert results and all(r.passed for r in results), against


def test_lightning_keys_and_queries_share_their_chunks():
    cascade = load_cascade(LIGHTNING)
    assert cascade.shared_outers == {"c"}
    # 7 keys in chunks of 3 are 3 chunks, 5 queries 2: the shared rank runs to 3, the queries' third is padding
    assert cascade.sizes({"M": 7, "P": 5, "E": 1, "F": 1, "M0": 3, "P0": 3})["C"] == 3
    # a chunk rank alone belongs to both parents: the state update DS (over c and m0) is not masked by m <= p,
    # the intra-chunk products (over c, m0 and p0) are
    mask = cascade.masks[0]
    assert not cascade.restricts(mask, "DS", set(cascade.einsum("DS").iteration_ranks))
    assert cascade.restricts(mask, "A", set(cascade.einsum("A").iteration_ranks))


def test_lightning_is_one_pass_with_state_independent_of_the_length():
    cascade = load_cascade(LIGHTNING)
    passes = analyze_passes(cascade)
    assert passes.passes == 1
    E, F = symbol("E"), symbol("F")  # noqa: N806
    # by hand: the query's feature map E; the chunk's running sums IN (F) and ID (1); the per-chunk update DS
    # (E x F) and DZ (E); the states S (E x F) and Z (E)
    assert sympy.simplify(live_footprint(cascade, passes).per_query - (2 * E * F + 3 * E + F + 1)) == 0


def test_the_gpu_model_refuses_shared_chunks_with_the_reason(capsys):
    status, _, err, _ = run_cli(["map", "--arch", "h100", "--cascade", "lightning-attention", "--workload", "bert",
                                 "--seq", "1K"], capsys)
    assert status == 2 and "cascade lightning-attention cuts its query rank into blocks (p -> c, p0)" in err


def test_lightning_maps_with_one_chunk_loop_and_linear_time():
    # one loop over the chunks (not a query loop and a key loop), the query tile equal to the key tile; the work per
    # query does not grow with the sequence, so 16x the tokens take 16x the time (FuseMax's quadratic form: 256x)
    from arch_models import load_arch
    from mappers.load import parse_mapping
    from mappers.search import SearchSettings
    from simulator.studies.spatial_search import search_mapping

    cascade, arch = library_cascade("lightning-attention"), load_arch("fusemax")
    found = {}
    for tokens in (4096, 65536):
        shapes = {"B": 64, "H": 12, "M": tokens, "P": tokens, "E": 64, "F": 64}
        found[tokens] = search_mapping(cascade, arch, shapes, "latency", SearchSettings(evaluations=2000, seconds=None),
                                       progress=False, use_cache=False)
    for group in parse_mapping(found[4096]["mapping_yaml"], "best.yaml").groups:
        assert list(group.dram_loops).count("c") == 1 and group.sizes["p0"] == group.sizes["m0"]
    ratio = found[65536]["best"]["latency_s"] / found[4096]["best"]["latency_s"]
    assert 15.5 < ratio < 16.5


@pytest.mark.parametrize(("partitions", "params", "message"), [
    ('["m -> c, m0", "p -> c, p0"]', "{M0: 4, P0: 2}", "rank 'c' is shared: at most two partitions share an outer "
                                                       "rank, with the same tile (M0 = 4, P0 = 2)"),
    ('["m -> c, m0", "m -> d, m1"]', "{M0: 2, M1: 2}", "rank 'm' is already cut (or is a part): a rank is cut once"),
    ('["m -> c, m0", "c -> d, d0"]', "{M0: 2, D0: 2}", "rank 'c' is already cut (or is a part)"),
    ('["m -> c, m0"]', "{M0: 2, C: 3}", "C is the number of tiles of c (m / M0), not a parameter"),
])
def test_bad_chunk_partitions_are_one_line_errors(partitions, params, message):
    text = f"""\
name: chunks
version: 1
ranks: {{m: M, p: P, e: E}}
params: {params}
partitions: {partitions}
inputs: ["Q[e,p]", "K[e,m]"]
outputs: ["QK[m,p]"]
einsums: |
  QK[m,p] = Q[e,p] * K[e,m]
"""
    assert any(message in line for line in rejected(lambda: parse_cascade(text, source="chunks.yaml")))


def test_shared_chunks_need_one_tile_at_run_time_too():
    with pytest.raises(SpecError, match="rank c is shared by partitions with different tiles"):
        load_cascade(LIGHTNING).sizes({"M": 64, "P": 64, "E": 2, "F": 2, "M0": 8, "P0": 4})


def test_lightning_pads_a_short_last_chunk_like_a_whole_one():
    # 1000 tokens are 4 chunks of 250, or of 256 with the last padded: the same loops and time as 1024 tokens; of
    # tied candidates an exhaustive search keeps the first it meets, and sizes are enumerated ascending (250 first)
    from arch_models import load_arch
    from mappers.search import SearchSettings
    from simulator.studies.spatial_search import search_mapping

    cascade, arch = library_cascade("lightning-attention"), load_arch("fusemax")
    best = {tokens: search_mapping(cascade, arch, {"B": 64, "H": 12, "M": tokens, "P": tokens, "E": 64, "F": 64},
                                   "latency", SearchSettings(strategy="exhaustive", seconds=None), progress=False,
                                   use_cache=False) for tokens in (1000, 1024)}
    assert "m0: 250" in best[1000]["mapping_yaml"]
    assert best[1000]["best"]["latency_s"] == pytest.approx(best[1024]["best"]["latency_s"], rel=1e-9)


def test_the_mapper_refuses_chunks_shared_by_two_key_ranks():
    from arch_models import load_arch
    from mappers.space import SpatialMappingSpace

    text = """\
name: keyside
version: 1
ranks: {m: M, n: N, p: P, e: E}
params: {M0: 2, N0: 2}
partitions: ["m -> c, m0", "n -> c, n0"]
inputs: ["Q[e,p]", "K[e,m]", "L[e,n]"]
outputs: ["OUT[p]"]
einsums: |
  A[c,m0,p] = Q[e,p] * K[e,c,m0]
  B[c,n0,p] = Q[e,p] * L[e,c,n0]
  W[c,m0,n0,p] = A[c,m0,p] * B[c,n0,p]
  OUT[p] = W[c,m0,n0,p]
"""
    with pytest.raises(SpecError, match="shares rank c between partitions other than its queries' and its keys'"):
        SpatialMappingSpace(parse_cascade(text), load_arch("fusemax"), {"M": 8, "N": 8, "P": 8, "E": 2})


def test_a_mapping_that_sizes_shared_chunks_twice_is_refused():
    from arch_models import load_arch
    from mappers.load import parse_mapping
    from mappers.search import SearchSettings
    from simulator.spatial.lower import MappingRejected, lower_group
    from simulator.studies.spatial_search import search_mapping

    cascade, arch = library_cascade("lightning-attention"), load_arch("fusemax")
    shapes = {"B": 1, "H": 1, "M": 4096, "P": 4096, "E": 64, "F": 64}
    found = search_mapping(cascade, arch, shapes, "latency", SearchSettings(evaluations=500, seconds=None),
                           progress=False, use_cache=False)
    text = found["mapping_yaml"].replace("p0: 256", "p0: 64")
    assert "p0: 64" in text
    with pytest.raises(MappingRejected, match="sizes m0 and p0 differently, but they cut ranks m and p into the same "
                                              "chunks c"):
        lower_group(cascade, arch, parse_mapping(text, "mis.yaml"), 0, shapes)


def test_a_mapping_of_a_scan_is_refused_by_the_lowering_too():
    # `cascade simulate --mapping FILE` lowers a given mapping without a search: the lowering refuses the scan itself
    from arch_models import load_arch
    from mappers.space import SpatialMappingSpace
    from simulator.spatial.lower import MappingRejected, lower_group

    cascade, arch = load_cascade(LINEAR), load_arch("fusemax")
    shapes = {"B": 1, "H": 1, "M": 1024, "P": 1024, "E": 64, "F": 64}
    mapping = SpatialMappingSpace(cascade, arch, shapes).decode(np.zeros(4, dtype=np.int64))
    with pytest.raises(MappingRejected, match="Einsum NUM reads S\\[p\\+1,e,f\\] at the position of a query"):
        lower_group(cascade, arch, mapping, 0, shapes)
