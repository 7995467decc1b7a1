"""The backward pass as kernel phases: FlashAttention-2's (fused) or the unfused chain's autograd kernels.

Fused (FA2 paper Alg. 2; flash_bwd_kernel.h): a preprocessing kernel computes D = rowsum(dO * O) and
clears the fp32 dQ accumulator; the main kernel gives each block Bc keys and walks the Br-query tiles that
see them (causal: only tiles on or below the diagonal). Per tile: 5 products, S = Q K^T, dV += P^T dO,
dP = dO V^T, dK += dS^T Q and dQ += dS K (Br.Bc.(3 D + 2 Dv) FMAs); P = exp(S - LSE) and its conversion
and dS's conversion to 16 bits (3 special-function results per score); dS = P (dP - D) and the scale (3
FP32 ops per score); dQ added to the fp32 buffer with atomics in L2 (Br.D per tile). Shared memory per
tile: every product's operands read twice (the warps split each product two ways), P and dS written
once, the incoming Q and dO tiles. A last kernel converts dQ to 16 bits.
"""

from __future__ import annotations

import math

import numpy as np

from arch_models.gpu import GpuArch
from einsum_cascade.errors import SpecError
from mappers.gpu_kernels import GpuMapping
from mappers.gpu_space import backward_tile_resources
from simulator.gpu.attention import ELEMENT, AttentionProblem, tile_grid
from simulator.gpu.model import Phase
from simulator.gpu.unfused import elementwise, unfused_backward_phases

OPERAND_READS = 2


def backward_phases(mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem, family: str):
    if mapping.kind == "unfused":
        return unfused_backward_phases(mapping, gpu, problem, family)
    if mapping.kind != "fused":
        raise SpecError(f"mapping {mapping.name!r} ({mapping.kind}) has no backward pass", source=mapping.source,
                        key="kind")
    tile = mapping.tile_for(problem.head_dim, gpu, problem.causal, backward=True)
    d, dv, br, bc = problem.head_dim, problem.head_dim_v, tile.br, tile.bc
    resources = backward_tile_resources(gpu, d, dv, br, bc, tile.warps, tile.stages)
    if resources["reason"]:
        raise SpecError(f"mapping {mapping.name!r}: backward tile {br}x{bc} does not fit {gpu.name}: "
                        f"{resources['reason']}", source=mapping.source, key="backward_tiles")
    needed, partial = tile_grid(problem, br, bc, mapping.masking)
    instances = problem.batch * problem.heads
    tiles = np.tile(needed.sum(axis=0), instances).astype(np.int64)
    masked = np.tile(partial.sum(axis=0), instances).astype(np.int64)
    rows, keys = problem.batch * problem.heads * problem.seqlen_q, problem.batch * problem.kv_heads * problem.seqlen_kv
    scores = br * bc
    operands = 3 * scores + 2 * br * d + 2 * bc * d + 2 * br * dv + bc * dv
    incoming = br * (d + dv) * ELEMENT
    hbm = (rows * (d + dv) * ELEMENT + rows * 8  # Q, dO, LSE, D once per head (L2 keeps them for the key blocks)
           + keys * (d + dv) * ELEMENT * 2  # K, V read, dK, dV written
           + rows * d * 4)  # the fp32 dQ accumulator written back from L2
    main = Phase(
        name="attention backward", family=family, tiles_per_block=tiles, masked_per_block=masked,
        blocks_per_sm=int(resources["blocks_per_sm"]), tensor_fma=float(scores * (3 * d + 2 * dv)),
        sfu_ops=3.0 * scores, fp32_ops=3.0 * scores + br * d, shared_bytes=float(
            ELEMENT * (OPERAND_READS * operands + 2 * scores) + incoming),
        mask_alu_ops=2.0 * scores, hbm_bytes=float(hbm), l2_bytes=float(incoming + br * d * 4),  # + dQ atomics
        first_load_bytes=float(incoming + bc * (d + dv) * ELEMENT),
        epilogue_fp32_ops=float(bc * (d + dv)), epilogue_sfu_ops=float(bc * (d + dv)), stages=tile.stages,
        inflight_bytes_per_block=float(tile.stages * incoming))
    preprocess = elementwise("backward: D = rowsum(dO * O), clear dQ", gpu, rows * dv, rows * dv * 2 * ELEMENT,
                             rows * 4 + rows * d * 4, ops=2)
    convert = elementwise("backward: dQ to 16 bits", gpu, rows * d, rows * d * 4, rows * d * ELEMENT, ops=1)
    info = {"tile": {"br": br, "bc": bc, "warps": tile.warps, "stages": tile.stages},
            "blocks_per_sm": int(resources["blocks_per_sm"]), "grid_blocks": int(len(tiles)),
            "key_blocks_per_head": math.ceil(problem.seqlen_kv / bc)}
    return [preprocess, main, convert], info
