"""Names: a GPU or a kernel is found by its preset's name or one of its declared aliases, exactly (ignoring case),
never by prefix; anything else is refused with one line. Expected device names are torch.cuda.get_device_name()'s
for those parts; the different products listed as refused are the ones the presets' comments name."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_errors import line_of, rejected

import arch_models.gpu as gpu_module
from arch_models import arch_names, gpu_names, load_gpu
from arch_models.gpu import GPU_PRESETS_DIR, gpu_name_index, gpu_preset_named, is_gpu_name, resolve_gpu_name
from einsum_cascade.errors import SpecError
from mappers.gpu_kernels import gpu_mapping_names, load_gpu_mapping, mapping_for_kernel, parse_gpu_mapping
from simulator.cli import list_items
from simulator.studies.arch_overrides import load_arch_with_overrides

H100_TEXT = (GPU_PRESETS_DIR / "h100-sxm5-80gb.yaml").read_text()

DEVICE_NAMES = {  # torch.cuda.get_device_name() of each part -> its preset
    "NVIDIA A100-SXM4-80GB": "a100-sxm4-80gb", "NVIDIA H100 80GB HBM3": "h100-sxm5-80gb", "NVIDIA H200": "h200",
    "NVIDIA H20": "h20", "NVIDIA L40S": "l40s", "NVIDIA L4": "l4", "NVIDIA GeForce RTX 4090": "rtx-4090",
    "NVIDIA B200": "b200",
}
PROJECT_NAMES = {"h100-sxm5-80gb": "h100-sxm5-80gb", "h100": "h100-sxm5-80gb", "a100": "a100-sxm4-80gb",
                 "H100-SXM5-80GB": "h100-sxm5-80gb", "A100-SXM4-80GB": "a100-sxm4-80gb"}  # README, sweeps, CSV
OTHER_PRODUCTS = ["NVIDIA H100 NVL", "H100 NVL", "NVIDIA H100 PCIe", "H100 PCIe", "NVIDIA GH200 480GB", "GH200",
                  "NVIDIA A100 80GB PCIe", "A100-SXM4-40GB", "NVIDIA H200 NVL", "L40", "NVIDIA GeForce RTX 4090 D"]
PREFIXES = ["H", "H1", "h10", "H2", "a10", "A100-SXM4", "rtx", "B2", "L"]  # prefixes of presets, not aliases


def test_h20_is_the_h20_and_nothing_else():
    gpu = load_gpu("H20")
    assert gpu.name == "h20" and gpu.sm_count == 78  # REFERENCE.md §2 "More GPUs": 78 SMs (the H200 has 132)
    assert [name for name, preset in gpu_name_index().items() if preset == "h20"] == ["h20", "h20-96gb", "nvidia h20"]
    assert gpu_preset_named("h200") == "h200" and gpu_preset_named("H20") != gpu_preset_named("H200")


@pytest.mark.parametrize("name", PREFIXES + OTHER_PRODUCTS)
def test_prefixes_and_other_products_are_refused_in_one_line(name):
    [error] = rejected(lambda: load_gpu(name))
    assert f"no GPU preset named {name!r}" in error and "; presets: a100-sxm4-80gb, b200," in error  # a near
    assert "\n" not in error  # miss may get "(did you mean ...?)" between the two: a suggestion, never a pick
    assert gpu_preset_named(name) is None and not is_gpu_name(name)


def test_every_alias_resolves_to_its_preset_in_any_case():
    for preset in gpu_names():
        gpu = load_gpu(preset)
        assert gpu.name == preset  # the file name is the preset's name
        for alias in (preset, *gpu.aliases):
            for spelling in (alias, alias.upper(), alias.lower(), f"  {alias} "):
                assert resolve_gpu_name(spelling) == preset and load_gpu(spelling).name == preset, spelling


@pytest.mark.parametrize("name, preset", [*DEVICE_NAMES.items(), *PROJECT_NAMES.items()])
def test_device_names_and_the_projects_own_names(name, preset):
    assert load_gpu(name).name == preset and is_gpu_name(name)
    assert load_arch_with_overrides(name, {"sm_count": 10}).sm_count == 10  # `--arch NAME --set ...` as well


def test_gpu_names_never_shadow_spatial_arrays():
    assert not set(gpu_name_index()) & {name.casefold() for name in arch_names()}


def test_bad_aliases_name_the_line(tmp_path):
    path = tmp_path / "gpu.yaml"
    for aliases, words in (("aliases: H100\n", "aliases: must be a list of names"),
                           ("aliases: [ok, '']\n", "aliases.1: '' must be a non-empty name"),
                           ("aliases: [my/gpu.yaml]\n", "aliases.0: 'my/gpu.yaml' must be a non-empty name (not")):
        text = H100_TEXT.replace("aliases: [", "# aliases: [").replace("version: 1\n", "version: 1\n" + aliases)
        path.write_text(text)
        errors = rejected(lambda: load_gpu(str(path)))  # noqa: B023 - called at once
        assert any(e.startswith(f"{path}:{line_of(text, aliases.strip())}: {words}") for e in errors), errors


def test_two_presets_claiming_one_name_is_an_error(tmp_path, monkeypatch):
    for name in ("one", "two"):
        text = H100_TEXT.replace("name: h100-sxm5-80gb", f"name: {name}").replace("aliases: [H100,", "aliases: [X1,")
        (tmp_path / f"{name}.yaml").write_text(text)
    monkeypatch.setattr(gpu_module, "GPU_PRESETS_DIR", tmp_path)
    gpu_name_index.cache_clear()
    try:
        with pytest.raises(SpecError, match="GPU name 'X1' is claimed by presets 'one' and 'two'"):
            gpu_name_index()
    finally:
        monkeypatch.undo()
        gpu_name_index.cache_clear()
    assert gpu_preset_named("H100") == "h100-sxm5-80gb"


def test_fa2_picks_its_tile_by_device_properties_as_its_launch_code_does():
    """Expected tiles read by hand from flash-attn 2.6.3's launch templates: sm86/sm89 (`major == 8 && minor > 0`)
    take 128 x 32 (non-causal) or 64 x 64 (causal) at head dim 128; head dim 256 takes 128 x 64 with 8 warps
    only where one block fits (>= 128 KB per block) and two do not (< 192 KB per SM), i.e. the A100; the
    backward takes its large tiles only with >= 144 KB per block."""
    fa2 = load_gpu_mapping("fa2")
    a100, h100, l40s, rtx, l4 = (load_gpu(n) for n in ("a100-sxm4-80gb", "h100", "l40s", "rtx-4090", "l4"))
    cases = [(256, a100, False, False, (128, 64, 8)),
             (256, a100.with_overrides(sm_count=54), False, False, (128, 64, 8)),
             (256, h100, False, False, (64, 64, 4)), (256, l40s, False, False, (64, 64, 4)),
             (128, a100, False, False, (128, 64, 4)), (128, h100, True, False, (128, 64, 4)),
             (128, rtx, False, False, (128, 32, 4)), (128, rtx, True, False, (64, 64, 4)),
             (96, l4, True, False, (64, 64, 4)), (160, h100, False, False, (128, 32, 4)),
             (160, l40s, False, False, (128, 64, 8)), (64, l40s, True, False, (128, 128, 4)),
             (64, a100, False, True, (128, 128, 8)), (64, l4, False, True, (64, 128, 8)),
             (128, h100, False, True, (64, 128, 8)), (128, l40s, False, True, (64, 64, 8)),
             (256, h100, False, True, (64, 64, 8)), (256, rtx, False, True, (64, 32, 8))]
    for head_dim, gpu, causal, backward, expected in cases:
        tile = fa2.tile_for(head_dim, gpu, causal, backward=backward)
        assert (tile.br, tile.bc, tile.warps) == expected, (head_dim, gpu.name, causal, backward)


def test_a_tile_condition_is_checked_when_the_mapping_is_read():
    text = Path(load_gpu_mapping("fa2").source).read_text()
    bad = text.replace("compute_capability: [8.6, 8.7, 8.9], causal: true, br: 64, bc: 64, warps: 4, stages: 1}",
                       "compute_capability: [sm89], causal: true, br: 64, bc: 64, warps: 4, stages: 1}", 1)
    bad = bad.replace("shared_memory_bytes_per_sm_below: 196608", "shared_memory_bytes_per_sm_below: -1")
    errors = rejected(lambda: parse_gpu_mapping(bad, "fa2.yaml"))
    assert any("tiles.1.compute_capability: compute_capability = ['sm89'] must be a non-empty list of "
               "major.minor values" in e for e in errors), errors
    assert any("shared_memory_bytes_per_sm_below = -1 must be a positive integer (bytes)" in e for e in errors)


def test_list_archs_shows_the_gpu_presets_and_their_aliases(run_command):
    status, out, _ = run_command(list_items, "list", "archs")
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert status == 0 and set(gpu_names()) <= set(lines) and "fusemax" in lines
    assert "also named: H20, H20-96GB, NVIDIA H20" not in lines["h20"]  # the name itself is not repeated
    assert "also named: H20-96GB, NVIDIA H20" in lines["h20"] and "NVIDIA H100 80GB HBM3" in lines["h100-sxm5-80gb"]


KERNEL_NAMES = {  # names papers, blog posts and issue threads use -> the mapping that describes the kernel
    "FlashAttention-2": "fa2", "FA2": "fa2", "flash_attn": "fa2", "PyTorch SDPA (default backend)": "fa2",
    "FlashAttention v2.0.9": "fa2", "sdpa-flash": "fa2", "FlashAttention-3": "fa3", "FA3": "fa3",
    "flash_attn_interface": "fa3", "cuDNN": "cudnn-like", "cuDNN-9.1.1": "cudnn-like",
    "Flash-Decoding": "flash-decoding",
    "Triton": "triton-fa2", "Triton-FA2(H100 instrs)": "triton-fa2", "PyTorch-std": "pytorch-unfused",
    "PyTorch eager": "pytorch-unfused", "Standard attention": "pytorch-unfused", "sdpa-math": "pytorch-unfused",
}


@pytest.mark.parametrize("name, mapping", KERNEL_NAMES.items())
def test_kernel_names_from_papers_resolve(name, mapping):
    for spelling in (name, name.lower(), name.upper()):
        assert mapping_for_kernel(spelling).name == mapping


@pytest.mark.parametrize("name", ["FlashAttention", "FA1", "FA", "Flash", "cuDNN-9", "FlashAttention-2 (v2.6)",
                                  "FA-Triton(2022)", "xformers-cutlass", "PyTorch", "Tri"])
def test_kernel_prefixes_and_unmodelled_kernels_are_not_found(name):
    assert mapping_for_kernel(name) is None


def test_every_kernel_alias_resolves_to_its_mapping_only():
    seen = {}
    for name in gpu_mapping_names():
        mapping = load_gpu_mapping(name)
        for alias in (name, *mapping.measured_as):
            assert mapping_for_kernel(alias).name == name, alias
            assert seen.setdefault(alias.casefold(), name) == name, f"{alias} claimed by {seen[alias.casefold()]}"
    assert load_gpu_mapping("flash-decoding").measured_as  # no mapping is without the names it goes by
