"""`cascade measure-gpu` on the CPU: the whole run against a fake torch whose CUDA events return fixed times.

Timings below are derived by hand from the fake's script (tests/gpu/fake_torch.py): each kernel launch moves
the device clock on by the duration the script gives, an L2 flush by 0.5 ms. With the test's settings
(warm-up 5 ms, repeats 10 ms, at least 3 repeats) and a 2 ms kernel the estimate is (5 x 0.5 + 5 x 2) / 5 =
2.5 ms per run (do_bench's estimate includes the flush), hence int(5 / 2.5) = 2 warm-up runs and
max(3, int(10 / 2.5)) = 4 timed runs: 1 + 5 + 2 + 4 = 12 launches per point.
"""

from __future__ import annotations

import builtins
import csv
import json
import sys
import warnings

import pytest
from fake_torch import Call, FakeGpu, OutOfMemoryError, fake_flash_attn, fake_pynvml, fake_torch

from einsum_cascade.errors import SpecError
from simulator.cli import measure_gpu, validate_gpu
from simulator.studies.gpu_measure import cuda_kernels as measure_kernels
from simulator.studies.gpu_measure import harness as measure
from simulator.studies.gpu_measure.store import HEADER, failed_path
from simulator.studies.gpu_measure.timing import TimingSettings
from simulator.studies.gpu_validation.measurements import read_measurements

SETTINGS = TimingSettings(warmup_ms=5, rep_ms=10, min_repeats=3)
TIMING_ARGS = ("--warmup-ms", "5", "--rep-ms", "10", "--min-repeats", "3")
LAUNCHES_PER_POINT = 12
H100_PROVENANCE = "device=NVIDIA H100 80GB HBM3; sms=132; sm=90; driver=550.54.15; cuda=12.4; torch=2.5.1; cudnn=90100"


def steady(call: Call) -> float:
    return 2.0


@pytest.fixture
def gpu(monkeypatch):
    """An H100 behind a fake torch in sys.modules (what `import torch` finds); no kernel packages installed."""
    device = FakeGpu(steady)
    monkeypatch.setitem(sys.modules, "torch", fake_torch(device))
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml("550.54.15"))
    for module in ("flash_attn", "flash_attn_interface", "triton"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    return device


def grid(**changes) -> measure.Grid:
    return measure.Grid(**{"seqlens": (1024,), "head_dims": (64,), "causal": (False,), **changes})


def run(kernels, out, **changes):
    return measure.measure(kernels, grid(**changes), out, SETTINGS)


def csv_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def seqlens_launched(device: FakeGpu) -> list[int]:
    return sorted({call.shape[2] for call in device.kernel_calls()})


def test_median_of_the_timed_runs_after_warmup_with_l2_flushed_outside_the_events(gpu, tmp_path):
    # launch 0: the first run (compilation; 50 ms); 1-5: the estimate (2 ms); 6-7: warm-up (9 ms, not timed);
    # 8-11: timed 3, 1, 2, 100 ms -> median (2 + 3) / 2 = 2.5; 20th percentile at rank 0.6: 1 + 0.6 = 1.6;
    # 80th at rank 2.4: 3 + 0.4 x 97 = 41.8. A flush inside the events would add 0.5 ms to each.
    durations = iter([50.0, 2, 2, 2, 2, 2, 9, 9, 3, 1, 2, 100])
    gpu.script = lambda call: next(durations)
    (row,) = run(["sdpa-flash"], tmp_path / "m.csv")["rows"]
    assert (row["value"], row["unit"], row["p20_ms"], row["p80_ms"]) == (2.5, "ms", 1.6, 41.8)
    assert row["timing"] == ("CUDA events, median of 4 runs after 2 warm-up runs, L2 flushed by a 256 MiB write "
                             "before each (triton.testing.do_bench method)")  # max(256 MiB, 2 x 50 MB of L2)
    assert len(gpu.kernel_calls()) == LAUNCHES_PER_POINT
    assert {(call.kernel, call.shape) for call in gpu.kernel_calls()} == {("sdpa:FLASH_ATTENTION", (16, 32, 1024, 64))}
    timed = [c if isinstance(c, str) else c.kernel for c in gpu.calls][-18:]
    assert timed == ["flush", "record", "sdpa:FLASH_ATTENTION", "record"] * 4 + ["synchronize", "empty_cache"]
    assert next(durations, None) is None


def test_each_row_is_in_the_file_when_it_is_reported_and_validate_gpu_models_it(gpu, tmp_path, run_command):
    out = tmp_path / "runs.csv"
    seen = []
    result = measure.measure(["sdpa-flash", "sdpa-math"], grid(seqlens=(1024, 2048), causal=(False, True)), out,
                             SETTINGS, progress=lambda row: seen.append(len(read_measurements(out))))
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8] and len(result["rows"]) == 8  # 2 kernels x 2 lengths x causal or not
    assert [row["value"] for row in csv_rows(out)] == ["2.0"] * 8
    status, output, _ = run_command(validate_gpu, "validate-gpu", "--data", str(out), "--json")
    rows = json.loads(output)["rows"]
    assert status == 0 and all(row["modelled"] for row in rows)
    assert {(row["kernel"], row["mapping"]) for row in rows} == {("PyTorch SDPA (flash backend)", "fa2"),
                                                                ("PyTorch SDPA (math backend)", "pytorch-unfused")}
    assert {row["gpu"] for row in rows} == {"h100-sxm5-80gb"}


