"""GPUs as frozen value objects, read from one YAML file each (`arch_models/gpu_presets/*.yaml`).

A GPU is what the threadblock model needs and nothing else: SM count and clock, dense tensor-core
throughput per SM per clock (FP32 accumulate) for each instruction family the GPU has (Ampere-style
`mma` = mma.sync, Hopper `wgmma`, Blackwell `tcgen05`; a family a GPU lacks is simply not listed) and
dtype, the non-tensor pipes (FP32, compare/min/max, special functions, type conversions, issue), the
per-SM limits that decide occupancy (registers, shared memory, warps, blocks), L2, HBM, and two
latencies (DRAM, kernel launch). Units are in the key names. Validation collects every problem with
`file:line: key` before anything is built, as `arch_models.load` does for spatial arrays; adding a GPU
means writing one more YAML file (`load_gpu("path/to/my-gpu.yaml")` or drop it in `gpu_presets/`).

Names: a shipped preset answers to its `name` and to each of its declared `aliases` (the names papers and
`torch.cuda.get_device_name()` use), matched exactly, ignoring case and surrounding spaces; never by
prefix, so `H20` is the H20 and `H100 NVL` (another product) is no preset at all.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from einsum_cascade.errors import SpecError, unknown_name
from einsum_cascade.yaml_source import (
    COUNT,
    POSITIVE,
    POSITIVE_INT,
    TEXT,
    VERSION,
    YamlDocument,
    leaf_problem,
    load_yaml,
    looks_like_path,
    parse_checked,
    preset_names,
    read_text,
)

GPU_PRESETS_DIR = Path(__file__).parent / "gpu_presets"
SUPPORTED_VERSIONS = (1,)
INSTRUCTION_FAMILIES = ("mma", "wgmma", "tcgen05")
DTYPES = ("fp16", "bf16", "fp8", "tf32")

_INT, _NUM, _TEXT = POSITIVE_INT, POSITIVE, TEXT
# key -> (kind, required, meaning)
GPU_KEYS = {
    "version": (VERSION, True, "format version of the file (1)"),
    "name": (_TEXT, True, "the GPU's name, e.g. h100-sxm5-80gb"),
    "aliases": ("aliases", False, "other exact names of this very product, e.g. [H100, NVIDIA H100 80GB HBM3]"),
    "description": (_TEXT, False, "one line on what it is"),
    "compute_capability": ("capability", True, "CUDA compute capability major.minor, e.g. 8.9 (kernels choose "
                           "their tiles by it)"),
    "sm_count": (_INT, True, "streaming multiprocessors"),
    "clock_hz": (_NUM, True, "SM clock the throughputs below are quoted at"),
    "boost_clock_hz": (_NUM, False, "maximum boost clock (informational)"),
    "tensor_fma_per_clk_per_sm": ("families", True, "dense tensor FMAs per clock per SM with FP32 accumulate, for "
                                  "each instruction family the GPU has: {family: {dtype: n}}"),
    "fp32_fma_per_clk_per_sm": (_NUM, True, "FP32 fused multiply-adds per clock per SM"),
    "alu_ops_per_clk_per_sm": (_NUM, True, "FP32 compare/min/max results per clock per SM"),
    "sfu_ops_per_clk_per_sm": (_NUM, True, "special-function (exp2) results per clock per SM"),
    "conversion_ops_per_clk_per_sm": (_NUM, True, "FP32 -> 16-bit conversion results per clock per SM"),
    "issue_thread_ops_per_clk_per_sm": (_NUM, True, "instructions issued per clock per SM x 32 threads"),
    "shared_memory_bytes_per_clk_per_sm": (_NUM, True, "shared-memory bandwidth per SM"),
    "shared_memory_bytes_per_sm": (_INT, True, "shared memory per SM"),
    "shared_memory_bytes_per_block": (_INT, True, "largest shared-memory allocation of one block"),
    "shared_memory_reserved_bytes_per_block": (COUNT, False, "shared memory the system reserves per resident block"),
    "registers_per_sm": (_INT, True, "32-bit registers per SM"),
    "registers_per_thread_max": (_INT, True, "largest register count of one thread"),
    "register_allocation_unit": (_INT, True, "registers are allocated per warp in multiples of this"),
    "max_warps_per_sm": (_INT, True, "resident warps per SM"),
    "max_blocks_per_sm": (_INT, True, "resident blocks per SM"),
    "max_threads_per_block": (_INT, True, "threads per block"),
    "l2_bytes": (_INT, True, "L2 cache capacity"),
    "l2_bytes_per_clk": (_NUM, True, "L2 read bandwidth, all SMs together"),
    "hbm_bytes_per_s": (_NUM, True, "HBM bandwidth"),
    "hbm_capacity_bytes": (_NUM, True, "HBM capacity"),
    "dram_latency_s": (_NUM, True, "latency of a load that misses L2 (loaded GPU)"),
    "launch_overhead_s": (_NUM, True, "gap one kernel launch adds between back-to-back kernels"),
    "die_area_mm2": (_NUM, False, "die area"),
    "board_power_w": (_NUM, False, "board power limit (TDP), for an upper-bound energy estimate"),
}
OVERRIDE_KEYS = {
    "sm_count": "number of SMs",
    "clock_hz": "SM clock (all per-clock throughputs scale with it)",
    "hbm_bytes_per_s": "HBM bandwidth",
    "l2_bytes": "L2 capacity",
}


@dataclass(frozen=True, slots=True)
class GpuArch:
    name: str
    description: str
    aliases: tuple[str, ...]
    compute_capability: str  # "major.minor", e.g. "8.9"
    sm_count: int
    clock_hz: float
    boost_clock_hz: float | None
    tensor_fma_per_clk_per_sm: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]  # ((family, ((dtype, n),)),)
    fp32_fma_per_clk_per_sm: float
    alu_ops_per_clk_per_sm: float
    sfu_ops_per_clk_per_sm: float
    conversion_ops_per_clk_per_sm: float
    issue_thread_ops_per_clk_per_sm: float
    shared_memory_bytes_per_clk_per_sm: float
    shared_memory_bytes_per_sm: int
    shared_memory_bytes_per_block: int
    shared_memory_reserved_bytes_per_block: int
    registers_per_sm: int
    registers_per_thread_max: int
    register_allocation_unit: int
    max_warps_per_sm: int
    max_blocks_per_sm: int
    max_threads_per_block: int
    l2_bytes: int
    l2_bytes_per_clk: float
    hbm_bytes_per_s: float
    hbm_capacity_bytes: float
    dram_latency_s: float
    launch_overhead_s: float
    die_area_mm2: float | None
    board_power_w: float | None
    source: str

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(family for family, _ in self.tensor_fma_per_clk_per_sm)

    def tensor_rate(self, family: str, dtype: str = "fp16") -> float:
        """Dense tensor FMAs per clock per SM of `family` in `dtype`; a clear error if unsupported."""
        rates = dict(self.tensor_fma_per_clk_per_sm)
        if family not in rates:
            raise SpecError(f"{self.name} has no {family!r} tensor instructions; it has: {', '.join(rates)}")
        by_dtype = dict(rates[family])
        if dtype not in by_dtype:
            raise SpecError(f"{self.name} {family} has no {dtype} rate; it has: {', '.join(by_dtype)}")
        return by_dtype[dtype]

    def best_family(self, dtype: str = "fp16") -> str:
        """The instruction family with the highest dense rate (what a vendor library would use)."""
        families = [f for f in self.families if dtype in dict(dict(self.tensor_fma_per_clk_per_sm)[f])]
        if not families:
            raise SpecError(f"{self.name} has no tensor instructions for {dtype!r}")
        return max(families, key=lambda f: self.tensor_rate(f, dtype))

    def peak_tensor_flops(self, family: str | None = None, dtype: str = "fp16") -> float:
        family = family or self.best_family(dtype)
        return 2.0 * self.tensor_rate(family, dtype) * self.sm_count * self.clock_hz

    @property
    def hbm_bytes_per_clk(self) -> float:
        return self.hbm_bytes_per_s / self.clock_hz

    def with_overrides(self, **overrides) -> GpuArch:
        """A variant (e.g. more bandwidth, fewer SMs); the name records the overrides."""
        unknown = [key for key in overrides if key not in OVERRIDE_KEYS]
        if unknown:
            raise SpecError(f"unknown GPU override {', '.join(map(repr, unknown))}; "
                            f"allowed: {', '.join(OVERRIDE_KEYS)}")
        for key, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise SpecError(f"GPU override {key} = {value!r} must be a positive number", key=key)
        values = {k: (int(v) if k in ("sm_count", "l2_bytes") else float(v)) for k, v in overrides.items()}
        suffix = ",".join(f"{key}={value:g}" for key, value in overrides.items())
        return replace(self, name=f"{self.name}[{suffix}]" if suffix else self.name, **values)


def gpu_names() -> list[str]:
    return preset_names(GPU_PRESETS_DIR)


def _folded(name: str) -> str:
    return str(name).strip().casefold()


@cache
def gpu_name_index() -> dict[str, str]:
    """Every name a shipped preset answers to (its name and aliases, case-folded) -> the preset's name.
    Two presets claiming one name is an error in the shipped files, reported with both."""
    index: dict[str, str] = {}
    for stem in gpu_names():
        path = GPU_PRESETS_DIR / f"{stem}.yaml"
        gpu = parse_gpu(read_text(path), source=str(path))
        for name in (gpu.name, *gpu.aliases):
            claimed = index.setdefault(_folded(name), gpu.name)
            if claimed != gpu.name:
                raise SpecError(f"GPU name {name!r} is claimed by presets {claimed!r} and {gpu.name!r}",
                                source=str(path), key="aliases")
    return index


def gpu_preset_named(name: str) -> str | None:
    """The preset whose name or one of whose aliases is `name` (exactly, ignoring case), or None."""
    return gpu_name_index().get(_folded(name))


def resolve_gpu_name(name: str, option: str = "--arch") -> str:
    """`gpu_preset_named`, or a one-line SpecError naming the option and the presets."""
    preset = gpu_preset_named(name)
    if preset is None:
        raise SpecError(unknown_name("GPU preset", str(name), gpu_names(), "presets", aliases=gpu_name_index())
                        + " (each also answers to its aliases, exactly and ignoring case: `cascade list archs` shows "
                        "them)", key=option)
    return preset


def preset_of(gpu_name: str) -> str | None:
    """The shipped preset a GpuArch name comes from (`a100-sxm4-80gb[sm_count=54]` -> a100-sxm4-80gb, as
    `with_overrides` names variants), or None for a GPU described by a user's file."""
    return gpu_preset_named(str(gpu_name).split("[", 1)[0])


