"""The cascade drives the GPU model: per-tile work derived from a cascade's Einsums, checked against counts written
out by hand from the Einsums at one small tile (Br = 64 query rows, Bc = 32 keys, D = Dv = 64), the FlashAttention
kernels' predictions against the formula the model used before, masks as skipped and partial tiles, the
register check of a cascade's running state, and `simulate`/`map --cascade` on an H100."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from arch_models import load_gpu
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade
from einsum_cascade.parse import load_cascade, parse_cascade
from mappers.gpu_kernels import TileChoice, load_gpu_mapping
from simulator.cli import map as map_command
from simulator.cli import simulate as simulate_command
from simulator.gpu.attention import AttentionProblem, fused_phases, fused_tile_work, key_tiles_per_query_block
from simulator.gpu.cascade_work import cascade_tile_work, mask_tile_bounds, pair_density
from simulator.gpu.model import time_phase
from simulator.gpu.simulate import default_efficiency
from simulator.studies.gpu_validation.measurements import read_measurements
from simulator.studies.gpu_validation.validate import DATA_FILE

H100 = load_gpu("h100-sxm5-80gb")
BR, BC, D = 64, 32, 64
PROBLEM = AttentionProblem(1, 1, 1, 1024, 1024, D, D)


def _counts(name: str) -> dict:
    work = cascade_tile_work(library_cascade(name), D, D)
    return {k: float(v) for k, v in work.counts(BR, BC).items()}


def test_flashattention_2_tile_by_hand():
    # S = Q K: 64 x 32 x 64 = 131072 tensor FMAs; PV = PT V: 64 x 32 x 64 = 131072; PT converted to 16 bits: 2048
    # LM = max over the tile's keys: 64 x 32 = 2048 ALU; RM = max(RM, LM) is LM's starting value: 0
    # PT = exp(S - RM): 2048 EX2 (SFU) + 2048 FFMA (the subtraction rides in the log2 e multiply)
    # CR = exp(RM - RM'): 64 EX2 + 64 FFMA; LS = sum of PT: 2048 FADD; RD = CR RD + LS: 64 FMUL (LS starts at CR RD)
    # RO = CR RO + PV: 64 x 64 = 4096 FMUL (PV accumulates onto it in the tensor core)
    # once per block: AV = RO / RD: 4096 FMUL, 64 reciprocals (SFU); AV converted to 16 bits: 4096
    counts = _counts("flashattention-2")
    assert counts == {"tensor_fma": 262144.0, "sfu_ops": 2048 + 64 + 2048.0, "fp32_ops": 2048 + 64 + 2048 + 64 + 4096.0,
                      "alu_ops": 2048.0, "epilogue_tensor_fma": 0.0, "epilogue_sfu_ops": 64 + 4096.0,
                      "epilogue_fp32_ops": 4096.0, "epilogue_alu_ops": 0.0}
    work = cascade_tile_work(library_cascade("flashattention-2"), D, D)
    assert work.passes == 1 and work.key_bytes_per_key == work.streamed_key_bytes_per_key == 2 * (64 + 64)
    assert work.state == {(1, 0): 64 + 2.0}  # RO's row and the running max and sum
    # FuseMax's 1-pass cascade names its Einsums differently and splits RD's update in two: the same work
    assert _counts("fusemax") == counts


def test_sigmoid_attention_tile_by_hand():
    # QK: 131072 tensor FMAs; A = sigmoid(QK - log M): log M is a constant (not counted); sigmoid = (1 + tanh(x/2))/2
    # is 1 TANH (SFU) + 2 FP32 with the subtraction folded into the first: 2048 SFU, 4096 FP32
    # AV = A V: 131072 tensor FMAs, A converted: 2048; no max, no sum; once per block: AV converted, 4096
    assert _counts("sigmoid-bias") == {"tensor_fma": 262144.0, "sfu_ops": 2048 + 2048.0, "fp32_ops": 4096.0,
                                       "alu_ops": 0.0, "epilogue_tensor_fma": 0.0, "epilogue_sfu_ops": 4096.0,
                                       "epilogue_fp32_ops": 0.0, "epilogue_alu_ops": 0.0}


def test_three_pass_softmax_tile_by_hand():
    # pass 1: QK 131072 tensor, GM = max: 2048 ALU; K streamed (32 x 64 x 2 B = 4096 B)
    # pass 2: QK again 131072, SN = exp(QK - GM): 2048 SFU + 2048 FFMA, SD = sum: 2048 FADD; K again
    # pass 3: QK, SN again (131072; 2048 + 2048), A = SN / SD: 2048 FMUL (SD's 64 reciprocals once per block),
    #         AV = A V: 131072, A converted 2048; K and V (8192 B)
    counts = _counts("softmax-3pass")
    assert counts == {"tensor_fma": 4 * 131072.0, "sfu_ops": 2 * 2048 + 2048.0, "fp32_ops": 4 * 2048.0,
                      "alu_ops": 2048.0, "epilogue_tensor_fma": 0.0, "epilogue_sfu_ops": 64 + 4096.0,
                      "epilogue_fp32_ops": 0.0, "epilogue_alu_ops": 0.0}
    work = fused_tile_work(replace(load_gpu_mapping("fa2"), cascade="softmax-3pass"), "mma", PROBLEM, BR, BC, 4, 1)
    assert work["l2_bytes"] == 4096 * 3 + 4096  # K three times, V once
    assert work["first_load_bytes"] == 64 * 64 * 2 + 4096  # Q and the first sweep's K tile
    assert work["mask_alu_ops"] == 3 * 2 * 2048  # a partial tile is masked in every sweep
    cascade_work = cascade_tile_work(library_cascade("softmax-3pass"), D, D)
    assert cascade_work.key_bytes_per_key == 256 and cascade_work.streamed_key_bytes_per_key == 512


def test_two_pass_online_softmax_tile_by_hand():
    # pass 1: QK 131072 tensor; RM = max(RM, QK) per key: 2048 ALU (QK is no reduction to start from);
    #         RD = RD exp(RM - RM') + exp(QK - RM'): the add of a product is one FFMA (the FMUL counts), two EX2
    #         each with its FFMA: 2 x 2048 SFU, 3 x 2048 FP32
    # pass 2: QK again 131072; A = exp(QK - RM[M]) / RD[M]: EX2, FFMA, FMUL: 2048 SFU, 2 x 2048 FP32 (RD's final 64
    #         reciprocals once per block); AV = A V: 131072, A converted 2048
    assert _counts("softmax-2pass-online") == {
        "tensor_fma": 3 * 131072.0, "sfu_ops": 2 * 2048 + 2048 + 2048.0, "fp32_ops": 3 * 2048 + 2 * 2048.0,
        "alu_ops": 2048.0, "epilogue_tensor_fma": 0.0, "epilogue_sfu_ops": 64 + 4096.0, "epilogue_fp32_ops": 0.0,
        "epilogue_alu_ops": 0.0}


def test_later_sweeps_read_k_and_v_again_when_l2_cannot_keep_them():
    # one head, 4096 x 4096, d = 64, Br = 128: 32 query blocks read a K/V head of 4096 x 128 x 2 B = 1 MiB; with
    # 132 blocks in flight the working set is (ceil(132 / 32) + 1) x 1 MiB = 6 MiB. An H100's 50 MB keeps it: K/V
    # once, whatever the passes. With 2 MiB of L2 the blocks refetch min(32, 6 / 2) = 3 times, and the 3-pass
    # cascade's three sweeps over K and one over V read (3 + 1) / 2 = 2 times that.
    from simulator.gpu.attention import forward_hbm_bytes

    problem = AttentionProblem(1, 1, 1, 4096, 4096, 64, 64)
    q_and_o = 4096 * 128 * 2 + 4096 * 4
    one, three = (cascade_tile_work(library_cascade(n), 64, 64) for n in ("flashattention-2", "softmax-3pass"))
    small = H100.with_overrides(l2_bytes=2 * 2**20)
    assert forward_hbm_bytes(H100, problem, 32, 1, 1, 1, three) == q_and_o + 2**20
    assert forward_hbm_bytes(small, problem, 32, 1, 1, 1, one) == q_and_o + 3 * 2**20
    assert forward_hbm_bytes(small, problem, 32, 1, 1, 1, three) == q_and_o + 6 * 2**20


def test_work_outside_the_tile_loop_runs_pipe_after_pipe():
    from simulator.gpu.model import block_overhead_cycles

    # H100: mma 1024 FMA/clk/SM (at efficiency 0.5: 512), 16 SFU, 128 FP32, 64 ALU results per clock per SM
    assert block_overhead_cycles("mma", 512, 16, 128, 64, H100, {"mma": 0.5}) == pytest.approx(4.0)


def test_linear_attention_works_on_keys_per_tile_and_on_queries_per_block():
    # per tile: FK = relu(K) + exp(min(K, 0)) on 64 x 32: 2 ALU, 1 EX2, 2 FP32 each; KV = FK V: 64 x 64 x 32 tensor,
    # FK converted; KS = sum of FK: 2048 FADD. Per block: FQ on 64 x 64 (2 ALU, 1 EX2, 2 FP32 each); NUM = FQ KV:
    # 64 x 64 x 64 tensor with FQ and KV converted; DEN = FQ KS: 4096 FFMA; AV = NUM / DEN: 4096 FMUL + 64 RCP;
    # AV converted: 4096
    assert _counts("linear-attention") == {
        "tensor_fma": 131072.0, "sfu_ops": 2048 + 2048.0, "fp32_ops": 2 * 2048 + 2048.0, "alu_ops": 2 * 2048.0,
        "epilogue_tensor_fma": 262144.0, "epilogue_sfu_ops": 4096 + 4096 + 4096 + 64 + 4096.0,
        "epilogue_fp32_ops": 2 * 4096 + 4096 + 4096.0, "epilogue_alu_ops": 2 * 4096.0}


def test_mla_decode_heads_are_the_rows_when_the_cascade_fixes_one_query_token():
    # P = 1 (params), so a block's Br rows are Br of the G heads, and W^UV[c,f,g] (per head, no p) has Br rows.
    # Per tile: QK = QC . CKV, 64 x 32 x 512 = 1048576; QKR = QR . KR, 64 x 32 x 64 = 131072; SLNV = SLN CKV,
    # 64 x 32 x 512 = 1048576 tensor FMAs. Per block: AV = OL W^UV, 64 x 512 x 64 = 2097152. State per row: the
    # C = 512 latent accumulators RNV, plus RM and RD: 514.
    work = cascade_tile_work(library_cascade("mla-decode"), D, D)
    counts = work.counts(BR, BC)
    assert float(counts["tensor_fma"]) == 1048576 + 131072 + 1048576
    assert float(counts["epilogue_tensor_fma"]) == 64 * 512 * 64
    assert work.report()["state"] == "514*Br"


def test_a_tensor_over_the_single_query_token_only_is_one_value_per_block():
    # a per-token scale SC[p] with P = 1: no rows (one value for the block's rows of heads), nothing is refused, and
    # S's work per tile grows per score: an FP32 add and a multiply (a bare sum of two contractions, QK + QKR, folds
    # into their accumulator; a scaled one is computed)
    text = library_cascade("mla-decode").text.replace('inputs: ["QC', 'inputs: ["SC[p]", "QC').replace(
        "S[m1,m0,g,p] = QK[m1,m0,g,p] + QKR[m1,m0,g,p]", "S[m1,m0,g,p] = (QK[m1,m0,g,p] + QKR[m1,m0,g,p]) * SC[p]")
    assert "SC[p]" in text and "* SC[p]" in text
    for br, bc in ((BR, BC), (2 * BR, BC)):
        scaled = cascade_tile_work(parse_cascade(text), D, D).counts(br, bc)
        plain = cascade_tile_work(library_cascade("mla-decode"), D, D).counts(br, bc)
        assert float(scaled["fp32_ops"] - plain["fp32_ops"]) == 2 * br * bc


def test_a_tensor_over_some_query_ranks_is_refused_when_the_others_have_rows():
    text = library_cascade("mla-decode").text.replace("params: {P: 1,", "params: {")
    with pytest.raises(SpecError, match="tensor WUV has query ranks g but not p"):
        cascade_tile_work(parse_cascade(text), D, D)


def _hand_written_phase(phase, tile: TileChoice, dv: int):
    """The fused phase with the per-tile counts of the formula the model used before the derivation: Br.Bc.(D+Dv)
    tensor FMAs, 2 Br.Bc SFU (exp and conversion), 2 Br.Bc + Br.Dv FP32, Br.Bc ALU; Br.Dv FP32 and Br.Dv SFU per
    block."""
    scores = tile.br * tile.bc
    return replace(phase, sfu_ops=2.0 * scores, fp32_ops=2.0 * scores + tile.br * dv, alu_ops=float(scores),
                   epilogue_fp32_ops=float(tile.br * dv), epilogue_sfu_ops=float(tile.br * dv))


@pytest.mark.parametrize(("kernel", "headdim", "seqlen", "causal"), [
    ("FA2", 64, 2048, False), ("FA2", 128, 16384, False), ("FA3", 128, 4096, True), ("FA2", 128, 1024, True)])
def test_flashattention_predictions_change_only_by_the_per_row_rescales(kernel, headdim, seqlen, causal):
    # The FlashAttention-2 cascade adds per tile what the old formula left out: the rescale factor's exp (Br SFU)
    # and its subtraction and the row sum's rescale (2 Br FP32), and once per block the row sum's Br reciprocals.
    # Without them the derived phase is the old one exactly; with them the time grows at most as much as the SFU
    # and FP32 work per tile do: by Br / (2 Br.Bc) and 2 Br / (2 Br.Bc + Br.Dv), both below 1 / Bc.
    row = next(m for m in read_measurements(DATA_FILE) if m.kernel == kernel and m.headdim == headdim
               and m.seqlen_kv == seqlen and m.causal == causal and m.gpu.startswith("H100") and m.passes == "fwd")
    mapping, problem = load_gpu_mapping(kernel.lower()), row.problem()
    family = mapping.family(H100.families, H100.best_family())
    tile = mapping.tile_for(problem.head_dim, H100, problem.causal)
    derived = fused_phases(mapping, H100, problem, family)[0][0]
    hand = _hand_written_phase(derived, tile, problem.head_dim_v)
    assert derived.tensor_fma == hand.tensor_fma == tile.br * tile.bc * 2 * headdim
    assert derived.alu_ops == hand.alu_ops
    assert (derived.sfu_ops - hand.sfu_ops, derived.fp32_ops - hand.fp32_ops) == (tile.br, 2 * tile.br)
    assert (derived.epilogue_sfu_ops - hand.epilogue_sfu_ops, derived.epilogue_fp32_ops) == (tile.br,
                                                                                             hand.epilogue_fp32_ops)
    efficiency = default_efficiency()
    old, new = time_phase(hand, H100, efficiency).time_s, time_phase(derived, H100, efficiency).time_s
    assert old <= new <= old * (1 + 1 / tile.bc)
    per_rows_removed = replace(derived, sfu_ops=derived.sfu_ops - tile.br, fp32_ops=derived.fp32_ops - 2 * tile.br,
                               epilogue_sfu_ops=derived.epilogue_sfu_ops - tile.br)
    assert time_phase(per_rows_removed, H100, efficiency).time_s == pytest.approx(old, rel=1e-12)


def test_window_mask_skips_and_masks_tiles_by_hand():
    # |m - p| <= 128 with Br = 128, Bc = 64 on 1024 x 1024: query block i (rows 128i .. 128i+127) needs key tiles
    # 2i-2 .. 2i+3 (clipped to 0 .. 15); tiles 2i and 2i+1 are inside the band for every row, the others are cut
    work = cascade_tile_work(library_cascade("fusemax-window"), 64, 64)
    problem = AttentionProblem(1, 1, 1, 1024, 1024, 64, 64)
    bounds = mask_tile_bounds(work, problem)
    tiles, partial = key_tiles_per_query_block(problem, TileChoice(64, 128, 64, 4, 1), "tile-skip", False, bounds)
    assert tiles.tolist() == [4, 6, 6, 6, 6, 6, 6, 4] and partial.tolist() == [2, 4, 4, 4, 4, 4, 4, 2]
    # achieved TFLOP/s count the band's pairs, as causal attention's count half: ((2W+1) M - W (W+1)) / M^2
    assert pair_density(work.cascade, 1024, 1024) == pytest.approx((257 * 1024 - 128 * 129) / 1024**2)


def test_a_key_feature_map_read_only_inside_the_mask_is_skipped_with_its_tiles():
    # causal linear attention: FK = phi(K) walks the keys but is not itself masked; only the masked A reads it,
    # so a skipped tile skips FK too. m <= p with Br = Bc = 128 on 1024 x 1024: query block i sees key tiles 0..i
    work = cascade_tile_work(library_cascade("linear-attention-causal"), 64, 64)
    problem = AttentionProblem(1, 1, 1, 1024, 1024, 64, 64)
    tiles, partial = key_tiles_per_query_block(problem, TileChoice(64, 128, 128, 4, 1), "tile-skip", False,
                                               mask_tile_bounds(work, problem))
    assert tiles.tolist() == [1, 2, 3, 4, 5, 6, 7, 8] and partial.tolist() == [1] * 8
    # per tile (Br 64, Bc 32, D 64): FK on 32 x 64 as in linear attention (2 ALU, 1 EX2, 2 FP32 each), FK converted;
    # A = FQ FK and NUM = A V: 2 x 64 x 32 x 64 tensor, A converted; DEN = sum of A: 2048 FADD. Per block: FQ on
    # 64 x 64 (2 ALU, 1 EX2, 2 FP32 each), FQ converted; AV = NUM / DEN: 4096 FMUL + 64 RCP; AV converted: 4096
    assert _counts("linear-attention-causal") == {
        "tensor_fma": 262144.0, "sfu_ops": 2048 + 2048 + 2048.0, "fp32_ops": 2 * 2048 + 2048.0, "alu_ops": 2 * 2048.0,
        "epilogue_tensor_fma": 0.0, "epilogue_sfu_ops": 4096 + 4096 + 64 + 4096.0,
        "epilogue_fp32_ops": 2 * 4096 + 4096.0, "epilogue_alu_ops": 2 * 4096.0}


def test_a_key_value_read_outside_the_mask_is_refused():
    text = Path(library_cascade("linear-attention-causal").source).read_text()
    text = text.replace("  DEN[p] = A[m,p]\n", "  KS[e] = FK[e,m]\n  DEN[p] = FQ[e,p] * KS[e]\n")
    cascade = parse_cascade(text, source="causal-with-unmasked-sum.yaml")
    with pytest.raises(SpecError, match="mask causal .* does not restrict Einsum (FK|KS), which walks the keys and "
                                        "is read outside the mask"):
        cascade_tile_work(cascade, 64, 64)
    # a sum over every key read only by masked Einsums: skipping a tile would still change the sum
    text = Path(library_cascade("linear-attention-causal").source).read_text().replace(
        "  A[m,p] = FQ[e,p] * FK[e,m]\n", "  KS[e] = FK[e,m]\n  A[m,p] = FQ[e,p] * FK[e,m] * KS[e]\n")
    with pytest.raises(SpecError, match="does not restrict Einsum (FK|KS), which walks the keys"):
        cascade_tile_work(parse_cascade(text, source="causal-with-a-key-sum.yaml"), 64, 64)


def test_window_search_times_tilings_like_the_single_tiling_path():
    import numpy as np

    from simulator.studies.gpu_search import GpuTilingCost, tiling_space

    mapping = replace(load_gpu_mapping("fa3"), cascade="fusemax-window")
    problem = AttentionProblem(2, 16, 16, 4096, 4096, 128, 128)
    space = tiling_space(H100, mapping, problem)
    genomes = space.random(np.random.default_rng(5), 200)
    latency, _ = GpuTilingCost(space, mapping, problem)(genomes)
    legal = np.flatnonzero(np.isfinite(latency))
    assert len(legal) > 3
    for index in legal[:4]:
        v = space.decode(genomes[index])
        phases, _ = fused_phases(mapping, H100, problem, "wgmma", tile=TileChoice(999, v["br"], v["bc"], v["warps"],
                                                                                   v["stages"]))
        assert latency[index] == pytest.approx(sum(time_phase(p, H100, default_efficiency()).time_s for p in phases),
                                               rel=1e-9)


STATE_CASCADE = """name: outer-state
version: 1
ranks: {m: M, p: P, e: E, f: F}
inputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]
outputs: ["AV[f,p]"]
einsums: |
  QK[m,p] = Q[e,p] * K[e,m]
  W[e,f,p] = QK[m,p] * K[e,m] * V[f,m]
  AV[f,p] = Q[e,p] * W[e,f,p]
