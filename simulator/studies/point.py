"""`run_point`: the one place a design point is run, on a spatial array or a GPU, for every command."""

from __future__ import annotations

from arch_models import SpatialArch, load_arch
from arch_models.gpu import GpuArch, is_gpu_name, load_gpu
from einsum_cascade.errors import SpecError
from einsum_cascade.library import causal_form, resolve_cascade
from mappers.gpu_kernels import GpuMapping, load_gpu_mapping
from mappers.load import load_mapping
from mappers.mapping import Mapping
from simulator.spatial.simulate import SpatialReport
from simulator.studies.arch_overrides import split_overrides
from simulator.studies.gpu_point import gpu_shape_point, gpu_workload_point
from simulator.studies.result import PointResult
from simulator.studies.spatial_point import spatial_shape_point, spatial_workload_point


def run_point(arch: SpatialArch | GpuArch | str, mapping: Mapping | GpuMapping | str | None,
              workload: str | None = None, seq_len: int | str | None = None, *, design: str | None = None,
              cascade: str | None = None, shapes: dict[str, int] | None = None, batch: int | None = None,
              end_to_end: bool = False, timing: str = "ideal", dataflow: str = "os", overrides: dict | None = None,
              report: SpatialReport | None = None, stats: bool = False, causal: bool = False) -> PointResult:
    """One point: `mapping` (an object or a preset name / YAML file) on `arch` for a workload's attention at
    `seq_len`, or with `shapes` for `cascade` at those sizes. `overrides` are `--set` keys: with an arch name its
    with_overrides keys are applied here, and on a GPU `mapping.KEY` keys to a mapping given by name. On a GPU
    `cascade` is the cascade the mapping's kernel computes. `report`: a spatial attention report a search has
    already made of this mapping at these shapes, so the mapping is not simulated twice. `stats`: add each
    tensor's words, accesses and energy per storage level (spatial arrays; a GPU point has no such levels).
    `causal`: a workload's attention with each query seeing only the keys up to its own position (prefill): on a
    spatial array the library's causal form of the mapping's cascade, on a GPU the kernel's causal masking."""
    if causal and shapes is not None:
        raise SpecError("--causal goes with a workload; at explicit shapes give the causal cascade itself "
                        "(e.g. --cascade fusemax-causal)", key="--causal")
    arch_overrides, mapping_overrides = split_overrides(overrides or {})
    if isinstance(arch, GpuArch) or (isinstance(arch, str) and is_gpu_name(arch)):
        if isinstance(arch, str):
            arch = load_gpu(arch).with_overrides(**arch_overrides) if arch_overrides else load_gpu(arch)
        if isinstance(mapping, str):
            mapping = load_gpu_mapping(mapping, mapping_overrides)
        mapping = mapping.with_cascade(cascade)
        if shapes is not None:
            return gpu_shape_point(arch, mapping, shapes, mapping_overrides, design)
        return gpu_workload_point(arch, mapping, workload, seq_len, batch, end_to_end, causal=causal,
                                  mapping_overrides=mapping_overrides, design=design)
    if isinstance(arch, str):
        arch = load_arch(arch, overrides)
    if shapes is not None:
        return spatial_shape_point(arch, cascade, shapes, mapping, timing, dataflow, stats)
    mapping = load_mapping(mapping) if isinstance(mapping, str) else mapping
    cascade_of_point = causal_form(resolve_cascade(mapping.cascade)) if causal else None
    return spatial_workload_point(arch, mapping, workload, seq_len, design or mapping.name, end_to_end, batch,
                                  timing, dataflow, cascade=cascade_of_point, report=report, stats=stats)
