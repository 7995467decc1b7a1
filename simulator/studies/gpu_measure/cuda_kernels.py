"""What `cascade measure-gpu` asks of torch and the kernel packages: the launches and the device description.

Everything goes through the `torch` module object it is handed (the tests hand it a fake one) and through
`importlib` for the kernel packages (`flash_attn`, FlashAttention-3's `flash_attn_interface`), so no import
here needs torch or a GPU.

A launcher allocates Q, K, V once, in the layout its kernel takes (batch, heads, sequence, head dim for
SDPA and FlexAttention; batch, sequence, heads, head dim for the flash_attn packages), and returns a
`Launch`: `run` does one pass (forward; forward then backward with a ones gradient; or backward alone, over
the graph of one untimed forward kept with `retain_graph`), `reset` drops the gradients between timed runs.
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

DTYPES = {"fp16": "float16", "bf16": "bfloat16"}
SDPA_BACKENDS = {"sdpa-flash": "FLASH_ATTENTION", "sdpa-efficient": "EFFICIENT_ATTENTION",
                 "sdpa-cudnn": "CUDNN_ATTENTION", "sdpa-math": "MATH"}
FLASH_ATTN_MODULES = {"fa2": "flash_attn", "fa3": "flash_attn_interface"}
HOPPER = 9  # compute capability major version of sm_90, the only target of flash_attn_interface


class Unsupported(Exception):
    """The kernel cannot run this configuration on this device or with this software (found before launching)."""


@dataclass(frozen=True, slots=True)
class Launch:
    run: Callable[[], None]
    reset: Callable[[], None]


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    sm_count: int
    capability: tuple[int, int]
    driver: str
    cuda: str
    torch: str
    cudnn: str

    def provenance(self) -> str:
        return (f"device={self.name}; sms={self.sm_count}; sm={self.capability[0]}{self.capability[1]}; "
                f"driver={self.driver}; cuda={self.cuda}; torch={self.torch}; cudnn={self.cudnn}")


def describe_device(torch) -> Device:
    properties = torch.cuda.get_device_properties(0)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return Device(name=properties.name, sm_count=properties.multi_processor_count,
                  capability=tuple(torch.cuda.get_device_capability(0)), driver=driver_version(),
                  cuda=str(torch.version.cuda), torch=str(torch.__version__), cudnn=str(cudnn))


def driver_version() -> str:
    """The NVIDIA driver's version through NVML (the `nvidia-ml-py` package), else nvidia-smi, else 'unknown'."""
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # no NVML binding or library: fall back to the command line tool
        pass
    try:
        result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=True)
        return result.stdout.split()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def package_version(module: str) -> str:
    """`module.__version__`, else the version of the distribution that installs it (FA3 has no __version__)."""
    version = getattr(importlib.import_module(module), "__version__", None)
    if version is None:
        distributions = metadata.packages_distributions().get(module.split(".")[0], [])
        version = metadata.version(distributions[0]) if distributions else "unknown"
    return str(version)


def launcher(torch, point, dtype: str) -> Launch:
    attention = _attention(torch, point)
    heads_before_sequence = point.kernel not in FLASH_ATTN_MODULES
    shape = ((point.batch, point.heads, point.seqlen, point.head_dim) if heads_before_sequence
             else (point.batch, point.seqlen, point.heads, point.head_dim))
    backward = point.passes != "fwd"
    q, k, v = (torch.randn(shape, device="cuda", dtype=getattr(torch, DTYPES[dtype]), requires_grad=backward)
               for _ in range(3))
    if not backward:
        return Launch(run=lambda: attention(q, k, v), reset=lambda: None)
    gradient = torch.ones_like(q)

    def reset():
        q.grad = k.grad = v.grad = None

    if point.passes == "fwd+bwd":
        return Launch(run=lambda: attention(q, k, v).backward(gradient), reset=reset)
    out = attention(q, k, v)
    return Launch(run=lambda: out.backward(gradient, retain_graph=True), reset=reset)


def _attention(torch, point) -> Callable:
    if point.kernel in FLASH_ATTN_MODULES:
        return _flash_attn(torch, point)
    if point.kernel == "triton":
        return _flex_attention(torch, point)
    functional = torch.nn.functional
    if point.kernel == "sdpa-default":
        return lambda q, k, v: functional.scaled_dot_product_attention(q, k, v, is_causal=point.causal)
    backend = getattr(torch.nn.attention.SDPBackend, SDPA_BACKENDS[point.kernel], None)
    if backend is None:
        raise Unsupported(f"torch {torch.__version__} has no SDPBackend.{SDPA_BACKENDS[point.kernel]}")

    def run(q, k, v):
        with torch.nn.attention.sdpa_kernel(backend):
            return functional.scaled_dot_product_attention(q, k, v, is_causal=point.causal)

    return run


def _flash_attn(torch, point) -> Callable:
    major, minor = torch.cuda.get_device_capability(0)
    if point.kernel == "fa3" and major != HOPPER:
        raise Unsupported(f"FlashAttention-3 (flash_attn_interface) runs on Hopper (sm_90) only; this GPU is "
                          f"sm_{major}{minor}")
    function = importlib.import_module(FLASH_ATTN_MODULES[point.kernel]).flash_attn_func

    def run(q, k, v):
        out = function(q, k, v, causal=point.causal)
        return out[0] if isinstance(out, tuple) else out  # some FA3 releases also return the log-sum-exp

    return run


def _flex_attention(torch, point) -> Callable:
    try:  # a submodule `import torch` does not load
        flex = getattr(torch.nn.attention, "flex_attention", None) or importlib.import_module(
            "torch.nn.attention.flex_attention")
    except ImportError:
        raise Unsupported(f"kernel 'triton' needs FlexAttention (torch >= 2.5); this is torch {torch.__version__}") \
            from None
    compiled = torch.compile(flex.flex_attention)
    mask = flex.create_block_mask(lambda b, h, q_idx, kv_idx: q_idx >= kv_idx, None, None, point.seqlen,
                                  point.seqlen) if point.causal else None
    return lambda q, k, v: compiled(q, k, v, block_mask=mask)
