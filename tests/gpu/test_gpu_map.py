"""`cascade map` on a GPU: the kernel's tile space, L2 and shared-memory traffic of a tile, the searched
tiling's report, its saved mapping file, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arch_models import load_gpu
from einsum_cascade.errors import SpecError
from mappers.gpu_kernels import TileChoice, load_gpu_mapping, parse_gpu_mapping
from simulator.cli import map as map_command
from simulator.gpu.attention import AttentionProblem, fused_phases, fused_tile_work
from simulator.gpu.model import time_phase
from simulator.studies.gpu_search import GpuTilingCost, best_tiling, tiling_report, tiling_space

H100 = load_gpu("h100-sxm5-80gb")
A100 = load_gpu("a100-sxm4-80gb")
PROBLEM = AttentionProblem(batch=2, heads=32, kv_heads=8, seqlen_q=4096, seqlen_kv=4096, head_dim=128,
                           head_dim_v=128)


def test_wgmma_reads_k_and_v_from_shared_memory_once_per_64_rows():
    # A 128 x 64 tile of the Triton mapping at d = 64 with one warpgroup (4 warps): K and V arrive once
    # (64 keys x 128 values x 2 B = 16 KiB), the two m64 instructions each read them (2 x 16 KiB), and Q is read
    # once (128 x 64 x 2 B = 16 KiB). With two warpgroups (8 warps, the shipped d = 64 tile) each reads them once
    # for its 64 rows: the same two reads.
    problem = AttentionProblem(1, 1, 1, 512, 512, 64, 64)
    for warps in (4, 8):
        work = fused_tile_work(load_gpu_mapping("triton-fa2"), "wgmma", problem, 128, 64, warps, 3)
        assert float(work["shared_bytes"]) == 16384 + 2 * 16384 + 16384
        assert float(work["l2_bytes"]) == 16384  # the K/V tile every block fetches through L2


def test_l2_bandwidth_binds_a_query_tile_of_16_rows():
    # FA2 with Br = 16, Bc = 128, one warp on an A100, d = 128: every tile pulls 128 x 256 x 2 B = 64 KiB of K/V
    # from L2 for 16 x 128 x 256 FMAs. Global loads reach the memory family's fraction (0.5 here) of the
    # whitepaper's 5120 B/clock; with all 108 SMs busy an SM's share is 2560 / 108 = 23.7 B/clock, so 2764.8
    # cycles per tile; the tensor pipe needs 524288 / (1024 x 0.884) = 579 cycles.
    mapping = load_gpu_mapping("fa2")
    phases, _ = fused_phases(mapping, A100, PROBLEM, "mma", tile=TileChoice(999, 16, 128, 1, 1))
    result = time_phase(phases[0], A100, {"mma": 0.884, "memory": 0.5})
    assert result.demands["l2"] == pytest.approx(65536 / (5120 * 0.5 / 108))
    assert result.demands["tensor"] < 0.5 * result.demands["l2"]
    assert result.tile_cycles >= result.demands["l2"]


def test_search_walks_only_the_kernels_tile_space():
    mapping = load_gpu_mapping("triton-fa2")  # the tutorial's configurations: 2 x 2 x 2 x 3
    space = tiling_space(H100, mapping, PROBLEM)
    assert space.size == 24
    values = space.values(np.concatenate(list(space.enumerate(100))))
    assert set(values["br"]) == {64, 128} and set(values["bc"]) == {32, 64} and set(values["stages"]) == {2, 3, 6}
    assert set(values["warps"]) == {4, 8}


def test_searched_report_equals_the_batch_cost_and_beats_or_ties_the_shipped_tile():
    for name in ("fa2", "fa3", "flash-decoding"):
        mapping = load_gpu_mapping(name)
        problem = PROBLEM if name != "flash-decoding" else AttentionProblem(1, 32, 8, 1, 65536, 128, 128,
                                                                            passes="decode")
        found = best_tiling(H100, mapping, problem)
        report = tiling_report(H100, mapping, problem, found["tile"])
        assert report.time_s == pytest.approx(found["latency_s"], rel=1e-9)
        space = tiling_space(H100, mapping, problem)
        shipped = mapping.tile_for(problem.head_dim, H100, problem.causal)
        if all(getattr(shipped, g) in space.choices[g] for g in ("br", "bc", "warps", "stages")):
            shipped_time = tiling_report(H100, mapping, problem, {"br": shipped.br, "bc": shipped.bc,
                                                                  "warps": shipped.warps, "stages": shipped.stages,
                                                                  "splits": found["tile"]["splits"]}).time_s
            assert found["latency_s"] <= shipped_time * (1 + 1e-12)
        cost = GpuTilingCost(space, mapping, problem)
        assert np.nanmin(cost(np.concatenate(list(space.enumerate(10_000))))[0]) == found["latency_s"]


def test_tile_space_must_be_lists_of_positive_integers():
    text = Path(load_gpu_mapping("fa2").source).read_text()
    with pytest.raises(SpecError, match="tile_space.*br = 64 must be a non-empty list"):
        parse_gpu_mapping(text.replace("  br: [64, 128]", "  br: 64"), "fa2-bad.yaml")
    with pytest.raises(SpecError, match="unknown key 'rows'"):
        parse_gpu_mapping(text.replace("  br: [64, 128]", "  rows: [64]"), "fa2-bad.yaml")


def test_map_on_a_gpu_json_and_saved_mapping_round_trip(run_command, tmp_path):
    saved = tmp_path / "fd.yaml"
    status, out, _ = run_command(map_command, "map", "--arch", "a100", "--kernel", "flash-decoding", "--workload",
                                 "llama3-8b", "--seq", "64K", "--save", str(saved), "--json")
    assert status == 0
    result = json.loads(out)
    assert {"best", "shipped", "evaluated", "legal", "space_size", "rejections", "mapping_yaml"} <= set(result)
    assert result["best"]["tile"]["splits"] > 1  # one query token: the keys are split across the SMs
    from simulator.studies.point import run_point
    row = run_point("a100", str(saved), "llama3-8b", "64K").to_dict()
    assert row["latency_s"] == pytest.approx(result["best"]["latency_s"], rel=1e-9)


@pytest.mark.parametrize(("argv", "message"), [
    (("--arch", "h100", "--workload", "llama3-8b", "--seq", "8K"), "give --mappings"),
    (("--arch", "h100", "--kernel", "pytorch-unfused", "--workload", "llama3-8b", "--seq", "8K"), "only fused"),
    (("--arch", "h100", "--kernel", "fa2"), "needs --workload and --seq"),
    (("--arch", "h100", "--kernel", ",", "--workload", "llama3-8b", "--seq", "8K"), "names nothing"),
    (("--arch", "h100", "--kernel", "fa9", "--workload", "llama3-8b", "--seq", "8K"), "--mappings: no GPU mapping"),
    (("--arch", "h100", "--kernel", "flash-decoding", "--cascade", "flashattention-2", "--workload", "llama3-8b",
      "--seq", "8K"), "'flash-decoding' is split-kv: only fused mappings run another cascade"),
    (("--arch", "h100", "--kernel", "fa2,flash-decoding", "--workload", "llama3-8b", "--seq", "8K"),
     "do not compare side by side"),
    (("--arch", "h100", "--kernel", "fa2", "--shape", "M=1", "--workload", "llama3-8b", "--seq", "8K"), "not --shape"),
    (("--arch", "fusemax", "--cascade", "fusemax", "--kernel", "fa2", "--workload", "bert", "--seq", "1K"),
     "--mappings applies to GPU"),
    (("--arch", "nosuch", "--kernel", "fa2", "--workload", "bert", "--seq", "1K"), "no architecture named"),
    (("--arch", "h100", "--cascade", "gemm", "--workload", "llama3-8b", "--seq", "8K"),
     "rank m is both the key rank and a query rank"),
    (("--arch", "h100", "--cascade", "fusemax,sigmoid-bias", "--workload", "llama3-8b", "--seq", "8K"),
     "--cascade: a GPU kernel runs one cascade at a time"),
])
def test_map_gpu_errors_are_one_line(run_command, argv, message):
    status, _, err = run_command(map_command, "map", *argv)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1


def test_map_by_cascade_skips_kernels_the_gpu_cannot_run(run_command, tmp_path):
    # FA3, cuDNN-like and Triton need wgmma, which an A100 lacks: only FA2 is searched there
    status, out, _ = run_command(map_command, "map", "--arch", "a100", "--cascade", "flashattention-2",
                                 "--workload", "llama3-8b", "--seq", "4K", "--json")
    assert status == 0 and json.loads(out)["kernel"] == "fa2"


def test_map_save_to_an_unwritable_path_is_one_line(run_command, tmp_path):
    status, _, err = run_command(map_command, "map", "--arch", "h100", "--kernel", "fa2", "--workload", "llama3-8b",
                                 "--seq", "8K", "--save", str(tmp_path / "no" / "such" / "dir.yaml"), "--json")
    assert status == 2 and "--save: cannot write" in err and len(err.strip().splitlines()) == 1


def test_split_count_in_a_tile_needs_a_split_kv_mapping():
    text = Path(load_gpu_mapping("fa2").source).read_text()
    bad = text.replace("{head_dim_max: 64, br: 128, bc: 128, warps: 4, stages: 1}",
                       "{head_dim_max: 64, br: 128, bc: 128, warps: 4, stages: 1, splits: 4}")
    with pytest.raises(SpecError, match="splits .*split-kv mappings only"):
        parse_gpu_mapping(bad, "fa2-bad.yaml")


def test_a_searched_tile_within_the_tolerance_gives_way_to_the_shipped_one(monkeypatch):
    # the rule on both sides of whatever gap the model gives: with no tolerance the searched best is reported;
    # with a tolerance just above its gain over the shipped tile, the shipped tile is; just below, the best again
    import simulator.studies.gpu_search as gpu_search
    from simulator.studies.gpu_search import TIE_TOLERANCE, search_against_shipped

    fa2, problem = load_gpu_mapping("fa2"), AttentionProblem(1, 32, 8, 8192, 8192, 64, 64)
    monkeypatch.setattr(gpu_search, "TIE_TOLERANCE", 0.0)
    raw = search_against_shipped(H100, fa2, problem)
    gain = raw["shipped"]["latency_s"] / raw["latency_s"] - 1
    assert gain > 0 and not raw["best_is_shipped_tile"]  # FA2's 128 x 128 is not the model's best at 8K, d = 64
    monkeypatch.setattr(gpu_search, "TIE_TOLERANCE", gain * 1.01)
    tied = search_against_shipped(H100, fa2, problem)
    assert tied["best_is_shipped_tile"] and tied["latency_s"] == tied["shipped"]["latency_s"]
    monkeypatch.setattr(gpu_search, "TIE_TOLERANCE", gain * 0.99)
    assert search_against_shipped(H100, fa2, problem)["tile"] == raw["tile"]
    monkeypatch.undo()
    decode = search_against_shipped(A100, load_gpu_mapping("flash-decoding"),
                                     AttentionProblem(1, 32, 8, 1, 65536, 128, 128, passes="decode"))
    assert decode["latency_s"] < decode["shipped"]["latency_s"] / (1 + TIE_TOLERANCE)
    assert not decode["best_is_shipped_tile"] and decode["tile"]["splits"] != decode["shipped"]["tile"]["splits"]


def test_map_text_output_cautions_when_the_best_tile_was_never_measured(run_command):
    status, out, _ = run_command(map_command, "map", "--arch", "a100", "--kernel", "flash-decoding", "--workload",
                                 "llama3-8b", "--seq", "64K")
    assert status == 0 and "caution" in out and "key splits" in out.split("shipped")[1]
    status, out, _ = run_command(map_command, "map", "--arch", "h100", "--kernel", "fa2", "--workload",
                                 "llama3-8b", "--seq", "8K")
    assert status == 0 and "caution" not in out and "1.00x the best" in out


def test_scaled_grads_must_name_tensors():
    text = Path(load_gpu_mapping("pytorch-unfused").source).read_text()
    with pytest.raises(SpecError, match="scaled_grads must list tensors among q, k, v, o"):
        parse_gpu_mapping(text.replace("scaled_grads: [q, k]", "scaled_grads: [x]"), "bad.yaml")


def test_transposed_copies_must_be_layout_copies():
    text = Path(load_gpu_mapping("pytorch-unfused").source).read_text()
    with pytest.raises(SpecError, match="transposed_copies o not in layout_copies"):
        parse_gpu_mapping(text.replace("transposed_copies: [k]", "transposed_copies: [k, o]"), "bad.yaml")
    for bad in ("layout_copies: 3,", "transposed_copies: [[k]],"):  # malformed lists: errors, not a traceback
        broken = text.replace("layout_copies: [q, k, v]," if "layout" in bad else "transposed_copies: [k],", bad)
        with pytest.raises(SpecError, match="must list tensors among q, k, v, o"):
            parse_gpu_mapping(broken, "bad.yaml")