def load_gpu(name_or_path: str) -> GpuArch:
    """A preset by name or alias (`h100-sxm5-80gb`, `H100`, `NVIDIA H100 80GB HBM3`) or a GPU YAML file."""
    text = str(name_or_path)
    if looks_like_path(text):
        return parse_gpu(read_text(text), source=text)
    path = GPU_PRESETS_DIR / f"{resolve_gpu_name(text)}.yaml"
    return parse_gpu(read_text(path), source=str(path))


def is_gpu_name(name_or_path: str) -> bool:
    """Whether `name_or_path` names a GPU preset or a YAML file that describes a GPU (has `sm_count`)."""
    text = str(name_or_path)
    if looks_like_path(text):
        try:
            data = load_yaml(read_text(text), text).data
        except SpecError:
            return False
        return isinstance(data, dict) and "sm_count" in data
    return gpu_preset_named(text) is not None


def parse_gpu(text: str, source: str = "<string>") -> GpuArch:
    return parse_checked(text, source, "GPU", GPU_KEYS, _problems, _build)


def _problems(doc: YamlDocument) -> list[SpecError]:
    data, errors = doc.data, []
    for key in data:
        if key not in GPU_KEYS:
            errors.append(doc.error(f"unknown key {key!r}; allowed keys: {', '.join(GPU_KEYS)}", key))
    for key, (kind, required, meaning) in GPU_KEYS.items():
        if key not in data:
            if required:
                errors.append(SpecError(f"missing required key {key!r} ({meaning})", doc.source,
                                        doc.lines.get(()), key))
            continue
        value = data[key]
        if kind == "families":
            errors += _family_problems(doc, value)
            continue
        if kind == "aliases":
            errors += _alias_problems(doc, value)
            continue
        if kind == "capability":
            if capability_text(value) is None:
                errors.append(doc.error(f"{key} = {value!r} must be major.minor, e.g. 8.9 or 9.0", key))
            continue
        problem = leaf_problem(value, kind, SUPPORTED_VERSIONS)
        if problem:
            errors.append(doc.error(f"{key} = {value!r} {problem}", key))
    if not errors and data["shared_memory_bytes_per_block"] > data["shared_memory_bytes_per_sm"]:
        errors.append(doc.error("shared_memory_bytes_per_block cannot exceed shared_memory_bytes_per_sm",
                                "shared_memory_bytes_per_block"))
    return errors


