"""`cascade measure-gpu` without torch or a GPU: argument handling, the grid, the timing loop, the CSV rows."""

from __future__ import annotations

import builtins
import sys

import pytest

from einsum_cascade.errors import SpecError
from simulator.commands import measure_gpu
from simulator.gpu import measure
from simulator.gpu.measurements import read_measurements, write_measurements


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


@pytest.mark.parametrize("argv, words", [
    (["--kernels", "sdpa-flash,cudnn"], "unknown kernel(s) cudnn"),
    (["--seqlens", "512,abc"], "comma-separated positive integers"),
    (["--head-dims", "96"], "does not divide the hidden size"),
    (["--passes", "bwd"], "choose from fwd, fwd+bwd"),
    (["--repeats", "0"], "--repeats must be positive"),
])
def test_bad_arguments_exit_2_before_needing_torch(no_torch, run_command, tmp_path, argv, words):
    status, _, err = run_command(measure_gpu, "measure-gpu", "--out", str(tmp_path / "x.csv"), *argv)
    assert status == 2 and words in err and "PyTorch" not in err


def test_missing_out_is_an_argparse_error(run_command):
    with pytest.raises(SystemExit) as info:
        run_command(measure_gpu, "measure-gpu")
    assert info.value.code == 2


def test_published_grid():
    points = measure.benchmark_grid(["sdpa-flash"])
    assert len(points) == 2 * 2 * 6
    first = points[0]
    assert (first.batch, first.seqlen, first.heads, first.head_dim, first.causal) == (32, 512, 32, 64, False)
    assert {p.batch * p.seqlen for p in points} == {16384}


class FakeEvent:
    clock = 0.0

    def record(self):
        self.at = FakeEvent.clock

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.at - self.at) * 1e3  # ms, as torch.cuda.Event


def test_median_of_timed_runs_after_warmup():
    durations = iter([9.0, 9.0] + [3.0, 1.0, 2.0, 100.0, 2.0])  # two warm-up launches, then five timed ones
    launches = []

    def launch():
        launches.append(1)
        FakeEvent.clock += next(durations)

    assert measure.median_time_s(launch, lambda: (FakeEvent(), FakeEvent()), warmup=2, repeats=5) == 2.0
    assert len(launches) == 7
    with pytest.raises(SpecError):
        measure.median_time_s(launch, lambda: (FakeEvent(), FakeEvent()), warmup=0, repeats=0)


def test_rows_round_trip_through_the_csv_schema(tmp_path):
    point = measure.Point("sdpa-flash", "fwd", True, 128, 16, 4, 4096)
    row = measure.csv_row(point, 1e-3, measure.gpu_preset_name("NVIDIA H100 80GB HBM3", 132), "median of 30")
    assert row["gpu"] == "H100-SXM5-80GB" and row["unit"] == "TFLOPs/s"
    assert row["value"] == pytest.approx(4 * 4 * 4096**2 * 128 * 16 / 2 / 1e-3 / 1e12, rel=1e-3)
    write_measurements(tmp_path / "m.csv", [row])
    (back,) = read_measurements(tmp_path / "m.csv")
    assert back.kernel == "sdpa-flash" and back.causal and back.value == row["value"]
    assert measure.gpu_preset_name("NVIDIA A100-SXM4-80GB", 108) == "A100-SXM4-80GB"
    assert measure.gpu_preset_name("NVIDIA GeForce RTX 4090", 128) == "NVIDIA GeForce RTX 4090"


@pytest.mark.parametrize("kernel", ["sdpa-flash", "sdpa-math"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_launchers_compute_attention_where_torch_is_installed(kernel, causal):
    # Only where PyTorch is installed (CI has none): the backend selection of the launch code runs on the CPU,
    # and its output equals softmax(Q K^T / sqrt(d)) V computed here with plain tensor ops.
    torch = pytest.importorskip("torch")
    from simulator.gpu import measure_kernels

    point = measure.Point(kernel=kernel, passes="fwd", causal=causal, head_dim=32, heads=2, batch=1, seqlen=64)
    q, k, v = (torch.randn(1, 2, 64, 32, dtype=torch.float64) for _ in range(3))
    scores = q @ k.transpose(-1, -2) / 32 ** 0.5
    if causal:
        scores = scores.masked_fill(torch.ones(64, 64, dtype=torch.bool).triu(1), float("-inf"))
    expected = scores.softmax(-1) @ v
    got = measure_kernels._attention(torch, point)(q, k, v)
    assert torch.allclose(got, expected, atol=1e-10)
