"""Time real attention kernels through PyTorch (CUDA events), writing the measurement CSV schema.

Everything except the kernel launches is plain Python, importable and testable without torch or a GPU:
the benchmark grid (the published one: batch x sequence = 16K tokens, hidden 2048, head dims 64 and 128,
causal and not), the kernel names, the device-name -> GPU preset mapping, the timing loop (warm-up,
then the median of N CUDA-event timings, written against an `events` factory so tests can fake it) and
the CSV rows. `require_torch()` is the single place torch is imported; without torch or without a CUDA
device it raises a one-line SpecError that the CLI turns into exit status 2.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date

from einsum_cascade.errors import SpecError
from simulator.gpu.attention import AttentionProblem

KERNELS = {
    "sdpa-flash": "torch SDPA, FlashAttention-2 backend (SDPBackend.FLASH_ATTENTION)",
    "sdpa-efficient": "torch SDPA, memory-efficient (xformers/CUTLASS) backend (SDPBackend.EFFICIENT_ATTENTION)",
    "sdpa-math": "torch SDPA, math backend (unfused matmul, softmax, matmul)",
    "triton": "FlexAttention (torch.nn.attention.flex_attention, compiled to a Triton kernel)",
}
DEFAULT_SEQLENS = (512, 1024, 2048, 4096, 8192, 16384)
PASSES = ("fwd", "fwd+bwd")


@dataclass(frozen=True)
class Point:
    kernel: str
    passes: str
    causal: bool
    head_dim: int
    heads: int
    batch: int
    seqlen: int

    def problem(self) -> AttentionProblem:
        return AttentionProblem(self.batch, self.heads, self.heads, self.seqlen, self.seqlen, self.head_dim,
                                self.head_dim, self.causal, self.passes)


def parse_kernels(text: str) -> list[str]:
    names = [name.strip() for name in str(text).split(",") if name.strip()]
    unknown = [name for name in names if name not in KERNELS]
    if unknown or not names:
        raise SpecError(f"unknown kernel(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(KERNELS)}",
                        key="--kernels")
    return list(dict.fromkeys(names))


def parse_int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise SpecError(f"{text!r} must be comma-separated positive integers", key=option) from None
    if not values or any(v <= 0 for v in values):
        raise SpecError(f"{text!r} must be comma-separated positive integers", key=option)
    return values


def benchmark_grid(kernels: list[str], seqlens=DEFAULT_SEQLENS, head_dims=(64, 128), causal=(False, True),
                   passes=("fwd",), tokens: int = 16384, hidden: int = 2048) -> list[Point]:
    """The published grid (FlashAttention-2 §4.1, FA3 App. C.1): batch = tokens / seqlen, heads = hidden / d."""
    points = []
    for kernel in kernels:
        for pass_name in passes:
            for is_causal in causal:
                for d in head_dims:
                    if hidden % d:
                        raise SpecError(f"head dim {d} does not divide the hidden size {hidden}", key="--head-dims")
                    for n in seqlens:
                        points.append(Point(kernel, pass_name, is_causal, d, hidden // d, max(1, tokens // n), n))
    return points


def gpu_preset_name(device_name: str, sm_count: int) -> str:
    """The CSV `gpu` value for a CUDA device: the preset's name where one fits, else the device name."""
    name = device_name.upper()
    if "H200" in name:
        return "H200"
    if "H100" in name and sm_count == 132:
        return "H100-SXM5-80GB"
    if "A100" in name and sm_count == 108 and "80GB" in name.replace(" ", ""):
        return "A100-SXM4-80GB"
    return device_name


def median_time_s(launch, events, warmup: int, repeats: int) -> float:
    """Median over `repeats` of the time between two CUDA events around one launch, after `warmup` launches.

    `events()` returns a (start, end) pair with `.record()`, `end.synchronize()` and
    `start.elapsed_time(end)` in milliseconds, as `torch.cuda.Event(enable_timing=True)` does."""
    if repeats <= 0 or warmup < 0:
        raise SpecError("repeats must be positive and warm-up non-negative")
    for _ in range(warmup):
        launch()
    times = []
    for _ in range(repeats):
        start, end = events()
        start.record()
        launch()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def csv_row(point: Point, seconds: float, gpu: str, provenance: str, dtype: str = "fp16") -> dict:
    problem = point.problem()
    return {"gpu": gpu, "kernel": point.kernel, "pass": point.passes, "causal": point.causal,
            "headdim": point.head_dim, "nheads_q": point.heads, "nheads_kv": point.heads, "batch": point.batch,
            "seqlen_q": point.seqlen, "seqlen_kv": point.seqlen, "dtype": dtype,
            "value": round(problem.flops() / seconds / 1e12, 3), "unit": "TFLOPs/s",
            "source": f"cascade measure-gpu ({date.today().isoformat()})", "provenance": provenance}


def require_torch():
    """torch with a CUDA device, or a one-line SpecError naming what is missing."""
    try:
        import torch
    except ImportError:
        raise SpecError("measure-gpu needs PyTorch with CUDA, and `torch` is not installed "
                        "(install a CUDA build of torch, e.g. `pip install torch`)") from None
    if not torch.cuda.is_available():
        raise SpecError(f"measure-gpu needs a CUDA GPU, and torch {torch.__version__} sees none "
                        "(torch.cuda.is_available() is False)")
    return torch


def measure(points: list[Point], warmup: int, repeats: int, dtype: str = "fp16", progress=None) -> list[dict]:
    """Launch and time every point on the current CUDA device (needs torch; not covered by the tests)."""
    torch = require_torch()
    from simulator.gpu import measure_kernels

    properties = torch.cuda.get_device_properties(0)
    gpu = gpu_preset_name(properties.name, properties.multi_processor_count)
    clock = measure_kernels.sm_clock_mhz(torch)
    provenance = (f"median of {repeats} CUDA-event timings after {warmup} warm-up runs; device {properties.name}, "
                  f"{properties.multi_processor_count} SMs, SM clock {clock} MHz; torch {torch.__version__}, "
                  f"CUDA {torch.version.cuda}")

    def events():
        return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    rows = []
    for point in points:
        launch = measure_kernels.launcher(torch, point, dtype)
        rows.append(csv_row(point, median_time_s(launch, events, warmup, repeats), gpu, provenance, dtype))
        if progress:
            progress(rows[-1])
    return rows
