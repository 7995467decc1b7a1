"""Unfused attention (standard PyTorch): separate kernels with the M x P scores going through HBM.

The chain follows the reference implementation the FlashAttention benchmarks time
(`flash_attn/utils/benchmark.py::attention_pytorch`): Q and K are rearranged to (batch x heads)-major
and einsum reshapes V likewise (`layout_copies`; a copy unless the reshape is a view, see
`needs_layout_copy`; the copy reads a strided view, so it takes PyTorch's non-vectorized path); a
batched GEMM writes the scaled scores S; for causal attention an N x N additive mask is built (full
fp32, triu, cast to 16 bits) and added to S; a row softmax writes P; a batched GEMM computes P x V.
Decode baselines that expand grouped K/V heads (`gqa: expand`) first copy K and V to every query head.
GEMMs use the mapping's tile (cuBLAS-like), rows shrunk to the smallest multiple of 16 that covers a
short M (a GEMV for one query token). Elementwise kernels follow PyTorch's two paths: vectorized for
contiguous operands, per-element offsets for strided or broadcast ones.
"""

from __future__ import annotations

import math

import numpy as np

from arch_models.gpu import GpuArch
from mappers.gpu_kernels import GpuMapping
from mappers.gpu_space import TileFlags, tile_resources
from simulator.gpu.attention import ELEMENT, AttentionProblem
from simulator.gpu.model import Phase

K_STEP = 64  # reduction depth of one GEMM main-loop iteration
VECTOR_THREADS, VECTOR_ELEMENTS = 128, 8  # PyTorch vectorized elementwise: 16-byte vectors of 16-bit values
FALLBACK_THREADS = 128  # PyTorch's non-vectorized (offset-calculator) elementwise path
FALLBACK_INDEX_OPS = 22  # per element: one divmod (~5 integer ops) per coalesced dim (2) + 2 per operand per dim (3)
# Global memory is moved between L2 and the SMs in 32-byte sectors (CUDA C++ Best Practices Guide, "Coalesced
# Access to Global Memory": a warp's accesses are serviced by as many 32-byte transactions as sectors they touch).
# A copy that transposes reads neighbouring output elements from addresses a whole row apart: one sector each.
SECTOR_BYTES = 32


def unfused_phases(mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem, family: str):
    b, h, nq, nk = problem.batch, problem.heads, problem.seqlen_q, problem.seqlen_kv
    d, dv, score = problem.head_dim, problem.head_dim_v, mapping.unfused.score_bytes
    instances, scores = b * h, b * h * nq * nk
    phases: list[Phase] = []
    if mapping.unfused.gqa == "expand" and problem.group > 1:
        kv = b * problem.kv_heads * nk * (d + dv)
        phases.append(elementwise("expand K/V to query heads", gpu, b * h * nk * (d + dv), read_bytes=kv * ELEMENT,
                                  write_bytes=b * h * nk * (d + dv) * ELEMENT, ops=0, vectorized=False))
    kv_heads = h if mapping.unfused.gqa == "expand" else problem.kv_heads  # copies come after the expansion
    sizes = {"q": b * h * nq * d, "k": b * kv_heads * nk * d, "v": b * kv_heads * nk * dv, "o": b * h * nq * dv}
    lengths = {"q": nq, "k": nk, "v": nk, "o": nq}
    for tensor in mapping.unfused.layout_copies:
        if needs_layout_copy(b, lengths[tensor]):
            transposed = tensor in mapping.unfused.transposed_copies
            phases.append(elementwise(f"copy {tensor.upper()} to (batch x heads)-major" + (", transposed" if transposed
                                      else ""), gpu, sizes[tensor], sizes[tensor] * ELEMENT, sizes[tensor] * ELEMENT,
                                      ops=0, vectorized=False, sector_reads=transposed))
    q_bytes, k_bytes = instances * nq * d * ELEMENT, instances * nk * d * ELEMENT
    phases.append(gemm("scores S = Q K^T", mapping, gpu, problem, family, instances, nq, nk, d,
                       input_bytes=q_bytes + k_bytes, output_bytes=scores * score))
    if problem.causal and mapping.unfused.causal_mask == "materialized-add":
        square = nq * nk
        phases += [elementwise("mask: full", gpu, square, 0, 4 * square, ops=0),
                   elementwise("mask: triu", gpu, square, 4 * square, 4 * square, ops=1),
                   elementwise("mask: cast", gpu, square, 4 * square, 2 * square, ops=1)]
        mask_reads = square * ELEMENT * (1 if square * ELEMENT <= gpu.l2_bytes / 2 else instances)
        phases.append(elementwise("mask: S + mask (broadcast)", gpu, scores, scores * score + mask_reads,
                                  scores * score, ops=1, vectorized=False))
    passes = mapping.unfused.softmax_passes
    phases.append(elementwise("softmax P = softmax(S)", gpu, scores, passes * scores * score, scores * ELEMENT, ops=4,
                              exps=1, row_length=nk))
    phases.append(gemm("output O = P V", mapping, gpu, problem, family, instances, nq, dv, nk,
                       input_bytes=scores * ELEMENT + instances * nk * dv * ELEMENT,
                       output_bytes=instances * nq * dv * ELEMENT))
    tile = mapping.tile_for(d, gpu, problem.causal)
    info = {"tile": {"br": tile.br, "bc": tile.bc, "warps": tile.warps, "stages": tile.stages}, "family": family,
            "splits": 1, "kernels": [p.name for p in phases], "score_bytes_through_hbm": float(2 * scores * score)}
    return phases, info


