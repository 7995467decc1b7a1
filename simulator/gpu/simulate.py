"""One attention problem under one GPU mapping -> a report (time, TFLOP/s, utilization, bounds per phase)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from arch_models.gpu import GpuArch
from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import load_yaml, read_text
from mappers.gpu_kernels import GpuMapping
from simulator.gpu.attention import ELEMENT, AttentionProblem, fused_phases
from simulator.gpu.backward import backward_phases
from simulator.gpu.model import RESOURCES, Phase, PhaseResult, time_phase
from simulator.gpu.unfused import unfused_phases

CALIBRATION_FILE = Path(__file__).with_name("calibration.yaml")


@cache
def calibration() -> dict:
    """The fitted efficiency per instruction family and how it was fitted (`calibration.yaml`)."""
    document = load_yaml(read_text(CALIBRATION_FILE), str(CALIBRATION_FILE))
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("efficiency"), dict):
        raise document.error("calibration file needs `efficiency: {family: factor}`")
    for family, value in data["efficiency"].items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1.5:
            raise document.error(f"efficiency of {family} = {value!r} must be a number in (0, 1.5]", "efficiency",
                                 family)
    return data


def default_efficiency() -> dict[str, float]:
    return {str(k): float(v) for k, v in calibration()["efficiency"].items()}


def build_phases(mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem,
                 efficiency_family: str | None = None) -> tuple[list[Phase], dict]:
    """The kernel launches of `mapping` on `gpu` for `problem`, and a description of the choices made: the
    forward kernels, the backward kernels (`bwd`: given the forward's saved outputs), or both (`fwd+bwd`)."""
    family = efficiency_family or mapping.family(gpu.families, gpu.best_family(problem.dtype))
    if problem.passes == "bwd":
        backward, backward_info = backward_phases(mapping, gpu, problem, family)
        return backward, {"family": family, **backward_info, "backward": backward_info}
    builder = unfused_phases if mapping.kind == "unfused" else fused_phases
    phases, info = builder(mapping, gpu, problem, family)
    if problem.passes == "fwd+bwd":
        backward, backward_info = backward_phases(mapping, gpu, problem, family)
        phases, info = phases + backward, {**info, "backward": backward_info}
    return phases, info


@dataclass
class GpuReport:
    gpu: str
    mapping: str
    problem: AttentionProblem
    time_s: float
    phases: list[PhaseResult]
    info: dict
    efficiency: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def flops(self) -> float:
        return self.problem.flops()

    @property
    def tflops(self) -> float:
        return self.flops / self.time_s / 1e12

    def utilization(self) -> dict[str, float]:
        """Time-weighted utilization of each resource over all phases."""
        return {r: sum(p.utilization[r] * p.time_s for p in self.phases) / self.time_s for r in RESOURCES}

    @property
    def bound(self) -> str:
        longest = max(self.phases, key=lambda p: p.time_s)
        return longest.bound

    def phase_table(self) -> list[dict]:
        return [{"phase": p.name, "time_s": p.time_s, "share": p.time_s / self.time_s, "bound": p.bound,
                 "blocks": p.blocks, "resident_blocks_per_sm": p.resident_blocks, "waves": p.waves,
                 "tile_cycles": p.tile_cycles, "utilization": p.utilization,
                 "demand_cycles_per_tile": {k: v for k, v in p.demands.items() if k != "vector"}}
                for p in self.phases]


def check_fits_device(gpu: GpuArch, problem: AttentionProblem) -> None:
    """A problem runs only if its Q, K, V and O (and, for a backward pass, their gradients) fit the GPU's HBM;
    one that cannot is an error naming the sizes, before any per-block work is built."""
    elements = problem.batch * (problem.heads * problem.seqlen_q * (problem.head_dim + problem.head_dim_v)
                                + problem.kv_heads * problem.seqlen_kv * (problem.head_dim + problem.head_dim_v))
    backward = problem.passes in ("bwd", "fwd+bwd")
    tensors = elements * (2 if backward else 1) * ELEMENT
    if tensors > gpu.hbm_capacity_bytes:
        raise SpecError(f"batch {problem.batch}, {problem.heads} heads, {problem.seqlen_q} queries x "
                        f"{problem.seqlen_kv} keys needs {tensors / 1e9:.4g} GB for Q, K, V and O"
                        f"{' and their gradients' if backward else ''}; {gpu.name} has "
                        f"{gpu.hbm_capacity_bytes / 1e9:.4g} GB of HBM", key="problem")


def simulate_attention(mapping: GpuMapping, gpu: GpuArch, problem: AttentionProblem,
                       efficiency: dict[str, float] | None = None) -> GpuReport:
    efficiency = default_efficiency() if efficiency is None else efficiency
    check_fits_device(gpu, problem)
    phases, info = build_phases(mapping, gpu, problem)
    if not phases:
        raise SpecError(f"mapping {mapping.name!r} produced no kernels for this problem")
    results = [time_phase(phase, gpu, efficiency) for phase in phases]
    return GpuReport(gpu=gpu.name, mapping=mapping.name, problem=problem, time_s=sum(r.time_s for r in results),
                     phases=results, info=info, efficiency=efficiency)
