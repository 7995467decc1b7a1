"""Spatial-array hardware as frozen value objects: a 2D PE array, a 1D vector array, buffers, DRAM.

Built by `arch_models.load` after validation, so every object here is consistent (positive sizes,
non-negative energies, known operator names). Units are in the field names. `with_overrides`
derives the variants a parametric sweep needs (array size, lanes, buffer size, bandwidth, clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from einsum_cascade.errors import SpecError
from einsum_cascade.ops import Op

# The operator kinds an array may list: the cascade vocabulary's counting kinds plus the fused units
# `mac` (a multiply fused with an add-accumulate, one issue on a MAC unit) and `sub_exp` (an exp unit
# with an input subtractor: exp(x - c) in one issue, as FLAT's softmax exp pass does).
OPERATOR_NAMES: tuple[str, ...] = tuple(op.value for op in Op) + ("mac", "sub_exp")

UM2_PER_MM2 = 1e6


@dataclass(frozen=True, slots=True)
class OperatorCost:
    """Cost of one operation on one PE or lane: issue cycles it occupies the unit, and its energy.

    `composed_of` names the primitive operations an operator is built from on this array (e.g. exp as a
    5th-order Taylor series, 6 MAC + 1 add, on a PE without an exp unit); empty for a unit of its own."""

    cycles: float
    energy_pj: float
    composed_of: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ComputeArray:
    """A rows x cols array of identical PEs (a 1D array has rows = 1, cols = lanes)."""

    rows: int
    cols: int
    register_entries: int
    register_read_pj: float
    register_write_pj: float
    operators: dict[str, OperatorCost]
    pe_area_um2: float

    def __hash__(self) -> int:  # dict fields are unhashable; hash the content instead
        return hash((self.rows, self.cols, self.register_entries, self.register_read_pj,
                     self.register_write_pj, tuple(sorted(self.operators.items())), self.pe_area_um2))

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def area_mm2(self) -> float:
        return self.pes * self.pe_area_um2 / UM2_PER_MM2

    def supports(self, op: str | Op) -> bool:
        return _op_name(op) in self.operators

    def cost(self, op: str | Op) -> OperatorCost:
        name = _op_name(op)
        if name not in self.operators:
            raise SpecError(f"operator {name!r} is not supported by this {self.rows}x{self.cols} array; "
                            f"it has: {', '.join(self.operators)}")
        return self.operators[name]


@dataclass(frozen=True, slots=True)
class Buffer:
    """An SRAM buffer accessed in rows of `access_words` words; read/write energies are per row access
    (the FuseMax artifact's buffer: 4096-bit rows of 256 fp16 words, REFERENCE.md §1 "Energy per action")."""

    capacity_bytes: int
    access_words: int
    read_pj: float
    write_pj: float
    area_mm2: float

    def accesses(self, words):
        """Physical accesses that move `words` words: one per `access_words` (full rows, as the artifact
        counts them: scalar accesses divided by the words per row)."""
        return words / self.access_words

    def resized(self, capacity_bytes: int) -> Buffer:
        """The same buffer at another capacity (parametric sweeps): area scales linearly with capacity,
        per-access energy with its square root (longer bit and word lines, deeper H-tree). An assumption for
        sizes the Accelergy tables do not give; the artifact itself uses one table for its 16 MB and 32 MB
        buffers (docs/fusemax-deviations.md)."""
        ratio = capacity_bytes / self.capacity_bytes
        return replace(self, capacity_bytes=capacity_bytes, area_mm2=self.area_mm2 * ratio,
                       read_pj=self.read_pj * math.sqrt(ratio), write_pj=self.write_pj * math.sqrt(ratio))


@dataclass(frozen=True, slots=True)
class Dram:
    """Off-chip memory: bandwidth, and energy per access of `access_words` words (a 64-bit burst beat of
    4 fp16 words in the FuseMax artifact's Accelergy table, REFERENCE.md §1 "Energy per action")."""

    bandwidth_bytes_per_s: float
    access_words: int
    read_pj: float
    write_pj: float

    def accesses(self, words):
        return words / self.access_words


OVERRIDE_KEYS = {
    "pe_dim": "side of a square 2D array (also sets the 1D lanes to the same number)",
    "lanes": "number of 1D-array lanes",
    "global_buffer_bytes": "global buffer capacity (area linear, energy ~ sqrt of capacity)",
    "dram_bandwidth_bytes_per_s": "DRAM bandwidth",
    "clock_hz": "clock frequency",
}


@dataclass(frozen=True, slots=True)
class SpatialArch:
    name: str
    description: str
    clock_hz: float
    word_bytes: int
    array_2d: ComputeArray
    array_1d: ComputeArray
    global_buffer: Buffer
    staging_buffer: Buffer | None
    dram: Dram
    source: str

    @property
    def compute_area_mm2(self) -> float:
        """Area of the 2D PEs and the 1D lanes (what the FuseMax Pareto sweep reports)."""
        return self.array_2d.area_mm2 + self.array_1d.area_mm2

    @property
    def buffer_area_mm2(self) -> float:
        staging = self.staging_buffer.area_mm2 if self.staging_buffer else 0.0
        return self.global_buffer.area_mm2 + staging

    @property
    def area_mm2(self) -> float:
        """Whole design: PEs x PE area + lanes x lane area + buffer areas."""
        return self.compute_area_mm2 + self.buffer_area_mm2

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_bytes_per_s / self.clock_hz

    def override_value(self, key: str):
        """The current value of an override key (what `with_overrides(key=...)` would replace)."""
        return {"global_buffer_bytes": self.global_buffer.capacity_bytes,
                "dram_bandwidth_bytes_per_s": self.dram.bandwidth_bytes_per_s, "pe_dim": self.array_2d.rows,
                "lanes": self.array_1d.cols, "clock_hz": self.clock_hz}[key]

    def with_overrides(self, **overrides) -> SpatialArch:
        """A variant for parametric sweeps; see OVERRIDE_KEYS. The name records the overrides."""
        unknown = [key for key in overrides if key not in OVERRIDE_KEYS]
        if unknown:
            raise SpecError(f"unknown override {', '.join(map(repr, unknown))}; allowed: {', '.join(OVERRIDE_KEYS)}",
                            key=unknown[0])
        overrides = {key: _checked_override(key, value) for key, value in overrides.items()}
        arch = self
        if "pe_dim" in overrides:
            side = overrides["pe_dim"]
            arch = replace(arch, array_2d=replace(arch.array_2d, rows=side, cols=side),
                           array_1d=replace(arch.array_1d, cols=side))
        if "lanes" in overrides:
            arch = replace(arch, array_1d=replace(arch.array_1d, cols=overrides["lanes"]))
        if "global_buffer_bytes" in overrides:
            arch = replace(arch, global_buffer=arch.global_buffer.resized(overrides["global_buffer_bytes"]))
        if "dram_bandwidth_bytes_per_s" in overrides:
            arch = replace(arch, dram=replace(arch.dram, bandwidth_bytes_per_s=overrides["dram_bandwidth_bytes_per_s"]))
        if "clock_hz" in overrides:
            arch = replace(arch, clock_hz=overrides["clock_hz"])
        if overrides:
            suffix = ",".join(f"{key}={value}" for key, value in overrides.items())
            arch = replace(arch, name=f"{self.name}[{suffix}]")
        return arch


def _op_name(op: str | Op) -> str:
    return op.value if isinstance(op, Op) else str(op)


def _checked_override(key: str, value):
    """Positive numbers; integers for sizes (an integral float such as 1.6e7 is accepted)."""
    integral = key in ("pe_dim", "lanes", "global_buffer_bytes")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and integral and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not numeric or not 0 < value < math.inf or (integral and not isinstance(value, int)):
        kind = "a positive integer" if integral else "a positive number"
        raise SpecError(f"override {key} = {value!r} must be {kind}", key=key)
    return value
