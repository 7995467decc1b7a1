"""The kernel launches of `cascade measure-gpu` (imported only once torch and a CUDA device are present).

Each launcher allocates Q, K, V (batch, heads, seqlen, head dim) once and returns a closure that runs the
kernel (forward, or forward and backward with a ones gradient). Not exercised by the test-suite: it needs
a GPU.
"""

from __future__ import annotations

from einsum_cascade.errors import SpecError

DTYPES = {"fp16": "float16", "bf16": "bfloat16"}


def sm_clock_mhz(torch) -> str:
    """Current SM clock through NVML when available (torch.cuda.clock_rate), else 'unknown'."""
    try:
        return str(torch.cuda.clock_rate())
    except Exception:  # NVML missing: the clock is not essential to the timing
        return "unknown"


def launcher(torch, point, dtype: str):
    shape = (point.batch, point.heads, point.seqlen, point.head_dim)
    kind = getattr(torch, DTYPES[dtype])
    backward = point.passes == "fwd+bwd"
    q, k, v = (torch.randn(shape, device="cuda", dtype=kind, requires_grad=backward) for _ in range(3))
    attention = _attention(torch, point)

    def run():
        out = attention(q, k, v)
        if backward:
            out.backward(torch.ones_like(out))

    return run


def _attention(torch, point):
    import torch.nn.functional as functional

    if point.kernel == "triton":
        try:
            from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        except ImportError:
            raise SpecError(f"kernel 'triton' needs torch >= 2.5 (FlexAttention); this is torch {torch.__version__}",
                            key="--kernels") from None
        compiled = torch.compile(flex_attention)
        mask = create_block_mask(lambda b, h, q_idx, kv_idx: q_idx >= kv_idx, None, None, point.seqlen,
                                 point.seqlen) if point.causal else None
        return lambda q, k, v: compiled(q, k, v, block_mask=mask)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"sdpa-flash": SDPBackend.FLASH_ATTENTION, "sdpa-efficient": SDPBackend.EFFICIENT_ATTENTION,
               "sdpa-math": SDPBackend.MATH}[point.kernel]

    def run(q, k, v):
        with sdpa_kernel(backend):
            return functional.scaled_dot_product_attention(q, k, v, is_causal=point.causal)

    return run
