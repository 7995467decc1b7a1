"""`run_point` on a GPU: the keys of spatial `simulate --json` rows plus GPU fields, for simulate/compare."""

from __future__ import annotations

import json

import pytest

from einsum_cascade.errors import SpecError
from simulator.cli.simulate import format_gpu_point
from simulator.studies.point import run_point


def gpu_row(arch, mapping, workload, seq_len, **options) -> dict:
    return run_point(arch, mapping, workload, seq_len, **options).to_dict()


POINT_KEYS = {"design", "workload", "seq_len", "latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d",
              "area_mm2", "scope", "bound", "mapping", "arch", "cascade"}


def test_keys_and_fa3_faster_than_fa2_on_h100():
    fa3 = gpu_row("h100-sxm5-80gb", "fa3", "llama3-8b", "8K")
    fa2 = gpu_row("h100-sxm5-80gb", "fa2", "llama3-8b", 8192)
    assert set(fa3) >= POINT_KEYS and fa3["seq_len"] == 8192 and fa3["arch"] == "h100-sxm5-80gb"
    assert fa3["latency_s"] < fa2["latency_s"] and fa3["area_mm2"] == 814
    assert 0 < fa2["util_2d"] < fa3["util_2d"] < 1 and fa3["energy_pj"] > 0
    assert fa3["instruction_family"] == "wgmma" and fa2["instruction_family"] == "mma"
    assert "fa3 on h100-sxm5-80gb" in format_gpu_point(fa3)
    json.dumps(fa3)


def test_end_to_end_adds_the_layer_gemms():
    row = gpu_row("h100", "fa3", "llama3-8b", "4K", end_to_end=True)
    assert row["scope"] == "end-to-end" and row["latency_s"] > row["attention_latency_s"]
    assert {g["gemm"] for g in row["layer_gemms"]} >= {"q_proj", "ffn_down"}


def test_decode_mapping_and_errors():
    row = gpu_row("a100", "flash-decoding", "llama3-8b", "64K")
    assert row["problem"]["seqlen_q"] == 1 and row["occupancy"]["splits"] >= 1
    with pytest.raises(SpecError, match="no GPU mapping named"):
        gpu_row("h100", "fa9", "llama3-8b", "8K")
    with pytest.raises(SpecError, match="wgmma instructions, which this GPU lacks"):
        gpu_row("a100", "fa3", "llama3-8b", "8K")
