"""Attention on a GPU as kernel phases: what each block of a mapping does, tile by tile.

`AttentionProblem` is one measured or simulated point (batch, heads, K/V heads, query and key lengths,
head dims, causal, pass). `simulator.gpu.simulate.build_phases(mapping, gpu, problem)` turns a `GpuMapping`
into the kernel launches the model times: one fused kernel (FlashAttention-2/-3 style), split-KV decoding plus its
combine kernel, or the unfused chain (scores GEMM, mask, softmax, output GEMM; `unfused.py`).

What a fused kernel does per tile of Br queries x Bc keys is derived from the cascade its key loop computes
(`simulator.gpu.cascade_work`; the whole tile, even where rows are padding or masked), plus 2 compare/select
ops per element of a partial (masked) tile per sweep. For the FlashAttention-2 cascade: Br.Bc.(D + Dv) tensor
FMAs, Br.Bc exp and Br.Bc FP32->16-bit conversions of P and Br exp of the rescale factor (special-function
pipe), Br.Bc scale-and-subtract FMAs, Br.Bc row-sum adds, Br.Dv output rescales and 2 Br rescales of the row
sum and the max difference (FP32), Br.Bc row-max compares (ALU); once per block Br.Dv multiplies by Br
reciprocals of the row sum and Br.Dv conversions of the output. A cascade's masks (windows, block-sparse)
skip or mask tiles like causal attention (`tile_grid`); a P-pass cascade streams K/V P times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arch_models.gpu import GpuArch
from einsum_cascade.errors import SpecError
from mappers.gpu_kernels import GpuMapping, TileChoice
from mappers.gpu_space import ELEMENT_BYTES as ELEMENT  # bytes of a 16-bit value
from mappers.gpu_space import ROW_STATISTICS, TileFlags, tile_resources
from simulator.gpu.cascade_work import evaluate, mapping_tile_work, mask_tile_bounds
from simulator.gpu.model import Phase

PASSES = ("fwd", "bwd", "fwd+bwd", "decode")
BACKWARD_FLOPS = 2.5  # backward FLOPs per forward FLOP as the published benchmarks count them (REFERENCE.md §2)


@dataclass(frozen=True)
class AttentionProblem:
    batch: int
    heads: int
    kv_heads: int
    seqlen_q: int
    seqlen_kv: int
    head_dim: int
    head_dim_v: int
    causal: bool = False
    passes: str = "fwd"
    dtype: str = "fp16"
    pair_density: float = 1.0  # fraction of query-key pairs a cascade's masks keep (windows, block-sparse)

    def __post_init__(self):
        for key in ("batch", "heads", "kv_heads", "seqlen_q", "seqlen_kv", "head_dim", "head_dim_v"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SpecError(f"{key} = {value!r} must be a positive integer")
        if self.heads % self.kv_heads:
            raise SpecError(f"heads = {self.heads} must be a multiple of kv_heads = {self.kv_heads}")
        if self.passes not in PASSES:
            raise SpecError(f"pass {self.passes!r} is not one of: {', '.join(PASSES)}")
        if not 0 < self.pair_density <= 1:
            raise SpecError(f"pair_density = {self.pair_density!r} must be in (0, 1]")

    @property
    def group(self) -> int:
        return self.heads // self.kv_heads

    def flops(self) -> float:
        """FLOPs as the published benchmarks count them (REFERENCE.md §2): 2 products of 2 FLOPs per FMA,
        halved for causal, and likewise scaled by the fraction of pairs a cascade's masks keep; backward = 2.5 x
        forward, forward+backward = 3.5 x forward."""
        forward = 2.0 * self.batch * self.heads * self.seqlen_q * self.seqlen_kv * (self.head_dim + self.head_dim_v)
        forward *= (0.5 if self.causal else 1.0) * self.pair_density
        return forward * {"bwd": BACKWARD_FLOPS, "fwd+bwd": 1.0 + BACKWARD_FLOPS}.get(self.passes, 1.0)


def mapping_flags(mapping: GpuMapping, family: str) -> TileFlags:
    return TileFlags(family, mapping.producer_warpgroup, mapping.q_in_registers, mapping.p_through_shared)


def fused_phases(mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem, family: str,
                 tile: TileChoice | None = None, splits: int | None = None) -> tuple[list[Phase], dict]:
    tile = tile or mapping.tile_for(problem.head_dim, gpu, problem.causal)
    work = mapping_tile_work(mapping, problem)
    resources = tile_resources(gpu, mapping_flags(mapping, family), problem.head_dim, problem.head_dim_v,
                               [tile.br], [tile.bc], [tile.warps], [tile.stages], kernel_state(work))
    reason = str(resources["reason"][0])
    if reason:
        raise SpecError(f"mapping {mapping.name!r}: tile {tile.br}x{tile.bc}, {tile.warps} warps, {tile.stages} "
                        f"stages does not fit {gpu.name}: {reason}{state_note(work, problem)}", source=mapping.source,
                        key="tiles")
    blocks_per_sm = int(resources["blocks_per_sm"][0])
    rows, heads = rows_and_heads(mapping, problem)
    query_blocks = math.ceil(rows / tile.br)
    key_tiles = math.ceil(problem.seqlen_kv / tile.bc)
    if splits is None and tile.splits is not None and mapping.kind == "split-kv":
        splits = tile.splits
    if splits is None:
        splits = split_count(mapping, gpu, problem.batch * heads * query_blocks, key_tiles, blocks_per_sm) \
            if mapping.kind == "split-kv" else 1
    packed = rows != problem.seqlen_q
    tiles, masked = key_tiles_per_query_block(problem, tile, mapping.masking, packed,
                                              mask_tile_bounds(work, problem, packed))
    tiles_per_block, masked_per_block = split_and_order(mapping, tiles, masked, splits, problem.batch * heads)
    main = _fused_phase(mapping, gpu, problem, tile, family, blocks_per_sm, tiles_per_block, masked_per_block,
                        query_blocks, splits, heads)
    phases = [main]
    if splits > 1:
        phases.append(combine_phase(gpu, problem, splits))
    info = {"tile": {"br": tile.br, "bc": tile.bc, "warps": tile.warps, "stages": tile.stages}, "family": family,
            "splits": splits, "blocks_per_sm": blocks_per_sm,
            "occupancy_limiter": str(resources["occupancy_limiter"][0]),
            "registers_per_thread": int(resources["registers_per_thread"][0]),
            "shared_memory_bytes": int(resources["shared_memory_bytes"][0]), "grid_blocks": main.blocks}
    return phases, info


def kernel_state(work) -> tuple[float, float]:
    """The cascade's running state per query row and per block (for `tile_resources`)."""
    return work.state.get((1, 0), 0.0), work.state.get((0, 0), 0.0)