def test_a_killed_run_resumes_without_repeating_a_point(gpu, tmp_path):
    out = tmp_path / "runs.csv"

    def killed_at_2048(call):
        if call.shape[2] == 2048:
            raise KeyboardInterrupt  # not an Exception: nothing catches it, as with a kill
        return 2.0

    gpu.script = killed_at_2048
    with pytest.raises(KeyboardInterrupt):
        run(["sdpa-flash"], out, seqlens=(1024, 2048, 4096))
    with open(out, "a") as handle:
        handle.write("h100-sxm5-80gb,PyTorch SDPA (fla")  # a write torn by the kill
    gpu.script, gpu.calls = steady, []
    result = run(["sdpa-flash"], out, seqlens=(1024, 2048, 4096))
    assert result["already_done"] == 1 and seqlens_launched(gpu) == [2048, 4096]
    assert len(gpu.kernel_calls()) == 2 * LAUNCHES_PER_POINT
    assert [m.seqlen_q for m in read_measurements(out)] == [1024, 2048, 4096]
    gpu.calls = []
    assert run(["sdpa-flash"], out, seqlens=(1024, 2048, 4096))["already_done"] == 3 and gpu.calls == []


def oom_or_refusal(call):
    """The math backend runs out of memory at 16K; the flash backend refuses head dim 256, saying why in a warning
    first, as SDPA does."""
    if call.kernel == "sdpa:MATH" and call.shape[2] == 16384:
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 32.00 GiB.\nmore detail")
    if call.kernel == "sdpa:FLASH_ATTENTION" and call.shape[3] == 256:
        warnings.warn("Flash attention requires head dim <= 128 (got 256).", UserWarning, stacklevel=1)
        raise RuntimeError("No available kernel. Aborting execution.")
    return 2.0


def test_out_of_memory_and_refused_points_become_rows_and_the_run_goes_on(gpu, tmp_path):
    gpu.script = oom_or_refusal
    out = tmp_path / "runs.csv"
    rows = run(["sdpa-flash", "sdpa-math"], out, seqlens=(1024, 16384), head_dims=(64, 256))["rows"]
    assert [(r["kernel"].split("(")[1][:4], r["headdim"], r["seqlen_q"], r["status"]) for r in rows] == [
        ("flas", 64, 1024, "ok"), ("flas", 64, 16384, "ok"), ("flas", 256, 1024, "unsupported"),
        ("flas", 256, 16384, "unsupported"), ("math", 64, 1024, "ok"), ("math", 64, 16384, "oom"),
        ("math", 256, 1024, "ok"), ("math", 256, 16384, "oom")]
    assert gpu.calls.count("empty_cache") == 8  # memory is released after every point, the OOM ones included
    assert [m.headdim for m in read_measurements(out)] == [64, 64, 64, 256]  # the measured rows only
    failed = csv_rows(failed_path(out))
    assert failed_path(out).name == "runs.failed.csv" and list(failed[0]) == HEADER
    assert [(r["status"], r["value"], r["reason"]) for r in failed] == [
        ("unsupported", "", "No available kernel. Aborting execution. | Flash attention requires head dim <= 128 "
                            "(got 256).")] * 2 + [("oom", "", "CUDA out of memory. Tried to allocate 32.00 GiB.")] * 2
    assert all(r["provenance"] == H100_PROVENANCE for r in failed)
    gpu.calls = []
    assert run(["sdpa-flash", "sdpa-math"], out, seqlens=(1024, 16384), head_dims=(64, 256))["rows"] == []
    retried = measure.measure(["sdpa-math"], grid(seqlens=(1024, 16384)), out, SETTINGS, retry_failed=True)["rows"]
    assert [r["status"] for r in retried] == ["oom"] and len(csv_rows(failed_path(out))) == 5