def capability_text(value) -> str | None:
    """A compute capability as "major.minor" (YAML reads 8.9 as a number, "8.9" as text), or None if it is
    not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    match = re.fullmatch(r"(\d{1,2})\.(\d)", str(value).strip())
    return f"{int(match.group(1))}.{match.group(2)}" if match else None


def _alias_problems(doc: YamlDocument, value) -> list[SpecError]:
    if not isinstance(value, list):
        return [doc.error("must be a list of names, e.g. [H100, NVIDIA H100 80GB HBM3]", "aliases")]
    errors = []
    for position, alias in enumerate(value):
        if not isinstance(alias, str) or not alias.strip() or looks_like_path(alias):
            errors.append(doc.error(f"{alias!r} must be a non-empty name (not a path)", "aliases", position))
    return errors


def _family_problems(doc: YamlDocument, value) -> list[SpecError]:
    key = "tensor_fma_per_clk_per_sm"
    example = "e.g. {mma: {fp16: 1024}, wgmma: {fp16: 2048, fp8: 4096}}"
    if not isinstance(value, dict) or not value:
        return [doc.error(f"must map instruction families to {{dtype: FMAs per clock per SM}}, {example}", key)]
    errors = []
    for family, rates in value.items():
        if family not in INSTRUCTION_FAMILIES:
            errors.append(doc.error(f"unknown instruction family {family!r}; known: {', '.join(INSTRUCTION_FAMILIES)}",
                                    key, family))
        elif not isinstance(rates, dict) or not rates:
            errors.append(doc.error(f"must map dtypes to FMAs per clock per SM, {example}", key, family))
        else:
            for dtype, rate in rates.items():
                if dtype not in DTYPES:
                    errors.append(doc.error(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}", key, family, dtype))
                elif leaf_problem(rate, _NUM):
                    errors.append(doc.error(f"{dtype} = {rate!r} must be a positive number", key, family, dtype))
    return errors


def _build(data: dict, source: str) -> GpuArch:
    families = tuple((str(f), tuple((str(d), float(r)) for d, r in rates.items()))
                     for f, rates in data["tensor_fma_per_clk_per_sm"].items())
    optional = {key: (float(data[key]) if key in data else None)
                for key in ("boost_clock_hz", "die_area_mm2", "board_power_w")}
    numbers = {key: (int(data[key]) if kind == _INT else float(data[key])) for key, (kind, _, _) in GPU_KEYS.items()
               if kind in (_INT, _NUM) and key not in optional}
    reserved = int(data.get("shared_memory_reserved_bytes_per_block", 0))
    return GpuArch(name=str(data["name"]), description=str(data.get("description", "")),
                   compute_capability=capability_text(data["compute_capability"]),
                   aliases=tuple(str(alias).strip() for alias in data.get("aliases", [])),
                   tensor_fma_per_clk_per_sm=families, shared_memory_reserved_bytes_per_block=reserved,
                   source=source, **optional, **numbers)