def state_note(work, problem: AttentionProblem) -> str:
    """Names the cascade's running state when it is more than the register estimate holds for FlashAttention."""
    per_row, per_block = kernel_state(work)
    if per_row <= problem.head_dim_v + ROW_STATISTICS and per_block <= 0:
        return ""
    return (f" (cascade {work.cascade.name} keeps {per_row:g} fp32 values per query row and {per_block:g} per "
            f"block across key tiles: {', '.join(work.state_tensors)})")


def rows_and_heads(mapping: GpuMapping, problem: AttentionProblem) -> tuple[int, int]:
    """Query rows per block row-space and the head count of the grid (GQA packing puts a group's heads in rows)."""
    if mapping.pack_gqa and problem.group > 1:
        return problem.seqlen_q * problem.group, problem.kv_heads
    return problem.seqlen_q, problem.heads


def tile_grid(problem: AttentionProblem, br: int, bc: int, masking: str = "tile-skip",
              packed: bool = False, mask_bounds=None) -> tuple[np.ndarray, np.ndarray]:
    """Which (query block, key block) tiles are computed and which of those are partial (masked per element).

    Causal masks align to the bottom right (query i sees keys up to i + Nk - Nq, as FlashAttention-2);
    `tile-skip` skips tiles entirely in the future, `dense` computes every tile. A ragged last key block is
    partial too. Packed grouped heads (decode) are treated as non-causal rows. `mask_bounds` (the cascade's
    masks, `cascade_work.mask_tile_bounds`) skips the tiles they exclude and masks those they cut."""
    nq, nk = problem.seqlen_q, problem.seqlen_kv
    rows = nq * (problem.group if packed else 1)
    q_first = np.arange(math.ceil(rows / br))[:, None] * br
    q_last = np.minimum(q_first + br, rows) - 1
    k_first = np.arange(math.ceil(nk / bc))[None, :] * bc
    k_last = np.minimum(k_first + bc, nk) - 1
    ragged = (k_last - k_first + 1 < bc) & np.ones_like(q_first, dtype=bool)
    needed, partial = np.ones(ragged.shape, dtype=bool), ragged
    if problem.causal and not packed:
        offset = nk - nq
        needed = k_first <= q_last + offset
        partial = needed & ((k_last > q_first + offset) | ragged)
    if mask_bounds is not None:
        always, sometimes = mask_bounds(q_first, q_last, k_first, k_last)
        needed = needed & sometimes
        partial = needed & (partial | ~always)
    if masking == "dense":
        return np.ones(ragged.shape, dtype=bool), ~needed | partial
    return needed, partial