@pytest.mark.parametrize("error, status", [
    (OutOfMemoryError("CUDA out of memory."), "oom"),
    (RuntimeError("CUDA error: out of memory"), "oom"),
    (RuntimeError("FlashAttention forward only supports head dimension at most 256"), "unsupported"),
    (measure_kernels.Unsupported("no such backend"), "unsupported"),
    (NotImplementedError("bf16"), "unsupported"),
    (RuntimeError("CUDA error: an illegal memory access was encountered"), "error"),
])
def test_failure_status(gpu, error, status):
    assert measure.failure_status(error, sys.modules["torch"]) == status


def test_an_unexpected_error_is_recorded_stops_the_run_and_is_skipped_on_resume(gpu, tmp_path):
    out = tmp_path / "runs.csv"
    gpu.script = lambda call: (_ for _ in ()).throw(ValueError("boom")) if call.shape[2] == 2048 else 2.0
    with pytest.raises(SpecError, match=r"stopped at sdpa-flash fwd causal=False d=64 batch=8 seqlen=2048: "
                                        r"ValueError: boom; .* 1 point\(s\) of this run were written"):
        run(["sdpa-flash"], out, seqlens=(1024, 2048, 4096))
    assert [r["status"] for r in csv_rows(failed_path(out))] == ["error"]
    gpu.calls = []
    assert [r["seqlen_q"] for r in run(["sdpa-flash"], out, seqlens=(1024, 2048, 4096))["rows"]] == [4096]


def test_provenance_and_the_flash_attn_packages(gpu, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "flash_attn", fake_flash_attn(gpu, "flash_attn", "2.6.3"))
    monkeypatch.setitem(sys.modules, "flash_attn_interface", fake_flash_attn(gpu, "flash_attn_interface"))
    assert measure.choose_kernels(None, measure_kernels.describe_device(sys.modules["torch"])) == [
        "sdpa-flash", "sdpa-cudnn", "sdpa-math", "fa2", "fa3"]  # modelled, installed and runnable on sm_90
    # fwd+bwd: FA3 forward 1.5 ms (it returns (out, lse)), backward 3 ms -> 4.5 ms per timed run
    gpu.script = lambda call: 3.0 if call.kernel == "backward" else 1.5
    rows = run(["fa2", "fa3"], tmp_path / "m.csv", passes=("fwd+bwd",))["rows"]
    assert [(r["kernel"], r["pass"], r["value"]) for r in rows] == [("FlashAttention-2", "fwd+bwd", 4.5),
                                                                    ("FlashAttention-3", "fwd+bwd", 4.5)]
    assert [r["provenance"] for r in rows] == [f"{H100_PROVENANCE}; flash_attn=2.6.3",
                                               f"{H100_PROVENANCE}; flash_attn_interface=unknown"]
    assert rows[0]["source"].startswith("cascade measure-gpu --mappings fa2 (")
    layouts = {(call.kernel, call.shape) for call in gpu.kernel_calls()}
    assert layouts == {("flash_attn", (16, 1024, 32, 64)), ("flash_attn_interface", (16, 1024, 32, 64)),
                       ("backward", (16, 1024, 32, 64))}  # batch, sequence, heads, head dim


def test_backward_alone_times_the_backward_over_one_untimed_forward_with_fresh_gradients(gpu, tmp_path):
    # forward 1.5 ms, backward 3 ms: the timed runs are backward passes only -> 3 ms; the estimate is
    # (5 x 0.5 + 5 x 3) / 5 = 3.5 ms -> int(5 / 3.5) = 1 warm-up run, max(3, int(10 / 3.5)) = 3 timed runs
    gpu.script = lambda call: 3.0 if call.kernel == "backward" else 1.5
    (row,) = run(["sdpa-flash"], tmp_path / "m.csv", passes=("bwd",))["rows"]
    assert (row["pass"], row["value"]) == ("bwd", 3.0) and "median of 3 runs after 1 warm-up run," in row["timing"]
    assert [call.kernel for call in gpu.kernel_calls()] == ["sdpa:FLASH_ATTENTION"] + ["backward"] * (1 + 5 + 1 + 3)
    assert gpu.accumulated[-3:] == [False] * 3  # gradients dropped before each timed run, as do_bench's grad_to_none


