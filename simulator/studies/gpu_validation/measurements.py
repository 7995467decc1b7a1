"""Measured attention runs: the CSV schema shared by the shipped data and `cascade measure-gpu`.

Columns: gpu, kernel, pass, causal, headdim, nheads_q, nheads_kv, batch, seqlen_q, seqlen_kv, dtype,
value, unit, source, provenance. `value` is in `unit`: TFLOPs/s (FLOPs counted as the published
benchmarks do, see `AttentionProblem.flops`) or a time (us, ms, s).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from einsum_cascade.errors import SpecError
from simulator.gpu.attention import PASSES, AttentionProblem

DATA_FILE = Path(__file__).parent / "data" / "gpu_attention_measurements.csv"
COLUMNS = ("gpu", "kernel", "pass", "causal", "headdim", "nheads_q", "nheads_kv", "batch", "seqlen_q", "seqlen_kv",
           "dtype", "value", "unit", "source", "provenance")
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
UNITS = ("TFLOPs/s", *TIME_UNITS)
DTYPES = ("fp16", "bf16")
_INTEGERS = ("headdim", "nheads_q", "nheads_kv", "batch", "seqlen_q", "seqlen_kv")


@dataclass(frozen=True)
class Measurement:
    gpu: str
    kernel: str
    passes: str
    causal: bool
    headdim: int
    nheads_q: int
    nheads_kv: int
    batch: int
    seqlen_q: int
    seqlen_kv: int
    dtype: str
    value: float
    unit: str
    source: str
    provenance: str

    @property
    def gpu_preset(self) -> str:
        return self.gpu.strip().lower()

    def problem(self) -> AttentionProblem:
        return AttentionProblem(batch=self.batch, heads=self.nheads_q, kv_heads=self.nheads_kv,
                                seqlen_q=self.seqlen_q, seqlen_kv=self.seqlen_kv, head_dim=self.headdim,
                                head_dim_v=self.headdim, causal=self.causal, passes=self.passes, dtype=self.dtype)

    def value_from_time(self, seconds: float) -> float:
        """A predicted time in this row's unit."""
        if self.unit == "TFLOPs/s":
            return self.problem().flops() / seconds / 1e12
        return seconds / TIME_UNITS[self.unit]

    def time_s(self) -> float:
        """The measured time of one run, in seconds (the inverse of `value_from_time`)."""
        if self.unit == "TFLOPs/s":
            return self.problem().flops() / (self.value * 1e12)
        return self.value * TIME_UNITS[self.unit]

    def row(self) -> dict:
        return {"gpu": self.gpu, "kernel": self.kernel, "pass": self.passes, "causal": self.causal,
                "headdim": self.headdim, "nheads_q": self.nheads_q, "nheads_kv": self.nheads_kv, "batch": self.batch,
                "seqlen_q": self.seqlen_q, "seqlen_kv": self.seqlen_kv, "dtype": self.dtype, "value": self.value,
                "unit": self.unit, "source": self.source, "provenance": self.provenance}


def read_measurements(path: str | Path = DATA_FILE) -> list[Measurement]:
    """Every row of a measurement CSV; a malformed row is a SpecError naming its line and column."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SpecError(f"missing column(s) {', '.join(missing)}; expected: {', '.join(COLUMNS)}",
                                source=str(path), line=1)
            return [_parse(row, str(path), number) for number, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise SpecError("file not found", source=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read file: {exc.__class__.__name__}", source=str(path)) from None


def _parse(row: dict, source: str, line: int) -> Measurement:
    values = {}
    for column in _INTEGERS:
        try:
            values[column] = int(row[column])
        except (TypeError, ValueError):
            raise SpecError(f"{row[column]!r} is not an integer", source=source, line=line, key=column) from None
        if values[column] < 1:
            raise SpecError(f"{values[column]} must be at least 1", source=source, line=line, key=column)
    try:
        value = float(row["value"])
    except (TypeError, ValueError):
        raise SpecError(f"{row['value']!r} is not a number", source=source, line=line, key="value") from None
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"{row['value']!r} must be a positive number", source=source, line=line, key="value")
    if row["unit"] not in UNITS:
        raise SpecError(f"unit {row['unit']!r} is not one of: {', '.join(UNITS)}", source=source, line=line, key="unit")
    if row["pass"] not in PASSES:
        raise SpecError(f"{row['pass']!r} is not one of: {', '.join(PASSES)}", source=source, line=line, key="pass")
    if row["dtype"] not in DTYPES:
        raise SpecError(f"{row['dtype']!r} is not one of: {', '.join(DTYPES)} (the model moves 16-bit values)",
                        source=source, line=line, key="dtype")
    if values["nheads_q"] % values["nheads_kv"]:
        raise SpecError(f"{values['nheads_q']} query heads are not a multiple of {values['nheads_kv']} K/V heads",
                        source=source, line=line, key="nheads_kv")
    causal = str(row["causal"]).strip().lower()
    if causal not in ("true", "false"):
        raise SpecError(f"causal {row['causal']!r} must be True or False", source=source, line=line, key="causal")
    return Measurement(gpu=row["gpu"], kernel=row["kernel"], passes=row["pass"], causal=causal == "true",
                       dtype=row["dtype"], value=value, unit=row["unit"], source=row["source"],
                       provenance=row["provenance"], **values)


def write_measurements(path: str | Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row[column] for column in COLUMNS})