def key_tiles_per_query_block(problem: AttentionProblem, tile: TileChoice, masking: str,
                              packed: bool = False, mask_bounds=None) -> tuple[np.ndarray, np.ndarray]:
    """Key tiles each query block computes and how many of them are partial (see `tile_grid`)."""
    needed, partial = tile_grid(problem, tile.br, tile.bc, masking, packed, mask_bounds)
    return needed.sum(axis=1).astype(np.int64), partial.sum(axis=1).astype(np.int64)


def split_and_order(mapping: GpuMapping, tiles: np.ndarray, masked: np.ndarray, splits: int, instances: int):
    """Blocks in launch order: the grid's first dimension varies fastest; split-KV divides the key tiles."""
    if splits > 1:
        per_split = np.ceil(tiles / splits).astype(np.int64)
        chunks = np.stack([np.clip(tiles - s * per_split, 0, per_split) for s in range(splits)], axis=1)
        masks = np.stack([np.where(s == np.ceil(tiles / per_split) - 1, masked, 0) for s in range(splits)], axis=1)
        tiles, masked = chunks.reshape(-1), masks.reshape(-1)
        keep = tiles > 0
        tiles, masked = tiles[keep], masked[keep]
    if mapping.grid and mapping.grid[0] in ("query_blocks", "kv_splits"):
        tiles, masked = np.tile(tiles, instances), np.tile(masked, instances)
    else:
        tiles, masked = np.repeat(tiles, instances), np.repeat(masked, instances)
    if mapping.block_order == "longest-first":
        order = np.argsort(-tiles, kind="stable")
        tiles, masked = tiles[order], masked[order]
    return tiles.astype(np.int64), masked.astype(np.int64)


def split_count(mapping: GpuMapping, gpu: GpuArch, blocks: int, key_tiles: int, blocks_per_sm: int) -> int:
    """Key chunks per query block, FlashAttention-2's `num_splits_heuristic` (flash_api.cpp): no split if the
    grid already has 80% of a wave; else the fewest splits whose wave efficiency (n_waves / ceil(n_waves)) is
    within `min_efficiency` of the best, skipping counts that do not change the tiles per chunk."""
    sms = gpu.sm_count
    if blocks >= 0.8 * sms:
        return 1
    limit = max(1, min(mapping.max_splits, sms, key_tiles))
    efficiency = []
    for splits in range(1, limit + 1):
        waves = blocks * splits / sms
        efficiency.append(waves / math.ceil(waves))
    best = max(efficiency)
    for splits in range(1, limit + 1):
        eligible = splits == 1 or math.ceil(key_tiles / splits) != math.ceil(key_tiles / (splits - 1))
        if eligible and efficiency[splits - 1] >= mapping.split_min_efficiency * best:
            return splits
    return 1


