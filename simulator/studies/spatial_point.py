"""The spatial model's half of `run_point`: a mapping on a spatial array, for a workload or at given shapes."""

from __future__ import annotations

import functools

from arch_models import SpatialArch
from einsum_cascade.analysis.semantics import nonlinear_before_reduction
from einsum_cascade.errors import SpecError
from einsum_cascade.library import resolve_cascade
from einsum_cascade.masks import undeclared_density_note
from einsum_cascade.model import Cascade
from mappers.load import load_mapping, mapping_names
from mappers.mapping import Mapping
from simulator.spatial.lower import CapacityRejected, instance_ranks
from simulator.spatial.simulate import SpatialReport, padding_note, storage_by_tensor
from simulator.studies.designs import gemm_mapping_name
from simulator.studies.mapping_choice import simulate_family
from simulator.studies.result import PointResult, point_result
from workloads.zoo import attention_shapes, layer_gemms, load_model

ENERGY_BASIS = "actions x energy per action"  # what energy_pj counts (a GPU point: board power x time)


def mapping_for(cascade_name: str, mapping: Mapping | str | None) -> tuple[Cascade, Mapping]:
    """The mapping to simulate `cascade_name` with: `mapping`, else the shipped one named like the cascade."""
    cascade = resolve_cascade(cascade_name)
    if mapping is None:
        if cascade.name not in mapping_names():
            raise SpecError(f"no shipped mapping for cascade {cascade.name!r}: pass --mapping FILE, or make one "
                            f"with `cascade map --arch ARCH --cascade {cascade_name} --shape ... --save FILE`",
                            key="--mapping")
        mapping = cascade.name
    mapping = load_mapping(mapping) if isinstance(mapping, str) else mapping
    if resolve_cascade(mapping.cascade).name != cascade.name:
        raise SpecError(f"mapping {mapping.name!r} maps cascade {mapping.cascade!r}, not {cascade.name!r}",
                        key="--mapping")
    return cascade, mapping


def spatial_workload_point(arch: SpatialArch, mapping: Mapping, workload: str, seq_len: int, design: str,
                           end_to_end: bool = False, batch: int | None = None, timing: str = "ideal",
                           dataflow: str = "os", cascade: Cascade | None = None,
                           report: SpatialReport | None = None, stats: bool = False) -> PointResult:
    """A workload's attention (and with `end_to_end` its layer GEMMs); `report`: the attention's report when a
    search already made it for these shapes, timing and dataflow; `stats`: per-tensor storage statistics (end to
    end, a layer GEMM's tensors are named `LAYER:TENSOR`)."""
    model = load_model(workload)
    cascade = cascade or resolve_cascade(mapping.cascade)
    if report is None:
        report = simulate_family(cascade, arch, mapping, attention_shapes(model, seq_len, batch), design, timing,
                                 dataflow)
    row = {"design": design, "workload": model.key, "seq_len": int(seq_len), **_metrics(report), "scope": "attention",
           "cycles": report.cycles}
    row.update({"einsum_share": report.einsum_share, "occupancy_bytes": report.occupancy_bytes,
                "measured_passes": report.measured_passes, "pass_lower_bound": report.pass_lower_bound,
                "bound": report.bound, "mapping": report.mapping, "arch": arch.name, "cascade": cascade.name,
                "energy_breakdown": report.energy_breakdown, "storage": report.storage})
    notes = [undeclared_density_note(cascade.masks), padding_note(report), *nonlinear_before_reduction(cascade),
             *model.notes]
    if model.kv_heads < model.heads and "HKV" not in instance_ranks(cascade).values():
        notes.append(f"{model.key} shares each of its {model.kv_heads} K/V heads among {model.group_size} query "
                     f"heads, but cascade {cascade.name} is multi-head: K and V are read for each of the "
                     f"{model.heads} query heads (cascade gqa-fusemax shares them)")
    if notes := [n for n in notes if n]:
        row["note"] = "; ".join(notes)
    if stats:  # computed only when asked: it walks every tensor of every group
        row["storage_by_tensor"] = storage_by_tensor(arch, report.groups)
    if end_to_end:
        gemms = layer_gemms(model, seq_len, batch)
        layers = [_layer(arch, gemm_mapping_name(), g.rows, g.reduction, g.cols, timing, dataflow) for g in gemms]
        if searched := [g.name for g, (_, found) in zip(gemms, layers, strict=True) if found]:
            row["searched_layers"] = searched
        layers = [report for report, _ in layers]
        if layer_notes := [f"layer {g.name}: {n}" for g, n in zip(gemms, map(padding_note, layers), strict=True) if n]:
            row["note"] = "; ".join(filter(None, (row.get("note"), *layer_notes)))  # padded GEMM tiles too
        if stats:
            for gemm, layer in zip(gemms, layers, strict=True):
                row["storage_by_tensor"].update({f"{gemm.name}:{tensor}": levels
                                                 for tensor, levels in storage_by_tensor(arch, layer.groups).items()})
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
    return point_result("spatial", row, _sweep_columns(row, arch))


