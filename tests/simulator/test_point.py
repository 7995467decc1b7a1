"""`run_point` and `PointResult`: one typed result for spatial and GPU points, and a searched mapping simulated once."""

from __future__ import annotations

import pytest

import simulator.studies.gpu_point as gpu_point
import simulator.studies.mapping_choice as mapping_choice
import simulator.studies.spatial_point as spatial_point
import simulator.studies.spatial_search as spatial_search
from mappers import cache
from mappers.load import load_mapping
from simulator.studies.point import run_point
from simulator.studies.sweeps.run_point import evaluate_point


@pytest.mark.parametrize(("arch", "mapping", "workload", "seq_len"), [
    ("fusemax", "fusemax", "bert", 1024), ("h100-sxm5-80gb", "fa2", "llama3-8b", 4096)])
def test_fields_match_the_row_and_the_sweep_row(arch, mapping, workload, seq_len):
    point = run_point(arch, mapping, workload, seq_len, end_to_end=True)
    row, flat = point.to_dict(), point.to_row()
    assert list(row)[:3] == ["design", "workload", "seq_len"] and row["scope"] == "end-to-end"
    for key in ("latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound", "cascade"):
        assert getattr(point, key) == row[key] == flat[key]
    assert flat["arch_name"] == row["arch"] and flat["mapping_name"] == row["mapping"]
    with pytest.raises(AttributeError):
        point.latency_s = 0.0  # frozen


def test_a_mapping_object_and_its_name_give_the_same_point():
    by_name = run_point("fusemax", "fusemax", "bert", 1024).to_dict()
    assert run_point("fusemax", load_mapping("fusemax"), "bert", 1024, design="fusemax").to_dict() == by_name


def _counted(monkeypatch, module, name: str) -> list:
    calls, original = [], getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_a_searched_spatial_mapping_is_simulated_once(monkeypatch):
    monkeypatch.setattr(cache, "load", lambda key: None)  # a fresh search, not a cached one
    monkeypatch.setattr(cache, "store", lambda key, value: None)
    in_search = _counted(monkeypatch, spatial_search, "simulate_family")
    in_point = _counted(monkeypatch, spatial_point, "simulate_family")
    in_model = _counted(monkeypatch, mapping_choice, "simulate")
    row, einsums = evaluate_point({"arch": "fusemax", "workload": "bert", "seq_len": 1024, "cascade": "fusemax",
                                   "mapping": "fusemax", "scope": "attention", "mapper": {"budget": "300"}})
    assert row["status"] == "ok" and row["mapper_evaluated"] == 300 and einsums
    assert len(in_search) == 1 and in_point == []  # the search's report of its best mapping is the point's
    assert len(in_model) == 1


def test_a_searched_gpu_tile_is_simulated_once(monkeypatch):
    simulated = _counted(monkeypatch, gpu_point, "simulate_attention")
    row, _ = evaluate_point({"arch": "h100-sxm5-80gb", "workload": "llama3-8b", "seq_len": 4096, "mapping": "fa2",
                             "scope": "attention", "mapper": {"budget": "2000"}})
    assert row["status"] == "ok" and row["mapping_name"] == "fa2-searched"
    assert len(simulated) == 1


def test_a_multi_head_cascade_on_a_gqa_model_says_it_reads_k_and_v_per_query_head():
    llama = run_point("fusemax", "fusemax", "llama3-8b", 1024).to_dict()  # 32 query heads over 8 K/V heads
    assert "8 K/V heads among 4 query heads" in llama["note"] and "each of the 32 query heads" in llama["note"]
    assert run_point("fusemax", "fusemax", "bert", 1024).to_dict().get("note") is None  # multi-head model


def test_a_layer_gemm_the_shipped_mapping_cannot_fit_gets_a_searched_mapping():
    """Llama-3-8B's FFN down projection (K = 14336) needs 21 MB of FuseMax's 16 MB buffer under the shipped GEMM
    mapping: that layer alone is mapped by search; the point's latency still covers every layer's MACs at the
    array's peak (attention excluded, a lower bound)."""
    from arch_models import load_arch
    from workloads.zoo import layer_gemms, load_model

    point = run_point("fusemax", "fusemax", "llama3-8b", 8192, end_to_end=True).to_dict()
    assert point["searched_layers"] == ["ffn_down"]
    arch = load_arch("fusemax")
    macs = sum(g.rows * g.reduction * g.cols for g in layer_gemms(load_model("llama3-8b"), 8192, None))
    assert point["latency_s"] - point["attention_latency_s"] >= macs / arch.array_2d.pes / arch.clock_hz
    assert run_point("fusemax", "fusemax", "bert", 1024, end_to_end=True).to_dict().get("searched_layers") is None