def test_fa3_is_not_chosen_off_hopper_and_refused_when_asked_for(gpu, tmp_path, monkeypatch):
    gpu.name, gpu.sm_count, gpu.capability = "NVIDIA A100-SXM4-80GB", 108, (8, 0)
    monkeypatch.setitem(sys.modules, "flash_attn_interface", fake_flash_attn(gpu, "flash_attn_interface"))
    assert "fa3" not in measure.choose_kernels(None, measure_kernels.describe_device(sys.modules["torch"]))
    (row,) = run(["fa3"], tmp_path / "m.csv")["rows"]
    assert (row["gpu"], row["status"]) == ("a100-sxm4-80gb", "unsupported") and gpu.kernel_calls() == []
    assert row["reason"] == "FlashAttention-3 (flash_attn_interface) runs on Hopper (sm_90) only; this GPU is sm_80"
    with pytest.raises(SpecError, match="fa2 need the Python package"):
        run(["fa2"], tmp_path / "m.csv")


@pytest.mark.parametrize("name, sms, preset", [
    ("NVIDIA H100 80GB HBM3", 132, "h100-sxm5-80gb"),
    ("NVIDIA A100-SXM4-80GB", 108, "a100-sxm4-80gb"),
    ("NVIDIA H20", 78, "h20"),
])
def test_device_names_resolve_to_presets_exactly(gpu, tmp_path, name, sms, preset):
    gpu.name, gpu.sm_count = name, sms
    assert run(["sdpa-math"], tmp_path / "m.csv")["gpu"] == preset


@pytest.mark.parametrize("name, sms, words", [
    ("NVIDIA H100 NVL", 132, "'NVIDIA H100 NVL', is no GPU preset"),
    ("NVIDIA GH200 480GB", 132, "'NVIDIA GH200 480GB', is no GPU preset"),
    ("NVIDIA H100 PCIe", 114, "'NVIDIA H100 PCIe', is no GPU preset"),
    ("NVIDIA H100 80GB HBM3", 114, "has 114 SMs, and the preset its name resolves to, h100-sxm5-80gb, has 132"),
])
def test_other_devices_are_refused_in_one_line_before_anything_is_written(gpu, tmp_path, run_command, name, sms,
                                                                          words):
    gpu.name, gpu.sm_count = name, sms
    status, _, err = run_command(measure_gpu, "measure-gpu", "--out", str(tmp_path / "x.csv"), "--kernels", "sdpa-math")
    assert status == 2 and err.count("\n") == 1 and words in err
    assert list(tmp_path.iterdir()) == [] and gpu.kernel_calls() == []


def test_the_command_prints_each_point_and_a_summary(gpu, tmp_path, run_command):
    out = tmp_path / "runs.csv"
    status, output, _ = run_command(measure_gpu, "measure-gpu", "--out", str(out), "--kernels", "sdpa-math",
                                    "--seqlens", "4096", "--head-dims", "128", "--causal", "yes", *TIMING_ARGS)
    # batch 4, 16 heads: 4 x 4 x 16 x 4096^2 x 128 FLOPs / 2 (causal) = 2.749e11 in 2 ms = 137.4 TFLOP/s
    assert status == 0 and "PyTorch SDPA (math backend)" in output and "2.0000 ms   137.4 TFLOP/s" in output
    assert f"NVIDIA H100 80GB HBM3 as h100-sxm5-80gb: 1 point(s) measured into {out}, 0 not measurable" in output
    status, output, _ = run_command(measure_gpu, "measure-gpu", "--out", str(out), "--kernels", "sdpa-math",
                                    "--seqlens", "4096", "--head-dims", "128", "--causal", "yes", "--json")
    assert status == 0 and json.loads(output)["already_done"] == 1 and json.loads(output)["rows"] == []


