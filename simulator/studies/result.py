"""`PointResult`: one simulated design point, spatial or GPU, typed, with the row dicts every output prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

CORE = ("design", "arch", "mapping", "cascade", "workload", "seq_len", "scope", "bound", "latency_s", "energy_pj",
        "dram_bytes", "util_2d", "util_1d", "area_mm2", "cycles")
SWEEP_METRICS = ("latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound", "cascade")


@dataclass(frozen=True)
class SpatialDetail:
    """A spatial report's detail: per-Einsum time shares, buffer occupancy (bytes), measured passes, energy by
    component (pJ); end to end the attention's own latency and energy; at explicit shapes the shapes, per-Einsum
    cycles and the 2D array's size."""

    einsum_share: dict[str, float]
    occupancy_bytes: dict[str, float]
    measured_passes: dict[str, dict]
    pass_lower_bound: int
    energy_breakdown: dict[str, float]
    storage: dict | None = None
    attention_latency_s: float | None = None
    attention_energy_pj: float | None = None
    shape: dict[str, int] | None = None
    einsum_cycles: dict[str, float] | None = None
    array_2d: dict[str, int] | None = None
    note: str | None = None  # what the point counts differently (padded tiles, an undeclared mask density, K/V heads)
    searched_layers: list[str] | None = None  # end to end: layer GEMMs the shipped GEMM mapping does not fit
    storage_by_tensor: dict | None = None  # with `stats`: tensor -> level -> words, accesses, energy (pJ)


@dataclass(frozen=True)
class GpuDetail:
    """A GPU point's detail: the kernel's tile, occupancy, phases and utilization, achieved TFLOP/s, the energy
    note (board power x time); end to end the attention's own latency and energy and the layer's GEMMs."""

    mapping_overrides: dict[str, Any]
    pass_lower_bound: int
    achieved_tflops: float
    flops: float
    tile: dict | None
    occupancy: dict[str, Any]
    instruction_family: str | None
    efficiency: dict[str, float]
    phase_share: dict[str, float]
    phases: list[dict]
    utilization: dict[str, float]
    energy_note: str
    problem: dict[str, Any]
    tile_work: dict | None
    shape: dict[str, int] | None = None
    attention_latency_s: float | None = None
    attention_energy_pj: float | None = None
    layer_gemms: list[dict] | None = None


DETAILS = {"spatial": SpatialDetail, "gpu": GpuDetail}


@dataclass(frozen=True)
class PointResult:
    """The shared metrics of a point in units named by each field; `extra` the model's own detail, `order` the
    key order of the row dict the JSON and CSV outputs have always had, and `sweep_columns` the model's extra
    flat sweep columns (energy parts, roofline numbers)."""

    design: str
    arch: str
    mapping: str
    cascade: str
    workload: str | None
    seq_len: int | None
    scope: str
    bound: str
    latency_s: float
    energy_pj: float | None
    dram_bytes: float
    util_2d: float
    util_1d: float
    area_mm2: float | None
    cycles: float | None
    extra: SpatialDetail | GpuDetail
    order: tuple[str, ...] = ()
    sweep_columns: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The row of `simulate --json` and `compare --json`, key for key and in the same order."""
        values = {name: getattr(self, name) for name in CORE}
        values.update({f.name: getattr(self.extra, f.name) for f in fields(self.extra)})
        return {key: values[key] for key in self.order}

    def to_row(self) -> dict:
        """The flat metric columns of a sweep's results.csv row, with the point's note (padding, an undeclared
        mask density, shared K/V heads: what it counts differently) so that a table says it too."""
        return {**{key: getattr(self, key) for key in SWEEP_METRICS}, "arch_name": self.arch,
                "mapping_name": self.mapping, **self.sweep_columns, "note": getattr(self.extra, "note", None) or ""}

    def einsum_rows(self) -> list[dict]:
        """One row per Einsum with its share of the time (spatial points; a GPU point has none)."""
        shares = getattr(self.extra, "einsum_share", None) or {}
        return [{"einsum": name, "time_share": share} for name, share in shares.items()]


def point_result(model: str, row: dict, sweep_columns: dict | None = None) -> PointResult:
    """A PointResult from a row dict in output order: the shared keys become fields, the rest the model's detail."""
    core = {name: row.get(name) for name in CORE}
    extra = DETAILS[model](**{key: value for key, value in row.items() if key not in CORE})
    return PointResult(**core, extra=extra, order=tuple(row), sweep_columns=sweep_columns or {})