@functools.lru_cache(maxsize=512)
def _layer(arch: SpatialArch, mapping_name: str, rows: int, reduction: int, cols: int, timing: str,
           dataflow: str) -> tuple[SpatialReport, bool]:
    """(report, searched) of one layer GEMM: the shipped GEMM mapping, or where its tiles do not fit the buffer
    (a long reduction: Llama's FFN on a 16 MB buffer), the best mapping an exhaustive search finds for that GEMM.
    Worked out once per process for each architecture (equal by value) and shape: every design on one
    architecture has the same layer GEMMs (a sweep's designs repeat them), and the report is only read."""
    mapping = load_mapping(mapping_name)
    cascade = resolve_cascade(mapping.cascade)
    shapes = {"M": rows, "K": reduction, "N": cols}
    try:
        return simulate_family(cascade, arch, mapping, shapes, timing=timing, dataflow=dataflow), False
    except CapacityRejected:
        from mappers.search import SearchSettings
        from simulator.studies.spatial_search import search_best

        _, found, _ = search_best(cascade, arch, shapes, "latency", SearchSettings(seconds=None), progress=False)
        return simulate_family(cascade, arch, found, shapes, timing=timing, dataflow=dataflow), True


def spatial_shape_point(arch: SpatialArch, cascade_name: str, shapes: dict[str, int],
                        mapping: Mapping | str | None = None, timing: str = "ideal",
                        dataflow: str = "os", stats: bool = False) -> PointResult:
    """Any cascade at explicit shapes (`simulate --cascade gemm --shape M=1024,...`): the keys of a workload
    point less workload and seq_len, plus the shapes and per-Einsum cycles."""
    cascade, mapping = mapping_for(cascade_name, mapping)
    report = simulate_family(cascade, arch, mapping, shapes, mapping.name, timing, dataflow)
    row = {
        "design": mapping.name, "cascade": cascade.name, "shape": dict(shapes), "arch": arch.name,
        "mapping": report.mapping, "scope": "cascade", "latency_s": report.latency_s, "cycles": report.cycles,
        "energy_pj": report.energy_pj, "dram_bytes": report.dram_bytes, "util_2d": report.util_2d,
        "util_1d": report.util_1d, "area_mm2": report.area_mm2, "bound": report.bound,
        "einsum_cycles": {name: c for group in report.groups for name, c in group.einsum_cycles.items()},
        "einsum_share": report.einsum_share, "occupancy_bytes": report.occupancy_bytes,
        "measured_passes": report.measured_passes, "pass_lower_bound": report.pass_lower_bound,
        "energy_breakdown": report.energy_breakdown,
        "array_2d": {"rows": arch.array_2d.rows, "cols": arch.array_2d.cols},
    }
    if notes := [n for n in (undeclared_density_note(cascade.masks), padding_note(report)) if n]:
        row["note"] = "; ".join(notes)
    if stats:
        row["storage_by_tensor"] = storage_by_tensor(arch, report.groups)
    return point_result("spatial", row, _sweep_columns(row, arch))


def _metrics(report) -> dict:
    return {"latency_s": report.latency_s, "energy_pj": report.energy_pj, "dram_bytes": report.dram_bytes,
            "util_2d": report.util_2d, "util_1d": report.util_1d, "area_mm2": report.area_mm2}


def _sweep_columns(row: dict, arch: SpatialArch) -> dict:
    """A sweep row's spatial columns: passes, buffer use, energy by part and the roofline's numbers."""
    breakdown = row["energy_breakdown"]
    return dict(energy_basis=ENERGY_BASIS, pass_lower_bound=row["pass_lower_bound"],
                kv_dram_reads_per_element=row["measured_passes"].get("K", {}).get("dram_reads_per_element"),
                buffer_bytes_used=row["occupancy_bytes"].get("buffer"),
                energy_compute_pj=breakdown.get("compute_2d", 0) + breakdown.get("compute_1d", 0),
                energy_registers_pj=breakdown.get("registers_2d", 0) + breakdown.get("registers_1d", 0),
                energy_buffer_pj=breakdown.get("buffer", 0), energy_staging_pj=breakdown.get("staging", 0),
                energy_dram_pj=breakdown.get("dram", 0),
                # array operations issued (busy PE-cycles) and the design's peak, for the roofline
                useful_ops=(row["util_2d"] * arch.array_2d.pes + row["util_1d"] * arch.array_1d.pes)
                * row["latency_s"] * arch.clock_hz,
                peak_ops_per_s=(arch.array_2d.pes + arch.array_1d.pes) * arch.clock_hz,
                dram_bandwidth_bytes_per_s=arch.dram.bandwidth_bytes_per_s)
