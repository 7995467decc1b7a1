"""`--set mapping.KEY=VALUE` (mappers/gpu_overrides.py, simulator/studies/arch_overrides.py), the overlap counts the
mapping flags give (simulator/gpu/attention.py, overlap_counts) and FlashAttention-3's pipelining ablation
(simulator/studies/gpu_validation/ablation.py). Expected values are derived by hand from the preset files and
the FA3 paper's structure, not copied from the program's output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from arch_models import load_gpu
from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import load_yaml, read_text
from mappers.gpu_kernels import GPU_PRESET_DIR, MAPPING_KEYS, SECTIONS, load_gpu_mapping
from mappers.gpu_overrides import apply_overrides
from simulator.cli.main import main
from simulator.gpu.attention import AttentionProblem, fused_tile_work, overlap_counts
from simulator.studies.arch_overrides import parse_mapping_value
from simulator.studies.gpu_validation.ablation import pipelining_ablation

# mappers/gpu_presets/fa3.yaml, read by hand: the five forward tiles' warps (producer warpgroup included) and
# tile_space.warps
FA3_TILE_WARPS = [16, 16, 12, 12, 12]
FA3_SPACE_WARPS = [8, 12, 16]


def _doc(name: str):
    path = GPU_PRESET_DIR / f"{name}.yaml"
    return load_yaml(read_text(path), str(path))


def _apply(name: str, overrides: dict):
    doc = _doc(name)
    return doc, apply_overrides(doc, overrides, MAPPING_KEYS, SECTIONS)


# --- apply_overrides ----------------------------------------------------------------------------------------

def test_unknown_key_is_refused_with_its_name():
    _, errors = _apply("fa3", {"warp_count": 3})
    assert len(errors) == 1
    assert "'warp_count'" in errors[0].message and errors[0].key == "--set mapping.warp_count"


@pytest.mark.parametrize("key", ["tiles", "grid"])
def test_a_list_key_is_refused(key):
    doc, errors = _apply("fa3", {key: 4})
    assert len(errors) == 1 and "list" in errors[0].message and key in errors[0].message
    assert isinstance(doc.data[key], list)  # left as the file has it


def test_a_key_of_a_section_is_replaced_but_not_the_section():
    doc, errors = _apply("flash-decoding", {"split_kv.max_splits": 7})
    assert errors == []
    assert doc.data["split_kv"] == {"max_splits": 7, "min_efficiency": 0.85}  # the other key as the file has it
    assert load_gpu_mapping("flash-decoding", {"split_kv.max_splits": 7}).max_splits == 7

    doc, errors = _apply("flash-decoding", {"split_kv": 7})
    assert len(errors) == 1 and "section" in errors[0].message and "split_kv.KEY" in errors[0].message
    assert doc.data["split_kv"]["max_splits"] == 128


def test_producer_off_removes_the_producer_warpgroup_from_every_tile():
    raw = _doc("fa3").data
    assert [t["warps"] for t in raw["tiles"]] == FA3_TILE_WARPS and raw["tile_space"]["warps"] == FA3_SPACE_WARPS

    doc, errors = _apply("fa3", {"producer_warpgroup": False, "softmax_overlap": "none"})
    assert errors == []
    assert [t["warps"] for t in doc.data["tiles"]] == [12, 12, 8, 8, 8]  # 4 warps (one warpgroup) fewer each
    assert doc.data["tile_space"]["warps"] == [4, 8, 12]
    mapping = load_gpu_mapping("fa3", {"producer_warpgroup": False, "softmax_overlap": "none"})
    assert [t.warps for t in mapping.tiles] == [12, 12, 8, 8, 8]
    assert [(t.br, t.bc) for t in mapping.tiles] == [(t["br"], t["bc"]) for t in raw["tiles"]]  # tiles unchanged
    assert mapping.tile_space["warps"] == (4, 8, 12)


def test_producer_set_to_what_the_file_says_changes_no_warps_and_on_adds_four():
    doc, _ = _apply("fa3", {"producer_warpgroup": True})
    assert [t["warps"] for t in doc.data["tiles"]] == FA3_TILE_WARPS
    doc, _ = _apply("fa2", {"producer_warpgroup": True})
    # fa2.yaml: forward warps 4 (x6), 8, 4, 4, 8, 8, 4; space [4, 8]
    assert [t["warps"] for t in doc.data["tiles"]] == [8] * 6 + [12, 8, 8, 12, 12, 8]
    assert doc.data["tile_space"]["warps"] == [8, 12]
    assert [t["warps"] for t in doc.data["backward_tiles"]] == [8] * 7  # backward tiles are not forward tiles


def test_pingpong_without_a_producer_is_refused_naming_the_override():
    with pytest.raises(SpecError, match="pingpong needs producer_warpgroup") as info:
        load_gpu_mapping("fa3", {"producer_warpgroup": False})
    assert "--set mapping.producer_warpgroup=false" in str(info.value)
    with pytest.raises(SpecError, match=r"mapping\.softmax_overlap=pingpong"):
        load_gpu_mapping("fa2", {"softmax_overlap": "pingpong"})


def test_a_shipped_mapping_is_not_changed_by_an_override_of_it():
    load_gpu_mapping("fa3", {"producer_warpgroup": False, "softmax_overlap": "none"})
    fa3 = load_gpu_mapping("fa3")
    assert fa3.producer_warpgroup and [t.warps for t in fa3.tiles] == FA3_TILE_WARPS


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("7", 7), ("1.5", 1.5),
                                             ("none", "none")])
def test_parse_mapping_value(text, value):
    parsed = parse_mapping_value(text, "mapping.k")
    assert parsed == value and type(parsed) is type(value)


def test_parse_mapping_value_needs_a_value():
    with pytest.raises(SpecError, match="needs a value"):
        parse_mapping_value("", "mapping.k")


# --- the command line ---------------------------------------------------------------------------------------

SIMULATE = ["simulate", "--arch", "h100", "--mapping", "fa3", "--workload", "llama3-8b", "--seq", "8K"]


def test_simulate_with_a_mapping_override_shows_it(capsys):
    assert main([*SIMULATE, "--set", "mapping.softmax_overlap=none", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["mapping_overrides"] == {"softmax_overlap": "none"}
    assert main([*SIMULATE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["latency_s"] < row["latency_s"]  # ping-pong off is slower


def test_an_unknown_mapping_key_exits_2_with_one_line(capsys):
    assert main([*SIMULATE, "--set", "mapping.bogus=1"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cascade: error:") and "'bogus'" in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_mapping_override_on_a_spatial_array_exits_2(capsys):
    assert main(["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "4K",
                 "--set", "mapping.x=1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "mapping.x" in lines[0] and "GPU" in lines[0]


# --- overlap_counts -----------------------------------------------------------------------------------------

GROUPS = np.array([1.0, 2.0, 3.0])  # consumer warpgroups per block, float as fused_tile_work builds them


def _counts(name: str, overrides: dict | None = None):
    counts = overlap_counts(load_gpu_mapping(name, overrides), GROUPS)
    return counts["streams_per_block"].tolist(), counts["pingpong_groups"].tolist()


def test_fa2_is_one_stream_whatever_its_warpgroups():
    # no producer: the warps wait together for each K/V tile; no intra-warpgroup overlap: depth 1
    assert _counts("fa2") == ([1, 1, 1], [0, 0, 0])


def test_fa3_pingpongs_two_key_tiles_per_consumer_warpgroup():
    # ping-pong: one stream; key tiles in flight = groups x 2 (intra-warpgroup overlap)
    assert _counts("fa3") == ([1, 1, 1], [2, 4, 6])


def test_fa3_without_intra_warpgroup_overlap_pingpongs_one_tile_per_warpgroup():
    assert _counts("fa3", {"intra_warpgroup_overlap": False}) == ([1, 1, 1], [1, 2, 3])


def test_fa3_without_pingpong_runs_each_warpgroup_as_its_own_streams():
    # producer warpgroup: every consumer warpgroup is independent, with 2 key tiles each
    assert _counts("fa3", {"softmax_overlap": "none"}) == ([2, 4, 6], [0, 0, 0])
    assert _counts("fa3", {"softmax_overlap": "none", "intra_warpgroup_overlap": False}) == ([1, 2, 3], [0, 0, 0])


def test_fa3_without_a_producer_runs_its_warpgroups_in_step():
    # no producer: the warpgroups are one stream, which keeps its 2 key tiles in flight
    assert _counts("fa3", {"producer_warpgroup": False, "softmax_overlap": "none"}) == ([2, 2, 2], [0, 0, 0])


def test_without_a_producer_the_consumer_warpgroups_stay_as_the_file_gives_them():
    # fa3 at d = 128: 128 x 192, 12 warps = 2 consumer warpgroups + the producer; without it 8 warps, still 2
    problem = AttentionProblem(batch=1, heads=1, kv_heads=1, seqlen_q=1024, seqlen_kv=1024, head_dim=128,
                               head_dim_v=128, causal=False)
    with_producer = fused_tile_work(load_gpu_mapping("fa3"), "wgmma", problem, 128, 192, 12, 2)
    assert (with_producer["streams_per_block"], with_producer["pingpong_groups"]) == (1, 4)
    mapping = load_gpu_mapping("fa3", {"producer_warpgroup": False, "softmax_overlap": "none"})
    tile = mapping.tile_for(128, load_gpu("h100-sxm5-80gb"), causal=False)
    assert tile.warps == 8
    without = fused_tile_work(mapping, "wgmma", problem, tile.br, tile.bc, tile.warps, tile.stages)
    assert (without["streams_per_block"], without["pingpong_groups"]) == (2, 0)


# --- FlashAttention-3's pipelining ablation (Table 2) ----------------------------------------------------------

def test_fa3_pipelining_ablation_rows_within_target_and_in_the_papers_order():
    """FA3 paper Table 2 (3.538, 4.021, 4.105 ms): each row within the file's target, the full kernel fastest,
    both ablated rows slower. These three rows informed how the flags are modelled (which flags each row maps
    to, and overlap_counts): they are a development set, not held-out data. No factor is fitted on them."""
    result = pipelining_ablation()
    rows = {row["name"]: row for row in result["rows"]}
    assert result["target_pct"] == 10 and len(rows) == 3
    full = rows["FlashAttention-3"]
    no_pipelining = rows["no GEMM-softmax pipelining, warp specialization"]
    no_specialization = rows["GEMM-softmax pipelining, no warp specialization"]
    assert (full["measured_ms"], no_pipelining["measured_ms"], no_specialization["measured_ms"]) == \
        (3.538, 4.021, 4.105)
    for row in rows.values():
        assert abs(row["predicted_ms"] / row["measured_ms"] - 1) <= result["target_pct"] / 100, row
        assert row["met"]
    assert result["met"]
    assert full["predicted_ms"] < no_pipelining["predicted_ms"]
    assert full["predicted_ms"] < no_specialization["predicted_ms"]