"""
QUERY_REDUCTION = """name: key-popularity
version: 1
ranks: {m: M, p: P, e: E, f: F}
inputs: ["Q[e,p]", "K[e,m]", "V[f,m]"]
outputs: ["AV[f,p]"]
einsums: |
  QK[m,p] = Q[e,p] * K[e,m]
  KS[m] = QK[m,p]
  AV[f,p] = QK[m,p] * V[f,m] * KS[m]
"""


def test_state_beyond_the_registers_is_one_line_naming_the_cascade(tmp_path, run_command):
    # W keeps E x F = 64 x 64 values per query row across key tiles: 128 rows x 4096 over 128 threads is 4096
    # registers per thread, far beyond 255
    path = tmp_path / "outer.yaml"
    path.write_text(STATE_CASCADE)
    status, _, err = run_command(simulate_command, "simulate", "--arch", "h100", "--cascade", str(path), "--workload",
                                 "bert", "--seq", "1K")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "registers" in err and "cascade outer-state keeps 4096 fp32 values per query row" in err and ": W)" in err


def test_an_einsum_no_fused_kernel_can_run_is_one_line_naming_file_einsum_and_operator(tmp_path, run_command):
    path = tmp_path / "popularity.yaml"
    path.write_text(QUERY_REDUCTION)
    status, _, err = run_command(simulate_command, "simulate", "--arch", "h100", "--cascade", str(path), "--workload",
                                 "bert", "--seq", "1K")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert f"{path}:8" in err and "Einsum KS reduces the query rank p with operator 'add'" in err
    with pytest.raises(SpecError, match="rank m is both the key rank and a query rank"):
        cascade_tile_work(library_cascade("gemm"), 64, 64)


def test_an_operator_without_a_gpu_lowering_names_it(monkeypatch):
    from einsum_cascade.ops import Op
    from simulator.gpu import cascade_ops

    monkeypatch.setattr(cascade_ops, "UNARY_OPS", {k: v for k, v in cascade_ops.UNARY_OPS.items() if k is not Op.EXP})
    cascade = load_cascade(library_cascade("softmax-3pass").source)
    with pytest.raises(SpecError, match=r"Einsum SN .*no GPU pipe executes the unary operator 'exp'") as error:
        cascade_tile_work.__wrapped__(cascade, 32, 32)  # past the cache of derivations
    assert error.value.source.endswith("softmax-3pass.yaml") and error.value.line


def _simulate(run_command, *argv) -> dict:
    status, out, err = run_command(simulate_command, "simulate", "--arch", "h100", *argv, "--json")
    assert status == 0, err
    return json.loads(out)


def test_simulate_runs_library_cascades_on_a_gpu_mapping(run_command):
    fa2 = _simulate(run_command, "--mapping", "fa2", "--workload", "llama3-8b", "--seq", "4K")
    sigmoid = _simulate(run_command, "--cascade", "sigmoid-bias", "--workload", "llama3-8b", "--seq", "4K")
    three = _simulate(run_command, "--cascade", "softmax-3pass", "--mapping", "fa2", "--workload", "llama3-8b",
                      "--seq", "4K")
    assert fa2["cascade"] == "flashattention-2" and sigmoid["cascade"] == "sigmoid-bias" and sigmoid["mapping"] == "fa2"
    assert sigmoid["tile_work"]["per_tile"]["sfu"] == "Br*Bc" and three["tile_work"]["passes"] == 3
    assert sigmoid["latency_s"] <= fa2["latency_s"]  # the same products, less vector work
    assert three["latency_s"] > 1.5 * fa2["latency_s"]  # QK three times (E = F = 128: 2x the products), K thrice
    shaped = _simulate(run_command, "--cascade", "sigmoid-bias", "--shape", "M=4096,E=128,H=32,HKV=8")
    assert shaped["latency_s"] == pytest.approx(sigmoid["latency_s"], rel=1e-12)  # llama3-8b's shapes at 4K


def test_a_decode_cascade_answers_one_query_token_in_any_kernel(run_command):
    # decode fixes P = 1 (params): in FA2's kernel it answers one query token per head, as on the spatial model,
    # not the workload's 4K queries. Its HBM traffic is then the K/V cache, read once: 64 x 12 heads x 4096 keys
    # x (64 + 64) dims x 2 bytes (plus the one query and output row per head)
    decode = _simulate(run_command, "--cascade", "decode", "--workload", "bert", "--seq", "4K")
    prefill = _simulate(run_command, "--cascade", "fusemax", "--workload", "bert", "--seq", "4K")
    cache = 64 * 12 * 4096 * (64 + 64) * 2
    assert decode["problem"]["seqlen_q"] == 1 and prefill["problem"]["seqlen_q"] == 4096
    assert cache <= decode["dram_bytes"] <= 1.001 * cache
    assert decode["bound"] == "hbm" and decode["latency_s"] < prefill["latency_s"] / 10
    status, _, err = run_command(simulate_command, "simulate", "--arch", "h100", "--cascade", "decode", "--shape",
                                 "M=4096,P=8,E=64", "--json")
    assert status == 2 and "P = 8 contradicts cascade 'decode', which fixes P = 1" in err


def test_simulate_and_map_a_users_cascade_file(tmp_path, run_command):
    path = tmp_path / "relu.yaml"
    path.write_text(STATE_CASCADE.replace("outer-state", "relu-attention").replace(
        "  W[e,f,p] = QK[m,p] * K[e,m] * V[f,m]\n  AV[f,p] = Q[e,p] * W[e,f,p]\n",
        "  A[m,p] = relu(QK[m,p]) / M\n  AV[f,p] = A[m,p] * V[f,m]\n"))
    row = _simulate(run_command, "--cascade", str(path), "--workload", "llama3-8b", "--seq", "4K")
    # relu is one FMNMX, / M one FMUL (M is a constant): per tile Br.Bc ALU, Br.Bc FP32, A converted
    assert row["cascade"] == "relu-attention" and row["tile_work"]["per_tile"] == {
        "tensor": "256*Br*Bc", "alu": "Br*Bc", "fp32": "Br*Bc", "conversion": "Br*Bc"}
    saved = tmp_path / "best.yaml"
    status, out, err = run_command(map_command, "map", "--arch", "h100", "--cascade", str(path), "--kernel", "fa2",
                                   "--workload", "llama3-8b", "--seq", "4K", "--save", str(saved), "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["cascade"] == "relu-attention" and result["kernel"] == "fa2"
    again = _simulate(run_command, "--mapping", str(saved), "--workload", "llama3-8b", "--seq", "4K")
    assert again["cascade"] == "relu-attention"
    assert again["latency_s"] == pytest.approx(result["best"]["latency_s"], rel=1e-9)


def test_map_a_library_cascade_no_mapping_computes_searches_every_fused_kernel(run_command):
    status, out, err = run_command(map_command, "map", "--arch", "h100", "--cascade", "sigmoid-bias", "--workload",
                                   "llama3-8b", "--seq", "4K", "--json")
    assert status == 0, err
    results = json.loads(out)["results"]
    assert {r["kernel"] for r in results} == {"fa2", "fa3", "triton-fa2", "cudnn-like"}
    assert {r["cascade"] for r in results} == {"sigmoid-bias"}


@pytest.mark.parametrize(("argv", "message"), [
    (("--cascade", "sigmoid-bias"), "--cascade on a GPU needs --workload and --seq, or --shape"),
    (("--cascade", "sigmoid-bias", "--mapping", "flash-decoding", "--workload", "bert", "--seq", "1K"),
     "'flash-decoding' is split-kv: only fused mappings run another cascade"),
    (("--cascade", "sigmoid-bias", "--shape", "M=1024,X=3"), "unknown: X"),
])
def test_simulate_cascade_errors_on_a_gpu_are_one_line(run_command, argv, message):
    status, _, err = run_command(simulate_command, "simulate", "--arch", "h100", *argv)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
