"""The threadblock model: its Numba leaves against hand numbers, tile counting, and predictions that move the
right way when the hardware changes."""

from __future__ import annotations

import numpy as np
import pytest

from arch_models import load_gpu
from mappers.gpu_kernels import TileChoice, load_gpu_mapping
from simulator.gpu.attention import AttentionProblem, fused_phases, tile_grid
from simulator.gpu.kernels import makespan, mva_cycle, query_block_tiles
from simulator.gpu.model import time_phase
from simulator.gpu.simulate import default_efficiency, simulate_attention
from simulator.studies.gpu_search import GpuTilingCost, tiling_space

H100 = load_gpu("h100-sxm5-80gb")
FORWARD = AttentionProblem(2, 16, 16, 8192, 8192, 128, 128)  # compute-bound
DECODE = AttentionProblem(1, 16, 2, 1, 65536, 128, 128, passes="decode")  # few heads, long K/V


def test_mva_one_customer_is_the_sum_many_approach_the_bottleneck():
    demands = np.array([300.0, 100.0])
    assert mva_cycle(demands, 1) == pytest.approx(400.0)
    # second MVA step: queues 0.75 and 0.25 -> residence 300 * 1.75 + 100 * 1.25 = 650 for 2 customers
    assert mva_cycle(demands, 2) == pytest.approx(650 / 2)
    assert mva_cycle(demands, 64) == pytest.approx(300.0, rel=0.01)


def test_makespan_waves_and_greedy_slots():
    assert makespan(np.ones(5), 2) == 3.0  # 3 waves, the last one partial
    assert makespan(np.array([4.0, 1, 1, 1, 1]), 2) == 4.0  # the long block on one slot, the rest on the other


def test_causal_tiles_hand_counted():
    problem = AttentionProblem(1, 1, 1, 512, 512, 64, 64, causal=True)
    needed, partial = tile_grid(problem, 128, 128)
    assert needed.sum(axis=1).tolist() == [1, 2, 3, 4] and partial.sum(axis=1).tolist() == [1, 1, 1, 1]
    needed, partial = tile_grid(problem, 128, 64)  # two 64-key tiles on the diagonal of every 128-row block
    assert needed.sum(axis=1).tolist() == [2, 4, 6, 8] and partial.sum(axis=1).tolist() == [2, 2, 2, 2]
    numba_needed, numba_partial = query_block_tiles(512, 512, 128, 64, True, 0)
    assert numba_needed.tolist() == [2, 4, 6, 8] and numba_partial.tolist() == [2, 2, 2, 2]
    # dense masking computes all 8 key tiles of every block and masks the future ones too: 6+2, 4+2, 2+2, 0+2
    needed, partial = tile_grid(problem, 128, 64, masking="dense")
    assert needed.sum(axis=1).tolist() == [8] * 4 and partial.sum(axis=1).tolist() == [8, 6, 4, 2]
    numba_needed, numba_partial = query_block_tiles(512, 512, 128, 64, True, 0, True)
    assert numba_needed.tolist() == [8] * 4 and numba_partial.tolist() == [8, 6, 4, 2]


def _time(mapping: str, gpu, problem) -> float:
    return simulate_attention(load_gpu_mapping(mapping), gpu, problem).time_s


def test_more_bandwidth_speeds_up_memory_bound_decode_not_compute_bound_forward():
    wider = H100.with_overrides(hbm_bytes_per_s=2 * H100.hbm_bytes_per_s)
    assert _time("flash-decoding", wider, DECODE) < 0.8 * _time("flash-decoding", H100, DECODE)
    assert _time("fa3", wider, FORWARD) == pytest.approx(_time("fa3", H100, FORWARD), rel=0.05)
    assert _time("pytorch-unfused", wider, FORWARD) < 0.75 * _time("pytorch-unfused", H100, FORWARD)


def test_more_sms_and_higher_clock_speed_up():
    # half the SMs: nearly twice the time; not quite, since the L2 bandwidth is the whole chip's, so each of the
    # 66 SMs gets twice the share for its K/V tiles (FA3's big tiles lean on it most)
    for mapping, slower in (("fa2", 1.8), ("fa3", 1.7)):
        base = _time(mapping, H100, FORWARD)
        assert _time(mapping, H100.with_overrides(sm_count=66), FORWARD) > slower * base
        assert _time(mapping, H100.with_overrides(clock_hz=2 * H100.clock_hz), FORWARD) < 0.6 * base


def test_split_kv_wins_at_long_kv_and_few_heads():
    a100 = load_gpu("a100-sxm4-80gb")
    fa2 = simulate_attention(load_gpu_mapping("fa2"), a100, DECODE)
    split = simulate_attention(load_gpu_mapping("flash-decoding"), a100, DECODE)
    assert fa2.phases[0].blocks == 16 < a100.sm_count  # batch x heads blocks leave most SMs idle
    assert split.info["splits"] > 1 and split.phases[0].blocks >= 0.8 * a100.sm_count
    assert fa2.time_s > 5 * split.time_s


