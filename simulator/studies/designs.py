"""Designs (arch + mapping) and the evaluation of one design point: attention, optionally the whole layer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from arch_models import SpatialArch, load_arch
from arch_models.gpu import is_gpu_name
from einsum_cascade.errors import SpecError, unknown_name
from einsum_cascade.library import resolve_cascade
from einsum_cascade.yaml_source import load_yaml, read_text
from mappers.load import load_mapping
from simulator.spatial.simulate import simulate
from workloads.zoo import attention_shapes, layer_gemms, load_model

DESIGNS_FILE = Path(__file__).with_name("designs.yaml")


@dataclass(frozen=True)
class Design:
    name: str
    arch: str
    mapping: str
    label: str


@cache
def _designs_document():
    return load_yaml(read_text(DESIGNS_FILE), str(DESIGNS_FILE))


def design_names() -> list[str]:
    return list(_designs_document().data["designs"])


def load_design(name: str) -> Design:
    designs = _designs_document().data["designs"]
    if name not in designs:
        raise SpecError(unknown_name("design", name, designs), key="--designs")
    entry = designs[name]
    return Design(name, entry["arch"], entry["mapping"], entry.get("label", name))


def gemm_mapping_name() -> str:
    return _designs_document().data["gemm_mapping"]


def simulate_point(arch: SpatialArch, mapping_name: str, workload: str, seq_len: int, design: str,
                   end_to_end: bool = False, batch: int | None = None, timing: str = "ideal",
                   dataflow: str = "os") -> dict:
    """One row of results with the keys scripts rely on (see README: simulate --json)."""
    model = load_model(workload)
    mapping = load_mapping(mapping_name)
    cascade = resolve_cascade(mapping.cascade)
    report = simulate(cascade, arch, mapping, attention_shapes(model, seq_len, batch), design, timing,
                      dataflow)
    row = {"design": design, "workload": model.key, "seq_len": int(seq_len), **_metrics(report), "scope": "attention",
           "cycles": report.cycles}
    row.update({"einsum_share": report.einsum_share, "occupancy_bytes": report.occupancy_bytes,
                "measured_passes": report.measured_passes, "pass_lower_bound": report.pass_lower_bound,
                "bound": report.bound, "mapping": report.mapping, "arch": arch.name, "cascade": cascade.name,
                "energy_breakdown": report.energy_breakdown, "storage": report.storage})
    if end_to_end:
        gemm_mapping = load_mapping(gemm_mapping_name())
        gemm_cascade = resolve_cascade(gemm_mapping.cascade)
        layers = [simulate(gemm_cascade, arch, gemm_mapping, {"M": g.rows, "K": g.reduction, "N": g.cols},
                           timing=timing, dataflow=dataflow)
                  for g in layer_gemms(model, seq_len, batch)]
        row["attention_latency_s"] = row["latency_s"]
        row["attention_energy_pj"] = row["energy_pj"]
        busy_2d = row["util_2d"] * report.cycles + sum(r.util_2d * r.cycles for r in layers)
        busy_1d = row["util_1d"] * report.cycles
        cycles = report.cycles + sum(r.cycles for r in layers)
        breakdown = dict(row["energy_breakdown"])
        for layer in layers:
            for key, value in layer.energy_breakdown.items():
                breakdown[key] = breakdown.get(key, 0.0) + value
        row.update({"scope": "end-to-end", "latency_s": cycles / arch.clock_hz, "energy_breakdown": breakdown,
                    "cycles": cycles,
                    "energy_pj": row["energy_pj"] + sum(r.energy_pj for r in layers),
                    "dram_bytes": row["dram_bytes"] + sum(r.dram_bytes for r in layers),
                    "util_2d": busy_2d / cycles, "util_1d": busy_1d / cycles})
    return row


def _metrics(report) -> dict:
    return {"latency_s": report.latency_s, "energy_pj": report.energy_pj, "dram_bytes": report.dram_bytes,
            "util_2d": report.util_2d, "util_1d": report.util_1d, "area_mm2": report.area_mm2}


def simulate_on(arch_name: str, mapping_name: str, workload: str, seq_len: int, design: str,
                end_to_end: bool = False, batch: int | None = None, timing: str = "ideal", dataflow: str = "os",
                overrides: dict | None = None) -> dict:
    """One point on a spatial array or a GPU, chosen by the arch name (same result keys either way);
    `overrides` are the arch's with_overrides keys (`cascade simulate --set`), and on a GPU `mapping.KEY` keys
    of the GPU mapping."""
    if is_gpu_name(arch_name):
        from arch_models.gpu import load_gpu
        from simulator.studies.arch_overrides import split_overrides
        from simulator.studies.gpu_point import simulate_gpu_point

        arch_overrides, mapping_overrides = split_overrides(overrides or {})
        gpu = load_gpu(arch_name).with_overrides(**arch_overrides) if arch_overrides else arch_name
        row = simulate_gpu_point(gpu, mapping_name, workload, seq_len, batch=batch, end_to_end=end_to_end,
                                 mapping_overrides=mapping_overrides)
        return {**row, "design": design}
    return simulate_point(load_arch(arch_name, overrides), mapping_name, workload, seq_len, design, end_to_end, batch,
                          timing, dataflow)


def simulate_design(design_name: str, workload: str, seq_len: int, end_to_end: bool = False,
                    arch: str | None = None, overrides: dict | None = None) -> dict:
    """A named design, or with `arch` a mapping of that name on the given architecture (e.g. fa3 on an H100)."""
    if arch is not None:
        return simulate_on(arch, design_name, workload, seq_len, design_name, end_to_end, overrides=overrides)
    design = load_design(design_name)
    return simulate_on(design.arch, design.mapping, workload, seq_len, design.name, end_to_end, overrides=overrides)
