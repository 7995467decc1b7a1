"""`cascade measure-gpu`: time real attention kernels on this machine's GPU and write rows validate-gpu reads.

The run, in order:
1. check the arguments and build the benchmark grid (no torch needed): the published one by default, batch x
   sequence = 16K tokens, hidden 2048, head dims 64 and 128, causal and not (FlashAttention-2 §4.1, FA3 C.1);
2. describe the CUDA device (name, SMs, compute capability, driver, CUDA, torch, cuDNN) and map its name to a
   GPU preset through `arch_models.gpu.load_gpu` (a preset's name or one of its declared aliases), or refuse;
3. choose the kernels (`KERNELS`; each writes a kernel name that a shipped GPU mapping lists in `measured_as`,
   so validate-gpu models every row) and skip the points already in the output files (resume);
4. per point: launch, time it as `triton.testing.do_bench` does (`measure_timing`), append the row at once
   (`measure_store`); an out-of-memory error or a configuration the kernel refuses becomes a row with its
   status and reason; any other error is recorded the same way and stops the run (the CUDA context may be
   unusable; rerunning resumes after it). GPU memory is released after every point.

`require_torch()` is the only place torch is imported; every function below takes the `torch` module object,
so the tests run the whole pipeline against a fake one.
"""

from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass, field
from datetime import date

from arch_models.gpu import GpuArch, load_gpu
from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import looks_like_path
from mappers.gpu_kernels import mapping_for_kernel
from simulator.gpu.attention import PASSES as MODEL_PASSES
from simulator.studies.gpu_measure import cuda_kernels as measure_kernels
from simulator.studies.gpu_measure.store import MeasurementLog, point_key
from simulator.studies.gpu_measure.timing import FLUSH_BYTES, Timing, TimingSettings, bench


@dataclass(frozen=True, slots=True)
class Kernel:
    name: str  # what --mappings takes
    written_as: str  # the CSV's kernel column: a name in a shipped GPU mapping's measured_as
    description: str
    module: str | None = None  # the Python package it needs besides torch
    architectures: tuple[int, ...] | None = None  # compute capability majors it runs on (None: any)
    by_default: bool = True  # measured when --mappings is not given (if modelled, installed and runnable here)


KERNELS = {kernel.name: kernel for kernel in (
    Kernel("sdpa-flash", "PyTorch SDPA (flash backend)",
           "torch SDPA, FlashAttention-2 backend (SDPBackend.FLASH_ATTENTION)"),
    Kernel("sdpa-efficient", "PyTorch SDPA (memory-efficient backend)",
           "torch SDPA, memory-efficient (xformers/CUTLASS) backend (SDPBackend.EFFICIENT_ATTENTION)"),
    Kernel("sdpa-cudnn", "PyTorch SDPA (cuDNN backend)", "torch SDPA, cuDNN backend (SDPBackend.CUDNN_ATTENTION)"),
    Kernel("sdpa-math", "PyTorch SDPA (math backend)", "torch SDPA, math backend (unfused matmul, softmax, matmul)"),
    Kernel("sdpa-default", "PyTorch SDPA (default backend)", "torch SDPA with the backend torch picks (on request "
           "only: it times the same kernel as one of the above)", by_default=False),
    Kernel("fa2", "FlashAttention-2", "flash_attn.flash_attn_func (the FlashAttention-2 package)", "flash_attn"),
    Kernel("fa3", "FlashAttention-3", "flash_attn_interface.flash_attn_func (FlashAttention-3, Hopper only)",
           "flash_attn_interface", (measure_kernels.HOPPER,)),
    Kernel("triton", "Triton", "FlexAttention (torch.nn.attention.flex_attention, compiled to a Triton kernel)",
           "triton"),
)}
PASSES = tuple(name for name in ("fwd", "fwd+bwd", "bwd") if name in MODEL_PASSES)  # those validate-gpu reads
DEFAULT_SEQLENS = (512, 1024, 2048, 4096, 8192, 16384)
OOM_WORDS = ("out of memory", "cublas_status_alloc_failed")
REFUSAL_WORDS = ("no available kernel", "no viable backend", "only support", "not supported", "unsupported",
                 "does not support", "not implemented")


@dataclass(frozen=True, slots=True)
class Point:
    kernel: str
    passes: str
    causal: bool
    head_dim: int
    heads: int
    batch: int
    seqlen: int


