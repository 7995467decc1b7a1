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
    assert gpu_names() == ["a100-sxm4-80gb", "h100-sxm5-80gb", "h200"]
    a100, h100, h200 = (load_gpu(name) for name in gpu_names())
    assert a100.peak_tensor_flops() == pytest.approx(312e12, rel=0.001)  # REFERENCE.md §2
    assert h100.peak_tensor_flops() == pytest.approx(989e12, rel=0.001)
    assert h100.peak_tensor_flops(dtype="fp8") == pytest.approx(1979e12, rel=0.001)
    assert 2 * h100.fp32_fma_per_clk_per_sm * 132 * 1.98e9 == pytest.approx(67e12, rel=0.01)
    assert h100.best_family() == "wgmma" and a100.best_family() == "mma"
    assert h200.hbm_bytes_per_s == 4.8e12 and h200.sm_count == h100.sm_count
    assert load_gpu("h100").name == "h100-sxm5-80gb"  # unique prefix


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


def test_user_gpu_file_and_overrides(tmp_path):
    path = tmp_path / "half-h100.yaml"
    text = H100_TEXT.replace("name: h100-sxm5-80gb", "name: half-h100").replace("sm_count: 132", "sm_count: 66")
    path.write_text(text)
    gpu = load_gpu(str(path))
    assert gpu.name == "half-h100" and gpu.peak_tensor_flops() == pytest.approx(989e12 / 2, rel=0.001)
    assert load_gpu("h100").with_overrides(sm_count=66).sm_count == 66
    with pytest.raises(SpecError, match="unknown GPU override"):
        load_gpu("h100").with_overrides(smcount=66)
    with pytest.raises(SpecError, match="no GPU named"):
        load_gpu("v100")
