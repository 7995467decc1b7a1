"""A fake `torch` (and `torch.cuda`) for running `cascade measure-gpu` on the CPU.

It records every call that matters to the measurement (`FakeGpu.calls`) and keeps a device clock in
milliseconds: a kernel launch (an attention call, a backward pass, the L2 flush) moves the clock on by the
duration the test's `script` gives it, and a CUDA event reads the clock when it is recorded, so the times
the measurement sees are fixed by the test. `script(call)` returns that duration or raises the error the
real kernel would (an out-of-memory error, a refusal).
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass, field


class OutOfMemoryError(RuntimeError):
    """torch.cuda.OutOfMemoryError (a RuntimeError, as in torch)."""


@dataclass
class Call:
    """One kernel launch: what ran and on which inputs."""

    kernel: str  # "sdpa:<backend>" (None: the default), "flash_attn", "flash_attn_interface", "backward", "flush"
    shape: tuple = ()
    causal: bool = False


@dataclass
class FakeGpu:
    script: object  # Call -> milliseconds (or raises)
    name: str = "NVIDIA H100 80GB HBM3"
    sm_count: int = 132
    capability: tuple = (9, 0)
    flush_ms: float = 0.5
    clock_ms: float = 0.0
    calls: list = field(default_factory=list)  # Call, or a str for the non-kernel calls ("record", "empty_cache")
    backend: str | None = None  # the SDPA backend sdpa_kernel() has selected
    accumulated: list = field(default_factory=list)  # per backward pass: did it add to existing gradients?

    def launch(self, call: Call) -> None:
        self.calls.append(call)
        self.clock_ms += self.flush_ms if call.kernel == "flush" else self.script(call)

    def kernel_calls(self) -> list[Call]:
        return [c for c in self.calls if isinstance(c, Call) and c.kernel != "flush"]


class FakeTensor:
    def __init__(self, gpu: FakeGpu, shape: tuple, dtype: str, requires_grad: bool = False, causal: bool = False):
        self.gpu, self.shape, self.dtype, self.causal = gpu, tuple(shape), dtype, causal
        self.requires_grad, self.grad = requires_grad, None
        self.inputs = ()  # the tensors an attention output was computed from

    def zero_(self):
        self.gpu.launch(Call("flush", self.shape))
        return self

    def numel(self) -> int:
        count = 1
        for n in self.shape:
            count *= n
        return count

    def element_size(self) -> int:
        return {"int32": 4, "float16": 2, "bfloat16": 2}[self.dtype]

    def backward(self, gradient=None, retain_graph=False):
        self.gpu.launch(Call("backward", self.shape, self.causal))
        self.gpu.accumulated.append(any(t.grad is not None for t in self.inputs))  # was a gradient added to?
        for t in self.inputs:
            t.grad = "gradient"


class FakeEvent:
    def __init__(self, gpu: FakeGpu, enable_timing: bool = False):
        assert enable_timing
        self.gpu, self.at = gpu, None

    def record(self):
        self.gpu.calls.append("record")
        self.at = self.gpu.clock_ms

    def synchronize(self):
        pass

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.at - self.at


def fake_torch(gpu: FakeGpu, version: str = "2.5.1", cuda: str = "12.4", cudnn: int = 90100) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.__version__ = version
    torch.version = types.SimpleNamespace(cuda=cuda)
    torch.float16, torch.bfloat16, torch.int32 = "float16", "bfloat16", "int32"

    def tensor(*shape, dtype, device, requires_grad=False):
        assert device == "cuda"
        return FakeTensor(gpu, shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape, dtype,
                          requires_grad)

    torch.randn = torch.empty = tensor
    torch.ones_like = lambda t: FakeTensor(gpu, t.shape, t.dtype)

    def attention(q, k, v, is_causal=False):
        gpu.launch(Call(f"sdpa:{gpu.backend}", q.shape, is_causal))
        out = FakeTensor(gpu, q.shape, q.dtype, causal=is_causal)
        out.inputs = (q, k, v)
        return out

    @contextlib.contextmanager
    def sdpa_kernel(backend):
        gpu.backend = backend
        try:
            yield
        finally:
            gpu.backend = None

    backends = types.SimpleNamespace(FLASH_ATTENTION="FLASH_ATTENTION", EFFICIENT_ATTENTION="EFFICIENT_ATTENTION",
                                     CUDNN_ATTENTION="CUDNN_ATTENTION", MATH="MATH")
    torch.nn = types.SimpleNamespace(functional=types.SimpleNamespace(scaled_dot_product_attention=attention),
                                     attention=types.SimpleNamespace(SDPBackend=backends, sdpa_kernel=sdpa_kernel))
    cudnn_module = types.SimpleNamespace(is_available=lambda: True, version=lambda: cudnn)
    torch.backends = types.SimpleNamespace(cudnn=cudnn_module)
    torch.cuda = types.SimpleNamespace(
        is_available=lambda: True, OutOfMemoryError=OutOfMemoryError,
        get_device_properties=lambda index: types.SimpleNamespace(name=gpu.name, multi_processor_count=gpu.sm_count),
        get_device_capability=lambda index: gpu.capability,
        Event=lambda enable_timing=False: FakeEvent(gpu, enable_timing),
        synchronize=lambda: gpu.calls.append("synchronize"), empty_cache=lambda: gpu.calls.append("empty_cache"))
    return torch


def fake_flash_attn(gpu: FakeGpu, module: str, version: str | None = None) -> types.ModuleType:
    """`flash_attn` (FA2) or `flash_attn_interface` (FA3, which returns (out, lse) in some releases)."""
    package = types.ModuleType(module)
    if version:
        package.__version__ = version

    def flash_attn_func(q, k, v, causal=False):
        gpu.launch(Call(module, q.shape, causal))
        out = FakeTensor(gpu, q.shape, q.dtype, causal=causal)
        out.inputs = (q, k, v)
        return (out, None) if module == "flash_attn_interface" else out

    package.flash_attn_func = flash_attn_func
    return package


def fake_pynvml(driver: str) -> types.ModuleType:
    pynvml = types.ModuleType("pynvml")
    pynvml.nvmlInit = lambda: None
    pynvml.nvmlSystemGetDriverVersion = lambda: driver
    return pynvml