def test_batch_cost_matches_the_single_tiling_path():
    mapping = load_gpu_mapping("fa3")
    problem = AttentionProblem(2, 16, 16, 2048, 2048, 128, 128, causal=True)
    space = tiling_space(H100, mapping, problem)
    genomes = space.random(np.random.default_rng(3), 400)
    latency, reasons = GpuTilingCost(space, mapping, problem)(genomes)
    legal = np.flatnonzero(np.isfinite(latency))
    assert len(legal) > 5 and reasons
    for index in legal[:6]:
        v = space.decode(genomes[index])
        phases, _ = fused_phases(mapping, H100, problem, "wgmma", tile=TileChoice(999, v["br"], v["bc"], v["warps"],
                                                                                   v["stages"]))
        reference = sum(time_phase(p, H100, default_efficiency()).time_s for p in phases)
        assert latency[index] == pytest.approx(reference, rel=1e-9)


def test_unfused_backward_chain_follows_autograd():
    # PyTorch's autograd of the benchmark's reference attention, per kernel, for batch 2 x 4 heads x 256 tokens,
    # d = 64 (one small tensor = 2 * 4 * 256 * 64 = 131072 elements = 256 KiB; one score matrix = 2 * 4 * 256^2).
    from simulator.gpu.unfused import unfused_backward_phases

    problem = AttentionProblem(2, 4, 4, 256, 256, 64, 64, passes="fwd+bwd")
    phases, _ = unfused_backward_phases(load_gpu_mapping("pytorch-unfused"), H100, problem, "wgmma")
    names = [p.name for p in phases]
    assert names[0] == "backward: dP = dO V^T"  # dO = randn_like(O) keeps O's strides: no copy first
    assert names.index("backward: dQ times the softmax scale") > names.index("backward: dQ = dS K")  # baddbmm alpha
    assert "backward: dK times the softmax scale" in names
    assert sum(n.startswith("backward: copy d") and n.endswith("back") for n in names) == 3  # unbind -> stack
    small = 2 * 4 * 256 * 64 * 2
    by_name = {p.name: p for p in phases}
    assert by_name["backward: dK times the softmax scale"].hbm_bytes == 2 * small
    assert by_name["backward: softmax dS"].hbm_bytes == 3 * 2 * 4 * 256 * 256 * 2  # reads P, dP; writes dS


def test_unfused_layout_copies_only_where_torch_cannot_reshape_to_a_view():
    # torch merges (batch, heads) into one GEMM batch dim as a view when there is one batch or one row per head;
    # otherwise reshape copies. Decode with expanded K/V heads (16 query heads over 2 K/V heads, 1024 keys, d=128):
    # at batch 1 only the expansion copies; at batch 2 the expanded K and V (2 x 16 x 1024 x 128 values, 2 bytes
    # each, read and written) are copied again, and Q (one row per head) never is.
    from simulator.gpu.unfused import unfused_phases

    mapping = load_gpu_mapping("pytorch-unfused")
    names = {}
    for batch in (1, 2):
        problem = AttentionProblem(batch, 16, 2, 1, 1024, 128, 128, passes="decode")
        phases, _ = unfused_phases(mapping, H100, problem, "wgmma")
        names[batch] = {p.name: p for p in phases}
    assert not any(n.startswith("copy") for n in names[1])
    k_copy, v_copy = "copy K to (batch x heads)-major, transposed", "copy V to (batch x heads)-major"
    assert set(n for n in names[2] if n.startswith("copy")) == {k_copy, v_copy}
    assert names[2][k_copy].hbm_bytes == names[2][v_copy].hbm_bytes == 2 * (2 * 16 * 1024 * 128 * 2)
    # its input is a strided view: PyTorch's offset-calculator path, which spends integer ops on every element
    assert names[2][k_copy].alu_ops > 0
    # K is multiplied as k.transpose(-1, -2): the copy's neighbouring outputs are a row apart in its input, so
    # each 2-byte element read moves a 32-byte sector from L2; V's copy is coalesced. PyTorch's elementwise
    # blocks take 128 threads x 4 elements (Loops.cuh): 512 reads = 16 KB of sectors per block
    assert names[2][k_copy].l2_bytes == 512 * 32 and names[2][v_copy].l2_bytes == 0
    assert names[2][k_copy].blocks == 2 * 16 * 1024 * 128 // 512


def test_unfused_backward_reads_the_transposed_gradient_by_sectors():
    # dK comes out of its GEMM as (batch x heads, d, keys); stacking it back into the packed (batch, keys,
    # heads, d) gradient reads it along d, a row of keys apart: a sector per element, as the forward K copy
    from simulator.gpu.unfused import unfused_backward_phases

    problem = AttentionProblem(2, 4, 4, 256, 256, 64, 64, passes="fwd+bwd")
    phases, _ = unfused_backward_phases(load_gpu_mapping("pytorch-unfused"), H100, problem, "wgmma")
    by_name = {p.name: p for p in phases}
    assert by_name["backward: copy dK back"].l2_bytes == 512 * 32
    assert by_name["backward: copy dQ back"].l2_bytes == by_name["backward: copy dV back"].l2_bytes == 0
