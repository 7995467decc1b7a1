"""`PointResult`: one simulated design point, spatial or GPU, typed, with the row dicts every output prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CORE = ("design", "arch", "mapping", "cascade", "workload", "seq_len", "scope", "bound", "latency_s", "energy_pj",
        "dram_bytes", "util_2d", "util_1d", "area_mm2", "cycles")
SWEEP_METRICS = ("latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound", "cascade")


@dataclass(frozen=True)
class PointResult:
    """The shared metrics of a point in units named by each field; `extra` holds the model's own detail (a
    spatial report's passes, occupancy and energy breakdown; a GPU's phases, tile and occupancy), `order` the
    key order of the row dict the JSON and CSV outputs have always had, and `sweep_columns` the model's extra
    flat sweep columns (energy parts, roofline numbers)."""

    model: Literal["spatial", "gpu"]
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
    extra: Mapping[str, Any] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    sweep_columns: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The row of `simulate --json` and `compare --json`, key for key and in the same order."""
        values = {**{name: getattr(self, name) for name in CORE}, **self.extra}
        return {key: values[key] for key in self.order}

    def to_row(self) -> dict:
        """The flat metric columns of a sweep's results.csv row."""
        return {**{key: getattr(self, key) for key in SWEEP_METRICS}, "arch_name": self.arch,
                "mapping_name": self.mapping, **self.sweep_columns}

    def einsum_rows(self) -> list[dict]:
        """One row per Einsum with its share of the time (spatial points; a GPU point has none)."""
        return [{"einsum": name, "time_share": share} for name, share in self.extra.get("einsum_share", {}).items()]


def point_result(model: str, row: dict, sweep_columns: dict | None = None) -> PointResult:
    """A PointResult from a row dict in output order: the shared keys become fields, the rest `extra`."""
    core = {name: row.get(name) for name in CORE}
    extra = {key: value for key, value in row.items() if key not in CORE}
    return PointResult(model=model, **core, extra=extra, order=tuple(row), sweep_columns=sweep_columns or {})
