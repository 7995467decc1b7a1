"""GPU presets (arch_models/gpu_presets): cited figures load, derived peaks match the datasheets, bad files fail
with `file:line: key: message`, and a user can add a GPU by writing one YAML file."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_errors import line_of, rejected

from arch_models import gpu_names, load_gpu
from arch_models.gpu import GPU_PRESETS_DIR
from einsum_cascade.errors import SpecError

H100_TEXT = (GPU_PRESETS_DIR / "h100-sxm5-80gb.yaml").read_text()


def test_presets_and_datasheet_peaks():
    assert gpu_names() == ["a100-sxm4-80gb", "b200", "h100-sxm5-80gb", "h20", "h200", "l4", "l40s", "rtx-4090"]
    a100, h100, h200 = (load_gpu(name) for name in ("a100-sxm4-80gb", "h100-sxm5-80gb", "h200"))
    assert a100.peak_tensor_flops() == pytest.approx(312e12, rel=0.001)  # REFERENCE.md §2
    assert h100.peak_tensor_flops() == pytest.approx(989e12, rel=0.001)
    assert h100.peak_tensor_flops(dtype="fp8") == pytest.approx(1979e12, rel=0.001)
    assert 2 * h100.fp32_fma_per_clk_per_sm * 132 * 1.98e9 == pytest.approx(67e12, rel=0.01)
    assert h100.best_family() == "wgmma" and a100.best_family() == "mma"
    assert h200.hbm_bytes_per_s == 4.8e12 and h200.sm_count == h100.sm_count
    assert load_gpu("h100").name == "h100-sxm5-80gb"  # a declared alias


def errors_of(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = tmp_path / "gpu.yaml"
    path.write_text(text)
    return path, rejected(lambda: load_gpu(str(path)))


def test_unknown_key_and_bad_family_name_the_line(tmp_path):
    text = H100_TEXT.replace("sm_count: 132", "sm_count: 132\nsm_cuont: 4").replace("  mma:", "  hmma:")
    path, errors = errors_of(tmp_path, text)
    assert any(e.startswith(f"{path}:{line_of(text, 'sm_cuont')}: sm_cuont: unknown key") for e in errors), errors
    assert any(": tensor_fma_per_clk_per_sm.hmma: unknown instruction family 'hmma'" in e for e in errors), errors


def test_missing_key_and_text_number_hint(tmp_path):
    text = H100_TEXT.replace("l2_bytes: 52428800", "").replace("hbm_bytes_per_s: 3350000000000",
                                                                "hbm_bytes_per_s: 3.35e12")
    _, errors = errors_of(tmp_path, text)
    assert any("missing required key 'l2_bytes'" in e for e in errors), errors
    assert any("hbm_bytes_per_s" in e and "exponent with a sign" in e for e in errors), errors


def test_compute_capability_is_major_dot_minor(tmp_path):
    assert load_gpu("rtx-4090").compute_capability == "8.9" and load_gpu("b200").compute_capability == "10.0"
    for bad in ("89", "sm_89", "8.86", "[8, 9]"):
        text = H100_TEXT.replace("compute_capability: 9.0", f"compute_capability: {bad}")
        _, errors = errors_of(tmp_path, text)
        assert any("compute_capability" in e and "must be major.minor" in e for e in errors), (bad, errors)


def test_user_gpu_file_and_overrides(tmp_path):
    path = tmp_path / "half-h100.yaml"
    text = H100_TEXT.replace("name: h100-sxm5-80gb", "name: half-h100").replace("sm_count: 132", "sm_count: 66")
    path.write_text(text)
    gpu = load_gpu(str(path))
    assert gpu.name == "half-h100" and gpu.peak_tensor_flops() == pytest.approx(989e12 / 2, rel=0.001)
    assert load_gpu("h100").with_overrides(sm_count=66).sm_count == 66
    with pytest.raises(SpecError, match="unknown GPU override"):
        load_gpu("h100").with_overrides(smcount=66)
    with pytest.raises(SpecError, match="no GPU preset named 'v100'"):
        load_gpu("v100")


# REFERENCE.md §2 "More GPUs, datasheet figures only": SMs, dense FP16/BF16 (FP32 accumulate) and FP8 tensor
# TFLOP/s, memory bandwidth, L2 MB, shared memory per SM / per block KB, tensor instruction families
MORE_GPUS = {
    "h20": (78, 148, 296, 4.0e12, 60, (228, 227), {"wgmma", "mma"}),
    "l40s": (142, 362, 733, 864e9, 96, (100, 99), {"mma"}),
    "l4": (58, 121, 242, 300e9, 48, (100, 99), {"mma"}),
    "rtx-4090": (128, 165, 330, 1008e9, 72, (100, 99), {"mma"}),
    "b200": (148, 2250, 4500, 8e12, 126, (228, 227), {"tcgen05", "mma"}),
}


@pytest.mark.parametrize("name", MORE_GPUS)
def test_datasheet_only_presets_reproduce_the_datasheet(name):
    sms, fp16, fp8, memory, l2_mb, (shared_sm, shared_block), families = MORE_GPUS[name]
    gpu = load_gpu(name)
    assert gpu.sm_count == sms and set(gpu.families) == families
    assert gpu.peak_tensor_flops() / 1e12 == pytest.approx(fp16, rel=0.001)
    assert gpu.peak_tensor_flops(dtype="bf16") == gpu.peak_tensor_flops()
    assert gpu.peak_tensor_flops(dtype="fp8") / 1e12 == pytest.approx(fp8, rel=0.001)
    assert gpu.hbm_bytes_per_s == memory and gpu.l2_bytes == l2_mb * 2**20
    assert gpu.shared_memory_bytes_per_sm == shared_sm * 1024
    assert gpu.shared_memory_bytes_per_block == shared_block * 1024
    assert gpu.registers_per_sm == 65536


def test_ada_limits_and_fp32_rates():
    for name, fp32_tflops, clock_mhz in (("l40s", 91.6, 2520), ("l4", 30.3, 2040), ("rtx-4090", 82.6, 2520)):
        gpu = load_gpu(name)
        assert (gpu.max_warps_per_sm, gpu.max_blocks_per_sm, gpu.clock_hz) == (48, 24, clock_mhz * 1e6)
        assert 2 * gpu.fp32_fma_per_clk_per_sm * gpu.sm_count * gpu.clock_hz / 1e12 == pytest.approx(fp32_tflops,
                                                                                                    rel=0.002)
        with pytest.raises(SpecError, match="has no 'wgmma' tensor instructions"):
            gpu.tensor_rate("wgmma")
    # GeForce: FP16 with FP32 accumulate at half the L40S's per-SM rate at the same clock (165 vs 362 x 128/142)
    assert load_gpu("rtx-4090").tensor_rate("mma") == pytest.approx(load_gpu("l40s").tensor_rate("mma") / 2, rel=0.02)


def test_h20_is_a_quarter_rate_hopper_sm_and_b200_has_no_wgmma():
    h20, h100 = load_gpu("h20"), load_gpu("h100")
    assert h20.tensor_rate("wgmma") == h100.tensor_rate("wgmma") / 4  # the per-SM rate is reduced, not the clock
    assert h20.clock_hz == pytest.approx(148e12 / (2 * 78 * 512)) and 1.8e9 < h20.clock_hz < 1.9e9
    for key in ("sfu_ops_per_clk_per_sm", "fp32_fma_per_clk_per_sm", "shared_memory_bytes_per_clk_per_sm",
                "max_warps_per_sm", "max_blocks_per_sm", "registers_per_thread_max"):
        assert getattr(h20, key) == getattr(h100, key), key  # REFERENCE.md: the H100's SM design
    b200 = load_gpu("b200")
    assert b200.best_family() == "tcgen05" and "wgmma" not in b200.families
    assert b200.tensor_rate("tcgen05") == 2 * h100.tensor_rate("wgmma")


def test_a_compute_capability_is_compared_in_its_plain_form():
    from arch_models.gpu import capability_text

    assert [capability_text(v) for v in ("08.9", 8.9, "10.0", 9.0)] == ["8.9", "8.9", "10.0", "9.0"]
