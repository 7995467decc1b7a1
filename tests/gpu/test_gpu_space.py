"""Tiles on a GPU: hand-computed registers, shared memory, blocks per SM and waves; illegal tiles rejected
with the reason; the tiling space works with the generic search loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arch_models import load_gpu
from mappers.gpu_kernels import load_gpu_mapping
from mappers.gpu_space import GpuTilingSpace, TileFlags, explain_tile
from mappers.search import SearchSettings, search

H100, A100 = load_gpu("h100-sxm5-80gb"), load_gpu("a100-sxm4-80gb")


def test_fa2_head_dim_64_on_h100():
    # registers/thread = (128*128 + 128*64) / 128 threads + 32 = 224 -> 7168 per warp, 28672 per block of 4 warps:
    # 65536 // 28672 = 2 blocks. Shared memory (128 + 2*128) * 64 * 2 = 49152 (+1 KB reserved): 4 blocks. Warps: 16.
    tile = explain_tile(H100, TileFlags("mma"), 64, 64, 128, 128, 4, 1)
    assert tile["registers_per_thread"] == 224 and tile["registers_per_block"] == 28672
    assert tile["shared_memory_bytes"] == 49152
    assert tile["blocks_per_sm"] == 2 and tile["occupancy_limiter"] == "registers" and tile["reason"] == ""


def test_fa2_head_dim_128_on_a100_is_shared_memory_and_register_bound():
    # (128 + 2*64) * 128 * 2 = 65536 bytes + 1 KB: 167936 // 66560 = 2 blocks; registers also allow 2.
    tile = explain_tile(A100, TileFlags("mma"), 128, 128, 128, 64, 4, 1)
    assert tile["shared_memory_bytes"] == 65536 and tile["blocks_per_sm"] == 2


def test_fa3_head_dim_128_one_block_per_sm():
    # 2 consumer warpgroups (256 threads): (128*192 + 128*128) / 256 + 32 = 192 registers; producer 24 x 128.
    # Shared memory: Q 128x128 + 2 stages of K and V 192x128, 2 bytes = 229376 bytes.
    tile = explain_tile(H100, TileFlags("wgmma", producer_warpgroup=True), 128, 128, 128, 192, 12, 2)
    assert tile["registers_per_thread"] == 192
    assert tile["registers_per_block"] == 192 * 32 * 8 + 24 * 32 * 4
    assert tile["shared_memory_bytes"] == 229376 and tile["blocks_per_sm"] == 1


def test_tiles_over_the_limits_are_rejected_with_the_reason():
    too_much_shared = explain_tile(H100, TileFlags("wgmma", True), 128, 128, 128, 256, 12, 2)
    assert too_much_shared["blocks_per_sm"] == 0
    assert too_much_shared["reason"].startswith("shared memory: tile needs more than 232448 bytes")
    too_many_registers = explain_tile(H100, TileFlags("mma"), 128, 128, 128, 256, 4, 1)  # 256+128+32 = 416/thread
    assert too_many_registers["reason"] == "registers: needs more than 255 per thread"
    bad_shape = explain_tile(H100, TileFlags("wgmma"), 128, 128, 96, 64, 8, 2)
    assert "multiple of 64 per consumer warpgroup" in bad_shape["reason"]


def test_waves_of_fa2_forward():
    # d=128, seqlen 4096, batch 4, 16 heads: 4*16*(4096/128) = 2048 blocks on 132 SMs x 2 resident = 264 slots.
    from simulator.gpu.attention import AttentionProblem
    from simulator.gpu.simulate import simulate_attention

    report = simulate_attention(load_gpu_mapping("fa2"), H100, AttentionProblem(4, 16, 16, 4096, 4096, 128, 128))
    phase = report.phases[0]
    assert phase.blocks == 2048 and phase.resident_blocks == 2
    assert phase.waves == pytest.approx(2048 / 264) and math.ceil(phase.waves) == 8


def test_space_with_search_loop_rejects_and_finds_legal_tiles():
    space = GpuTilingSpace(H100, TileFlags("mma"), 128, 128, max_splits=1)
    legal, reasons = space.legality(space.random(np.random.default_rng(0), 500))
    assert legal.any() and (~legal).any() and sum(reasons.values()) == int((~legal).sum())

    def cost(genomes):  # smaller shared memory is "better": only exercises the loop's contract
        ok, why = space.legality(genomes)
        return np.where(ok, space.resources(genomes)["shared_memory_bytes"], np.inf).astype(float), why

    result = search(space, cost, SearchSettings(strategy="random", evaluations=2000, seconds=None, batch=500),
                    progress=False)
    assert np.isfinite(result.best_value) and result.rejections
    assert space.decode(result.best)["br"] in (16, 32, 64, 128, 192, 256)


@pytest.mark.parametrize("masking", ["tile-skip", "dense"])
def test_search_costs_a_tile_as_simulate_does(masking):
    # the mapper's batched cost and simulate_attention build the blocks in two places (Numba and NumPy): the
    # shipped tile must cost the same in both, whether masked tiles are skipped or computed and masked
    from dataclasses import replace

    from simulator.gpu.attention import AttentionProblem
    from simulator.gpu.simulate import simulate_attention
    from simulator.studies.gpu_search import GpuTilingCost, tiling_space

    mapping = replace(load_gpu_mapping("fa2"), masking=masking)
    problem = AttentionProblem(4, 16, 16, 4096, 4096, 128, 128, causal=True)
    space = tiling_space(H100, mapping, problem)
    tile = mapping.tile_for(128, H100, True)
    genome = [[list(space.choices[k]).index(v) for k, v in (("br", tile.br), ("bc", tile.bc), ("warps", tile.warps),
                                                            ("stages", tile.stages), ("splits", 1))]]
    searched, _ = GpuTilingCost(space, mapping, problem)(np.array(genome))
    assert searched[0] == pytest.approx(simulate_attention(mapping, H100, problem).time_s, rel=1e-9)
