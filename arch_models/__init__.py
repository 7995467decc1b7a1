"""Hardware descriptions (spatial arrays): YAML presets validated into frozen dataclasses."""

from arch_models.gpu import GpuArch, gpu_names, load_gpu
from arch_models.load import arch_names, arch_to_spec, load_arch, load_arch_file, parse_arch
from arch_models.spatial import OPERATOR_NAMES, OVERRIDE_KEYS, Buffer, ComputeArray, Dram, OperatorCost, SpatialArch

__all__ = [
    "GpuArch", "OPERATOR_NAMES", "OVERRIDE_KEYS", "Buffer", "ComputeArray", "Dram", "OperatorCost", "SpatialArch",
    "arch_names", "arch_to_spec", "gpu_names", "load_gpu", "load_arch", "load_arch_file", "parse_arch",
]