def test_refuses_to_append_to_a_file_that_is_not_its_own(gpu, tmp_path):
    out = tmp_path / "data.csv"
    out.write_text("gpu,kernel,value\nh100,FA2,300\n")
    with pytest.raises(SpecError, match="is not a measure-gpu output"):
        run(["sdpa-math"], out)
    assert gpu.kernel_calls() == []


@pytest.fixture
def no_torch(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_without_torch_one_clear_line_and_exit_2(no_torch, run_command, tmp_path):
    status, _, err = run_command(measure_gpu, "measure-gpu", "--out", str(tmp_path / "x.csv"))
    assert status == 2 and err.count("\n") == 1
    assert "needs PyTorch with CUDA" in err and "torch" in err and not (tmp_path / "x.csv").exists()


def test_without_a_cuda_device_one_clear_line(gpu, run_command, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["torch"].cuda, "is_available", lambda: False)
    status, _, err = run_command(measure_gpu, "measure-gpu", "--out", str(tmp_path / "x.csv"))
    assert status == 2 and "needs a CUDA GPU, and torch 2.5.1 sees none" in err


@pytest.mark.parametrize("argv, words", [
    (["--kernels", "sdpa-flash,cudnn"], "unknown kernel(s) cudnn"),
    (["--kernels", "sdpa-efficient"], "no GPU mapping models sdpa-efficient"),
    (["--seqlens", "512,abc"], "comma-separated positive integers"),
    (["--head-dims", "96"], "does not divide the hidden size"),
    (["--passes", "backward"], "choose from fwd, fwd+bwd, bwd"),
    (["--min-repeats", "0"], "--min-repeats must be positive"),
    (["--warmup-ms", "-1"], "--warmup-ms must be non-negative"),
])
def test_bad_arguments_exit_2_before_needing_torch(no_torch, run_command, tmp_path, argv, words):
    status, _, err = run_command(measure_gpu, "measure-gpu", "--out", str(tmp_path / "x.csv"), *argv)
    assert status == 2 and words in err and "needs PyTorch" not in err


def test_missing_out_is_an_argparse_error(run_command):
    with pytest.raises(SystemExit) as info:
        run_command(measure_gpu, "measure-gpu")
    assert info.value.code == 2


def test_published_grid():
    points = measure.Grid().points(["sdpa-flash"])
    assert len(points) == 2 * 2 * 6
    first = points[0]
    assert (first.batch, first.seqlen, first.heads, first.head_dim, first.causal) == (32, 512, 32, 64, False)
    assert {p.batch * p.seqlen for p in points} == {16384}


def test_every_kernel_measured_by_default_writes_a_name_a_gpu_mapping_models():
    from mappers.gpu_kernels import mapping_for_kernel

    names = {kernel.written_as: getattr(mapping_for_kernel(kernel.written_as), "name", None)
             for kernel in measure.KERNELS.values()}
    assert names == {"PyTorch SDPA (flash backend)": "fa2", "PyTorch SDPA (memory-efficient backend)": None,
                     "PyTorch SDPA (cuDNN backend)": "cudnn-like", "PyTorch SDPA (math backend)": "pytorch-unfused",
                     "PyTorch SDPA (default backend)": "fa2", "FlashAttention-2": "fa2", "FlashAttention-3": "fa3",
                     "Triton": "triton-fa2"}
    assert measure.modelled_kernels() == ["sdpa-flash", "sdpa-cudnn", "sdpa-math", "sdpa-default", "fa2", "fa3",
                                          "triton"]


@pytest.mark.parametrize("kernel", ["sdpa-flash", "sdpa-math"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_launchers_compute_attention_where_torch_is_installed(kernel, causal):
    # Only where PyTorch is installed (CI has none): the backend selection of the launch code runs on the CPU,
    # and its output equals softmax(Q K^T / sqrt(d)) V computed here with plain tensor ops.
    torch = pytest.importorskip("torch")

    point = measure.Point(kernel=kernel, passes="fwd", causal=causal, head_dim=32, heads=2, batch=1, seqlen=64)
    q, k, v = (torch.randn(1, 2, 64, 32, dtype=torch.float64) for _ in range(3))
    scores = q @ k.transpose(-1, -2) / 32 ** 0.5
    if causal:
        scores = scores.masked_fill(torch.ones(64, 64, dtype=torch.bool).triu(1), float("-inf"))
    expected = scores.softmax(-1) @ v
    got = measure_kernels._attention(torch, point)(q, k, v)
    assert torch.allclose(got, expected, atol=1e-10)
