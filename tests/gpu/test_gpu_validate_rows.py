"""`validate-gpu` row by row: which GPU preset and mapping each row used (by name or alias), why a row is not
modelled, backward-only (`pass: bwd`) rows, and which rows count as fitted, development or held out."""

from __future__ import annotations

import json

import pytest

from arch_models import load_gpu
from mappers.gpu_kernels import load_gpu_mapping
from simulator.cli import validate_gpu
from simulator.gpu.attention import AttentionProblem
from simulator.gpu.simulate import simulate_attention
from simulator.studies.gpu_validation.calibration import fit_rows
from simulator.studies.gpu_validation.measurements import read_measurements, write_measurements

SHIPPED = read_measurements()


def run(tmp_path, run_command, rows: list[dict]) -> list[dict]:
    path = tmp_path / "rows.csv"
    write_measurements(path, rows)
    status, out, err = run_command(validate_gpu, "validate-gpu", "--data", str(path), "--json")
    assert status == 0, err
    return json.loads(out)["rows"]


def test_backward_flops_are_two_and_a_half_forwards():
    # by hand: forward = 4 x batch x heads x seqlen^2 x d = 4 x 2 x 16 x 1024^2 x 128 = 17,179,869,184
    problem = AttentionProblem(2, 16, 16, 1024, 1024, 128, 128, passes="bwd")
    assert problem.flops() == 2.5 * 17_179_869_184
    causal = AttentionProblem(2, 16, 16, 1024, 1024, 128, 128, causal=True, passes="bwd")
    assert causal.flops() == 2.5 * 17_179_869_184 / 2


@pytest.mark.parametrize("mapping, gpu", [("fa2", "a100"), ("fa2", "h100"), ("pytorch-unfused", "a100"),
                                          ("pytorch-unfused", "h100")])
def test_backward_alone_is_the_backward_part_of_forward_plus_backward(mapping, gpu):
    times = {}
    for passes in ("fwd", "bwd", "fwd+bwd"):
        problem = AttentionProblem(4, 16, 16, 4096, 4096, 128, 128, causal=True, passes=passes)
        report = simulate_attention(load_gpu_mapping(mapping), load_gpu(gpu), problem)
        times[passes] = report.time_s
        if passes == "bwd":
            assert all("backward" in phase.name for phase in report.phases)
    assert times["fwd"] + times["bwd"] == pytest.approx(times["fwd+bwd"], rel=1e-9)
    if mapping == "fa2":  # compute-bound: 2.5 times the FLOPs take longer (the unfused chain is memory-bound)
        assert times["bwd"] > times["fwd"]


def test_bwd_rows_are_validated_and_unrunnable_ones_listed(tmp_path, run_command):
    base = next(m.row() for m in SHIPPED if m.kernel == "FA2" and m.passes == "fwd+bwd" and "A100" in m.gpu)
    rows = run(tmp_path, run_command, [
        {**base, "pass": "bwd", "value": 150.0},
        {**base, "pass": "bwd", "kernel": "FA3", "gpu": "H100"},  # FA3's mapping has no backward kernel
        {**base, "pass": "bwd", "kernel": "Flash-Decoding"},  # nor has split-KV decoding
    ])
    problem = AttentionProblem(base["batch"], base["nheads_q"], base["nheads_kv"], base["seqlen_q"],
                               base["seqlen_kv"], base["headdim"], base["headdim"], base["causal"], "bwd")
    seconds = simulate_attention(load_gpu_mapping("fa2"), load_gpu("a100"), problem).time_s
    assert rows[0]["modelled"] and rows[0]["mapping"] == "fa2" and rows[0]["predicted_time_s"] == seconds
    assert rows[0]["predicted"] == pytest.approx(problem.flops() / seconds / 1e12)
    assert not rows[1]["modelled"] and "fa3" in rows[1]["reason"] and "backward" in rows[1]["reason"]
    assert not rows[2]["modelled"] and "flash-decoding" in rows[2]["reason"] and "no backward pass" in rows[2]["reason"]


def test_each_row_says_which_preset_and_mapping_it_used(tmp_path, run_command):
    shipped = [m.row() for m in SHIPPED if m.kernel == "FA3" and m.seqlen_kv == 2048]
    renamed = [{**r, "kernel": "FlashAttention-3", "gpu": "NVIDIA H100 80GB HBM3"} for r in shipped]
    base = shipped[0]
    others = [{**base, "gpu": "H20"}, {**base, "gpu": "NVIDIA H100 NVL"}, {**base, "kernel": "FA1"},
              {**base, "kernel": "cuDNN", "gpu": "A100"}]
    rows = run(tmp_path, run_command, shipped + renamed + others)
    first, second, rest = rows[:len(shipped)], rows[len(shipped):2 * len(shipped)], rows[2 * len(shipped):]
    for a, b in zip(first, second, strict=True):
        assert (b["mapping"], b["gpu_preset"]) == ("fa3", "h100-sxm5-80gb") and b["predicted"] == a["predicted"]
    h20, nvl, fa1, cudnn = rest
    assert h20["modelled"] and h20["gpu_preset"] == "h20" and h20["predicted"] < base["value"] / 3
    assert not nvl["modelled"] and nvl["reason"].startswith("no GPU preset named 'NVIDIA H100 NVL'")
    assert not fa1["modelled"] and fa1["reason"].startswith("no GPU mapping named 'FA1'")
    assert not cudnn["modelled"] and cudnn["mapping"] == "cudnn-like" and "wgmma" in cudnn["reason"]


def test_not_modelled_rows_are_counted_by_reason_in_the_text(tmp_path, run_command):
    base = SHIPPED[0].row()
    path = tmp_path / "rows.csv"
    write_measurements(path, [base, {**base, "kernel": "FA1"}, {**base, "kernel": "FA1"}, {**base, "gpu": "H20x"}])
    status, out, _ = run_command(validate_gpu, "validate-gpu", "--data", str(path), "--rows")
    assert status == 0 and "not modelled: 3 rows" in out
    assert "2 rows: no GPU mapping named 'FA1'" in out and "1 rows: no GPU preset named 'H20x'" in out


def test_only_rows_the_fit_used_are_fitted(tmp_path, run_command):
    used = list(fit_rows())
    assert len(used) == 12  # calibration.yaml: 12 rows of the shipped file
    other = next(m for m in SHIPPED if m not in fit_rows())
    copies = [m.row() for m in used]
    remeasured = [{**r, "value": r["value"] * 1.01} for r in copies]  # same filter columns, another measurement
    another_source = [{**r, "source": "my own run"} for r in copies]
    rows = run(tmp_path, run_command, copies + remeasured + another_source + [other.row()])
    roles = [r["role"] for r in rows]
    assert roles == ["fitted"] * 12 + ["held-out"] * 24 + ["development"]
    assert [r["fitted"] for r in rows] == [True] * 12 + [False] * 25