@dataclass(frozen=True, slots=True)
class Grid:
    """The benchmark grid: batch = tokens / seqlen, heads = hidden / head dim."""

    seqlens: tuple[int, ...] = DEFAULT_SEQLENS
    head_dims: tuple[int, ...] = (64, 128)
    causal: tuple[bool, ...] = (False, True)
    passes: tuple[str, ...] = ("fwd",)
    tokens: int = 16384
    hidden: int = 2048
    dtype: str = "fp16"

    def __post_init__(self):
        bad_passes = [name for name in self.passes if name not in PASSES]
        if bad_passes or not self.passes:
            raise SpecError(f"{','.join(self.passes)!r}: choose from {', '.join(PASSES)}", key="--passes")
        for option, value in (("--tokens", self.tokens), ("--hidden", self.hidden)):
            if value <= 0:
                raise SpecError(f"{option} must be positive, not {value}", key=option)
        for d in self.head_dims:
            if self.hidden % d:
                raise SpecError(f"head dim {d} does not divide the hidden size {self.hidden}", key="--head-dims")

    def points(self, kernels: list[str]) -> list[Point]:
        return [Point(kernel, pass_name, is_causal, d, self.hidden // d, max(1, self.tokens // n), n)
                for kernel in kernels for pass_name in self.passes for is_causal in self.causal
                for d in self.head_dims for n in self.seqlens]


@dataclass(frozen=True)
class Run:
    """What every point of one run shares."""

    gpu: GpuArch
    device: measure_kernels.Device
    settings: TimingSettings
    dtype: str
    flush: object  # the L2 flush buffer (a CUDA tensor)
    versions: dict = field(default_factory=dict)  # kernel -> "package=version" for its provenance


def parse_kernels(text: str) -> list[str]:
    """Kernel names from --mappings; each must be known and write a name some GPU mapping models."""
    names = list(dict.fromkeys(name.strip() for name in str(text).split(",") if name.strip()))
    unknown = [name for name in names if name not in KERNELS]
    if unknown or not names:
        raise SpecError(f"unknown kernel(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(KERNELS)}",
                        key="--mappings")
    unmodelled = [name for name in names if mapping_for_kernel(KERNELS[name].written_as) is None]
    if unmodelled:
        raise SpecError(f"no GPU mapping models {', '.join(unmodelled)} (no measured_as in mappers/gpu_presets/ lists "
                        f"{', '.join(repr(KERNELS[n].written_as) for n in unmodelled)}), so validate-gpu could not use "
                        f"its rows; modelled: {', '.join(modelled_kernels())}", key="--mappings")
    return names


def modelled_kernels() -> list[str]:
    return [name for name, kernel in KERNELS.items() if mapping_for_kernel(kernel.written_as) is not None]


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """Comma-separated positive integers; K and M suffixes (1024, 1024^2) as sequence lengths are written."""
    from workloads.zoo import parse_seq_len

    try:
        values = tuple(parse_seq_len(v.strip()) for v in str(text).split(",") if v.strip())
    except SpecError:
        raise SpecError(f"{text!r} must be comma-separated positive integers (4096 or 4K)", key=option) from None
    if not values or any(v <= 0 for v in values):
        raise SpecError(f"{text!r} must be comma-separated positive integers", key=option)
    return values


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


def resolve_gpu(device: measure_kernels.Device) -> GpuArch:
    """The GPU preset this device is, by its exact name or a declared alias; anything else is refused."""
    advice = ("add the name to the `aliases` of the preset it is in arch_models/gpu_presets/, or write a preset "
              "for it, so that its rows can be modelled")
    if looks_like_path(device.name):
        raise SpecError(f"the device name {device.name!r} is not a GPU preset name; {advice}")
    try:
        gpu = load_gpu(device.name)
    except SpecError as error:
        raise SpecError(f"this GPU, {device.name!r}, is no GPU preset ({error.message}); {advice}") from None
    if gpu.sm_count != device.sm_count:
        raise SpecError(f"this GPU, {device.name!r}, has {device.sm_count} SMs, and the preset its name resolves to, "
                        f"{gpu.name}, has {gpu.sm_count}; a partitioned (MIG) or different board needs its own preset")
    return gpu


def choose_kernels(kernels: list[str] | None, device: measure_kernels.Device) -> list[str]:
    """The kernels asked for (each one's package must be installed), or by default every modelled kernel whose
    package is installed and that runs on this GPU."""
    if kernels is None:
        return [name for name in modelled_kernels() if KERNELS[name].by_default and _runs_here(KERNELS[name], device)]
    missing = [name for name in kernels if not _installed(KERNELS[name])]
    if missing:
        raise SpecError(f"kernel(s) {', '.join(missing)} need the Python package(s) "
                        f"{', '.join(KERNELS[name].module for name in missing)}, which are not installed",
                        key="--mappings")
    return kernels


def _runs_here(kernel: Kernel, device: measure_kernels.Device) -> bool:
    return _installed(kernel) and (kernel.architectures is None or device.capability[0] in kernel.architectures)


def _installed(kernel: Kernel) -> bool:
    return kernel.module is None or measure_kernels.importable(kernel.module)


def measure(kernels: list[str] | None, grid: Grid, out, settings: TimingSettings | None = None, *,
            retry_failed: bool = False, torch=None, progress=None) -> dict:
    """Measure every point of `grid` not already in `out`, appending each row as it is measured."""
    settings = settings or TimingSettings()
    torch = torch or require_torch()
    device = measure_kernels.describe_device(torch)
    gpu = resolve_gpu(device)
    kernels = choose_kernels(kernels, device)
    log = MeasurementLog(out)
    finished = log.finished(retry_failed)
    points = [p for p in grid.points(kernels) if point_key(_configuration(p, gpu, grid.dtype)) not in finished]
    versions = {name: f"{KERNELS[name].module}={measure_kernels.package_version(KERNELS[name].module)}"
                for name in kernels if KERNELS[name].module}
    flush_bytes = max(FLUSH_BYTES, 2 * gpu.l2_bytes)
    flush = torch.empty(flush_bytes // 4, dtype=torch.int32, device="cuda")
    run = Run(gpu, device, settings, grid.dtype, flush, versions)
    rows = []
    for point in points:
        rows.append(measure_point(torch, point, run))
        log.append(rows[-1])
        if progress:
            progress(rows[-1])
        if rows[-1]["status"] == "error":
            raise SpecError(f"stopped at {_describe(point)}: {rows[-1]['reason']}; the CUDA context may be unusable. "
                            f"{len(rows) - 1} point(s) of this run were written; rerun to resume after this point "
                            f"(--retry-failed to try it again)")
    return {"gpu": gpu.name, "device": device.name, "kernels": kernels, "already_done": len(grid.points(kernels))
            - len(points), "rows": rows}


def measure_point(torch, point: Point, run: Run) -> dict:
    """One point's row: measured, or the status and reason why not. GPU memory is released afterwards."""
    launch = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            launch = measure_kernels.launcher(torch, point, run.dtype)
            row = _row(point, run, "ok", timing=bench(launch, torch, run.flush, run.settings))
        except Exception as error:  # every failure becomes a row; the caller stops on status "error"
            status = failure_status(error, torch)
            row = _row(point, run, status, reason=_reason(error, status, caught))
    del launch  # the inputs and any graph of a backward pass, before emptying the allocator's cache
    gc.collect()
    torch.cuda.empty_cache()
    return row


def failure_status(error: Exception, torch) -> str:
    """`oom`, `unsupported` (the kernel refused the configuration) or `error` (anything else)."""
    text = str(error).lower()
    out_of_memory = getattr(torch.cuda, "OutOfMemoryError", ())
    if isinstance(error, out_of_memory) or any(word in text for word in OOM_WORDS):
        return "oom"
    if isinstance(error, measure_kernels.Unsupported | NotImplementedError) or any(w in text for w in REFUSAL_WORDS):
        return "unsupported"
    return "error"


def _reason(error: Exception, status: str, caught: list) -> str:
    """One line: the error's first line, and for a refusal the warnings that say why (SDPA explains there)."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if status == "error":
        text = f"{type(error).__name__}: {text}"
    if status == "unsupported":
        said = dict.fromkeys(" ".join(str(w.message).split()) for w in caught)
        text = " | ".join([text, *said])
    return text[:500]


def _configuration(point: Point, gpu: GpuArch, dtype: str) -> dict:
    return {"gpu": gpu.name, "kernel": KERNELS[point.kernel].written_as, "pass": point.passes, "causal": point.causal,
            "headdim": point.head_dim, "nheads_q": point.heads, "nheads_kv": point.heads, "batch": point.batch,
            "seqlen_q": point.seqlen, "seqlen_kv": point.seqlen, "dtype": dtype}


def _row(point: Point, run: Run, status: str, timing: Timing | None = None, reason: str = "") -> dict:
    provenance = "; ".join(filter(None, [run.device.provenance(), run.versions.get(point.kernel)]))
    measured = timing is not None
    return {**_configuration(point, run.gpu, run.dtype), "value": _significant(timing.median_ms) if measured else "",
            "unit": "ms", "source": f"cascade measure-gpu --mappings {point.kernel} ({date.today().isoformat()})",
            "provenance": provenance, "status": status, "reason": reason, "timing": timing.method() if measured else "",
            "p20_ms": _significant(timing.p20_ms) if measured else "",
            "p80_ms": _significant(timing.p80_ms) if measured else ""}


def _significant(value: float) -> float:
    return float(f"{value:.6g}")


def _describe(point: Point) -> str:
    return (f"{point.kernel} {point.passes} causal={point.causal} d={point.head_dim} batch={point.batch} "
            f"seqlen={point.seqlen}")