def fused_tile_work(mapping: GpuMapping, family: str, problem: AttentionProblem, br, bc, warps, stages) -> dict:
    """What one Br x Bc tile of a fused kernel does (scalars or arrays of tilings; see the module docstring): the
    op counts and streamed bytes from the cascade, the shared-memory traffic and overlap from the mapping."""
    d = problem.head_dim
    br, bc, warps, stages = (np.asarray(x, dtype=np.float64) for x in (br, bc, warps, stages))
    cascade_work = mapping_tile_work(mapping, problem)
    consumer_warps = warps - (4 if mapping.producer_warpgroup else 0)
    groups = np.maximum(consumer_warps // 4, 1)
    # how often the K and V tiles are read from shared memory: every mma warp reads all of them for its rows;
    # a wgmma instruction covers 64 rows and reads its B operand itself, so once per 64 query rows
    readers = consumer_warps if family == "mma" else np.maximum(br // 64, groups)
    incoming = evaluate(cascade_work.tile_bytes, br, bc)  # every sweep's K/V tiles (K and V once for 1 pass)
    shared = incoming + readers * incoming + (0 if mapping.q_in_registers else br * d * ELEMENT)
    shared = shared + (2 * br * bc * ELEMENT if mapping.p_through_shared else 0)
    scores = br * bc
    first_load = evaluate(cascade_work.query_bytes, br, bc) + evaluate(cascade_work.first_tile_bytes, br, bc)
    return {**cascade_work.counts(br, bc), "shared_bytes": shared, "mask_alu_ops": 2.0 * scores * cascade_work.passes,
            "l2_bytes": incoming, "first_load_bytes": first_load,
            **overlap_counts(mapping, groups),
            "inflight_bytes_per_block": stages * incoming / cascade_work.passes}


def overlap_counts(mapping: GpuMapping, groups) -> dict:
    """How a block's compute overlaps (`combined_tile_time`), from the mapping's flags and its consumer warpgroups.

    Key tiles in flight per consumer warpgroup: 2 with FA3's intra-warpgroup pipelining (§3.2, Algorithm 2: the
    scores of one tile accumulate while the previous tile's P feeds the second product), else 1. Ping-pong: the
    tiles in flight across the warpgroups share one tile's serial chain (products, then softmax). Otherwise the
    independent streams are queueing customers: with a producer warpgroup every consumer warpgroup runs on its
    own; without one the consumer warps issue the loads themselves and wait together for each K/V tile, so the
    block's warpgroups run in step as one stream (FA2's loop: a block barrier per tile)."""
    depth = 2 if mapping.intra_warpgroup_overlap else 1
    in_flight = groups * depth
    if mapping.softmax_overlap == "pingpong":
        return {"streams_per_block": np.ones_like(groups), "pingpong_groups": in_flight}
    streams = in_flight if mapping.producer_warpgroup else np.ones_like(groups) * depth
    return {"streams_per_block": streams, "pingpong_groups": np.zeros_like(groups)}


def _fused_phase(mapping, gpu, problem, tile, family, blocks_per_sm, tiles_per_block, masked_per_block,
                 query_blocks, splits, heads) -> Phase:
    work = fused_tile_work(mapping, family, problem, tile.br, tile.bc, tile.warps, tile.stages)
    counts = {k: int(work[k]) for k in ("streams_per_block", "pingpong_groups")}
    return Phase(
        name="attention forward" if splits == 1 else f"attention forward (split-KV, {splits} chunks)",
        family=family, tiles_per_block=tiles_per_block, masked_per_block=masked_per_block, blocks_per_sm=blocks_per_sm,
        hbm_bytes=float(forward_hbm_bytes(gpu, problem, query_blocks, splits, heads, blocks_per_sm,
                                          mapping_tile_work(mapping, problem))),
        stages=tile.stages, prefetch_across_blocks=mapping.persistent and mapping.producer_warpgroup,
        masked_loop_refill=mapping.masked_loop,
        **counts, **{k: float(v) for k, v in work.items() if k not in counts})


def forward_hbm_bytes(gpu: GpuArch, problem: AttentionProblem, query_blocks, splits, heads: int, blocks_per_sm,
                      work=None):
    """Q and O once, K and V once per K/V head unless the blocks sharing them cannot keep them in L2
    (scalars or arrays of tilings).

    Blocks that read the same K/V head run back to back (query blocks, then heads sharing a K/V head);
    the K/V of the heads in flight at once must fit in L2 for the later readers to hit, and for a
    multi-pass cascade (`work`, `cascade_work.CascadeTileWork`) for a block's later sweeps to hit; when they
    do not, every sweep reads them again. Inputs indexed by queries and keys (a bias) are read every sweep."""
    query_blocks, splits, blocks_per_sm = (np.asarray(x, dtype=np.float64) for x in (query_blocks, splits,
                                                                                     blocks_per_sm))
    b, nq, nk = problem.batch, problem.seqlen_q, problem.seqlen_kv
    q_and_o = b * problem.heads * nq * (problem.head_dim + problem.head_dim_v) * ELEMENT + b * problem.heads * nq * 4
    per_key = (problem.head_dim + problem.head_dim_v) * ELEMENT if work is None else work.key_bytes_per_key
    sweeps = work.streamed_key_bytes_per_key / per_key if work is not None and per_key else 1.0
    kv_head = nk * per_key / splits
    readers = query_blocks * (heads // problem.kv_heads)
    in_flight = gpu.sm_count * blocks_per_sm
    working_set = (np.ceil(in_flight / readers) + 1) * kv_head
    refetch = np.where(working_set <= gpu.l2_bytes, 1.0, np.minimum(readers, working_set / gpu.l2_bytes) * sweeps)
    partials = np.where(splits > 1, 2 * b * problem.heads * nq * splits * (problem.head_dim_v + 1) * 4, 0.0)
    pairs = 0.0 if work is None else b * problem.heads * nq * nk * work.pair_bytes
    return q_and_o + b * problem.kv_heads * splits * kv_head * refetch + partials + pairs


def combine_phase(gpu: GpuArch, problem: AttentionProblem, splits: int) -> Phase:
    """Split-KV's second kernel: per query row, rescale the chunks' partial outputs by their log-sum-exp."""
    rows = problem.batch * problem.heads * problem.seqlen_q
    per_row = splits * (problem.head_dim_v + 1)
    blocks = max(1, math.ceil(rows / 4))
    return Phase(
        name=f"split-KV combine ({splits} chunks)", family=None, tiles_per_block=np.ones(blocks, dtype=np.int64),
        masked_per_block=np.zeros(blocks, dtype=np.int64), blocks_per_sm=16,
        sfu_ops=4.0 * (splits + problem.head_dim_v), fp32_ops=4.0 * 2 * per_row, alu_ops=4.0 * splits,
        hbm_bytes=float(rows * (per_row * 4 + problem.head_dim_v * ELEMENT)),
        inflight_bytes_per_block=float(4 * per_row * 4), stages=1)