def needs_layout_copy(batch: int, length: int) -> bool:
    """Whether reshaping a (batch, length, heads, dim) tensor to (batch x heads, length, dim) copies it: torch's
    reshape returns a view when the batch and heads dims can be merged, i.e. when there is one batch or one
    row per head (checked with torch 2.13's profiler: no aten::clone at batch 1, one per tensor at batch 2)."""
    return batch > 1 and length > 1


def gemm(name: str, mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem, family: str, batch: int, rows: int,
         cols: int, depth: int, input_bytes: float, output_bytes: float) -> Phase:
    """A batched GEMM (rows x depth) x (depth x cols): one block per output tile, K_STEP-deep iterations; the
    inputs stream through the iterations, the output tile is written after the last one."""
    tile = mapping.tile_for(problem.head_dim, gpu, problem.causal)
    br = min(tile.br, 16 * math.ceil(rows / 16))
    if family == "wgmma":
        br = max(br, 64)
    bc = min(tile.bc, 16 * math.ceil(cols / 16))
    flags = TileFlags(family)
    warps = max(4, min(tile.warps, 4 * (br // 64)) if family == "wgmma" else min(tile.warps, max(1, br // 16)))
    resources = tile_resources(gpu, flags, K_STEP, 0, [br], [bc], [warps], [tile.stages])
    blocks_per_sm = max(1, int(resources["blocks_per_sm"][0]))
    blocks = batch * math.ceil(rows / br) * math.ceil(cols / bc)
    steps = math.ceil(depth / K_STEP)
    incoming = (br + bc) * K_STEP * ELEMENT
    return Phase(
        name=name, family=family, tiles_per_block=np.full(blocks, steps, dtype=np.int64),
        masked_per_block=np.zeros(blocks, dtype=np.int64), blocks_per_sm=blocks_per_sm,
        # no L2 -> SM term: the tile is an assumed cuBLAS-like one, and Hopper's cuBLAS multicasts operand
        # tiles to clusters of blocks (TMA), so per-block L2 reads are not known from this tile
        tensor_fma=float(br * bc * K_STEP), shared_bytes=float(2 * incoming), hbm_bytes=float(input_bytes),
        epilogue_bytes=float(output_bytes) / blocks,
        first_load_bytes=float(incoming), epilogue_sfu_ops=float(br * bc), epilogue_fp32_ops=float(br * bc),
        stages=tile.stages, inflight_bytes_per_block=float(tile.stages * incoming))


def elementwise(name: str, gpu: GpuArch, elements: float, read_bytes: float, write_bytes: float, ops: float,
                exps: float = 0.0, row_length: int | None = None, vectorized: bool = True,
                sector_reads: bool = False) -> Phase:
    """A kernel over `elements`: `ops` FP32 ops and `exps` exponentials per element, one conversion per element
    written in 16 bits. PyTorch's vectorized path (contiguous operands) keeps `VECTOR_ELEMENTS` elements per
    thread in flight; its fallback for strided or broadcast operands (`vectorized=False`) computes each
    element's offsets (integer divmods) and then loads it, so a thread has one element in flight and the
    kernel is bound by memory latency (loads in flight / latency), not bandwidth. With `sector_reads` (a
    transposing copy) every element read moves a whole `SECTOR_BYTES` sector from L2 to the SM; HBM still
    sees each byte once, since the sector's other elements are read from L2 by the neighbouring rows."""
    threads = VECTOR_THREADS if vectorized else FALLBACK_THREADS
    per_thread = VECTOR_ELEMENTS if vectorized else 1
    blocks = max(1, math.ceil(elements / (threads * per_thread * 4)))
    per_block = elements / blocks
    bytes_per_element = (read_bytes + write_bytes) / max(elements, 1)
    notes = (f"rows of {row_length} elements",) if row_length else ()
    index_ops = 0.0 if vectorized else FALLBACK_INDEX_OPS
    return Phase(
        name=name, family=None, tiles_per_block=np.ones(blocks, dtype=np.int64),
        masked_per_block=np.zeros(blocks, dtype=np.int64),
        blocks_per_sm=min(gpu.max_blocks_per_sm, gpu.max_warps_per_sm * 32 // threads),
        sfu_ops=per_block * (exps + (1.0 if write_bytes else 0.0)), fp32_ops=per_block * ops,
        alu_ops=per_block * index_ops, hbm_bytes=float(read_bytes + write_bytes), stages=1,
        l2_bytes=per_block * SECTOR_BYTES if sector_reads else 0.0,
        inflight_bytes_per_block=threads * per_thread * bytes_per_element, notes=notes)


def unfused_backward_phases(mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem, family: str):
    """Autograd of the chain above: dP = dO V^T and dV = P^T dO (the benchmark's dO is `randn_like(O)`, which
    keeps O's (batch x heads)-major strides, so no copy precedes them); the softmax backward
    dS = P (dP - rowsum(dP P)) (reads P and dP, writes dS); the mask add passes the gradient through;
    dQ = dS K and dK = dS^T Q (each reads dS), then multiplied by the softmax scale in kernels of their own
    (`scaled_grads`: baddbmm's backward scales the product by alpha); the layout copies' gradients are
    copied back (unbind's backward stacks them)."""
    b, h, nq, nk = problem.batch, problem.heads, problem.seqlen_q, problem.seqlen_kv
    d, dv, score = problem.head_dim, problem.head_dim_v, mapping.unfused.score_bytes
    instances, scores = b * h, b * h * nq * nk
    small = {"q": instances * nq * d, "k": instances * nk * d, "v": instances * nk * dv, "o": instances * nq * dv}
    phases = [
        gemm("backward: dP = dO V^T", mapping, gpu, problem, family, instances, nq, nk, dv,
             input_bytes=(small["o"] + small["v"]) * ELEMENT, output_bytes=scores * score),
        gemm("backward: dV = P^T dO", mapping, gpu, problem, family, instances, nk, dv, nq,
             input_bytes=scores * ELEMENT + small["o"] * ELEMENT, output_bytes=small["v"] * ELEMENT),
        elementwise("backward: softmax dS", gpu, scores, 2 * scores * score, scores * score, ops=4, row_length=nk),
        gemm("backward: dQ = dS K", mapping, gpu, problem, family, instances, nq, d, nk,
             input_bytes=scores * score + small["k"] * ELEMENT, output_bytes=small["q"] * ELEMENT),
        gemm("backward: dK = dS^T Q", mapping, gpu, problem, family, instances, nk, d, nq,
             input_bytes=scores * score + small["q"] * ELEMENT, output_bytes=small["k"] * ELEMENT),
    ]
    for tensor in mapping.unfused.scaled_grads:
        size = small[tensor]
        phases.append(elementwise(f"backward: d{tensor.upper()} times the softmax scale", gpu, size, size * ELEMENT,
                                  size * ELEMENT, ops=1))
    for tensor in mapping.unfused.layout_copies:  # unbind's backward stacks dQ, dK, dV into the packed gradient;
        size = small[tensor]  # their (batch x heads)-major layouts are strided views of it: PyTorch's offset path
        phases.append(elementwise(f"backward: copy d{tensor.upper()} back", gpu, size, size * ELEMENT, size * ELEMENT,
                                  ops=0, vectorized=False, sector_reads=tensor in mapping.unfused.transposed_copies))
    return phases, {"kernels": [p.name for p in phases]}
