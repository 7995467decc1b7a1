"""The rows a figure draws: a results directory read back, narrowed by `--where`, normalised to a baseline, and
checked so that every mark is one row (a figure never merges or drops points without saying so)."""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

from einsum_cascade.errors import SpecError

DESIGN_COLUMNS = ("design", "mapping")  # the column a baseline names: a named design, or a sweep's mapping axis
# Axis titles with units for the columns sweeps write; any other column is shown by its own name.
TITLES = {"latency_s": "latency (s)", "energy_pj": "energy (pJ)", "dram_bytes": "DRAM traffic (bytes)",
          "util_2d": "2D array utilization", "util_1d": "1D array utilization", "area_mm2": "area (mm², 45 nm)",
          "seq_len": "sequence length (tokens)", "batch": "batch", "workload": "model", "design": "design",
          "mapping": "mapping", "arch.pe_dim": "2D array side (PEs)", "arch.lanes": "1D array lanes",
          "arch.global_buffer_bytes": "global buffer (bytes)", "arch.clock_hz": "clock (Hz)",
          "arch.dram_bandwidth_bytes_per_s": "DRAM bandwidth (bytes/s)", "buffer_bytes_used": "buffer used (bytes)",
          "energy_dram_pj": "DRAM energy (pJ)", "energy_compute_pj": "compute energy (pJ)"}
BYTE_COLUMNS = {"arch.global_buffer_bytes", "buffer_bytes_used", "dram_bytes"}


def read_rows(directory: Path, name: str = "results.csv") -> list[dict]:
    """The rows of a results file with status ok, numbers as floats, in the sweep's point order."""
    path = Path(directory) / name
    if not path.exists():
        raise SpecError("no results here: run `cascade sweep` into this directory first", source=str(path))
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("status", "ok") == "ok"]
    for row in rows:
        for key, value in row.items():
            with contextlib.suppress(ValueError):
                row[key] = float(value) if value not in ("", None) and key not in ("point_id",) else value
    if rows and "point_index" in rows[0]:  # the sweep's order, not the order points finished in
        rows.sort(key=lambda r: r["point_index"])
    return rows


def point_keys(rows: list[dict]) -> list[str]:
    """Every key that places a point (the columns between `point_index` and `status` that a sweep writes);
    workload and seq_len for results written by something else."""
    columns = list(rows[0]) if rows else []
    if "point_index" in columns and "status" in columns:
        return columns[columns.index("point_index") + 1:columns.index("status")]
    return [c for c in ("workload", "seq_len", *DESIGN_COLUMNS) if c in columns]


def point_columns(rows: list[dict]) -> list[str]:
    """The keys that tell points of one design apart: workload and seq_len, plus any other swept key that
    varies across the rows."""
    return [k for k in point_keys(rows) if k not in DESIGN_COLUMNS
            and (k in ("workload", "seq_len") or len({r.get(k) for r in rows}) > 1)]


def parse_where(items: list[str] | None) -> dict[str, str]:
    """`--where KEY=VALUE` options (repeatable, one per key) as {key: text}."""
    where = {}
    for item in items or ():
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise SpecError(f"{item!r} is not KEY=VALUE (e.g. workload=bert, arch.pe_dim=128)", key="--where")
        if key in where:
            raise SpecError(f"{key} is given twice ({where[key]} and {value}): one value per key; to draw several, "
                            f"put {key} on --hue or --col", key="--where")
        where[key] = value
    return where


def narrowed(rows: list[dict], where: dict[str, str]) -> list[dict]:
    """The rows whose `key` equals each `--where` value (numbers compared as numbers, `16K` and `8MB` allowed)."""
    for key, text in where.items():
        if not rows or key not in rows[0]:
            raise SpecError(f"{key!r} is not a column of these results; columns: {', '.join(point_keys(rows))}",
                            key="--where")
        wanted = _value_of(text)
        kept = [r for r in rows if r[key] == wanted or str(r[key]) == text or value_label(key, r[key]) == text]
        if not kept:
            present = ", ".join(dict.fromkeys(str(r[key]) if key in DESIGN_COLUMNS else value_label(key, r[key])
                                              for r in rows))
            raise SpecError(f"no result has {key} = {text}; present: {present}", key="--where")
        rows = kept
    return rows


def _value_of(text: str):
    from simulator.studies.arch_overrides import parse_override_value

    with contextlib.suppress(SpecError):
        return float(parse_override_value(text, "--where", units=True))
    return text


def design_column(rows: list[dict], baseline: str) -> str:
    """The column naming designs in which `baseline` appears."""
    for column in DESIGN_COLUMNS:
        if rows and column in rows[0] and any(r[column] == baseline for r in rows):
            return column
    present = [str(r[c]) for c in DESIGN_COLUMNS if rows and c in rows[0] for r in rows]
    raise SpecError(f"baseline {baseline!r} is not among the designs {', '.join(dict.fromkeys(present))}",
                    key="--baseline")


def normalised(rows: list[dict], metric: str, baseline: str) -> tuple[list[dict], str]:
    """Each non-baseline row with `metric` replaced by its ratio to the baseline's row at the same point (every
    other point key equal): baseline/value for latency (a speedup), value/baseline otherwise; and the axis
    title. A row without its baseline is an error, never dropped."""
    column = design_column(rows, baseline)
    others = [k for k in point_keys(rows) if k != column]
    base = {}
    for r in rows:
        if r[column] == baseline:
            base[tuple(r[k] for k in others)] = r[metric]
    shown = []
    for r in rows:
        if r[column] == baseline:
            continue
        key = tuple(r[k] for k in others)
        if key not in base:
            raise SpecError(f"{r[column]} at {describe(dict(zip(others, key, strict=True)))} has no {baseline} "
                            "result to normalise to", key="--baseline")
        if not (base[key] and r[metric]):
            raise SpecError(f"{metric} is 0 for {r[column] if not r[metric] else baseline} at "
                            f"{describe(dict(zip(others, key, strict=True)))}: no ratio to draw", key="--baseline")
        ratio = base[key] / r[metric] if metric == "latency_s" else r[metric] / base[key]
        shown.append({**r, metric: ratio})
    if not shown:
        raise SpecError(f"the baseline {baseline!r} is the only design in these results: nothing to compare with "
                        "it", key="--baseline")
    name = display(baseline)
    title = f"speedup over {name} (x)" if metric == "latency_s" else f"{title_of(metric)} / {name}'s"
    return shown, title


def require_rows(rows: list[dict], what: str, everything: list[dict] | None = None) -> None:
    """An error, not an empty figure, when nothing is left to draw; says what was there."""
    if rows:
        return
    if everything:
        scopes = ", ".join(sorted({str(r.get("scope")) for r in everything}))
        raise SpecError(f"no results {what} (the results have scope {scopes}; --scope or --where picks)", key="--scope")
    raise SpecError(f"no results {what}: every point was rejected, or the sweep has not run", key="--kind")


def check_energy_basis(rows: list[dict], metric: str) -> None:
    """Energies counted two ways (actions x energy, a GPU's board power x time) are not drawn on one axis."""
    bases = {r.get("energy_basis") for r in rows if r.get("energy_basis")}
    if metric.startswith("energy") and len(bases) > 1:
        raise SpecError(f"{metric} is counted two ways in these results ({' and '.join(sorted(bases))}): keep one "
                        "with --where energy_basis=...", key="--y")


def check_one_row_per_mark(rows: list[dict], shown: list[str], kind: str) -> None:
    """Each combination of the `shown` columns must be one row; rows that share one and differ in another swept
    key would be merged into one mark, so that is an error naming the keys to add or fix."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(c) for c in shown), []).append(r)
    for key, group in groups.items():
        if len(group) == 1:
            continue
        at = describe(dict(zip(shown, key, strict=True)))
        differ = [k for k in point_keys(rows) if k not in shown and len({r.get(k) for r in group}) > 1]
        if not differ:
            raise SpecError(f"two results at the same point ({at}); is the results file written twice?", key=kind)
        keys = " and ".join(differ)
        add = f"put {keys} on --x, --hue or --col" if kind == "--x" else f"draw {keys} with --x/--y and --hue or --col"
        fix = " ".join(f"--where {k}={group[0][k] if k in DESIGN_COLUMNS else value_label(k, group[0][k])}"
                       for k in differ)
        raise SpecError(f"{len(group)} results share {at} and differ in {', '.join(differ)}: they would be drawn as "
                        f"one mark; {add}, or keep one with {fix}", key=kind)


def describe(values: dict) -> str:
    return ", ".join(f"{k} = {value_label(k, v)}" for k, v in values.items())


def title_of(column: str) -> str:
    return TITLES.get(column, column)


def display(value) -> str:
    """A design's label from designs.yaml (FuseMax, FLAT, ...), else the value itself."""
    from simulator.studies.designs import design_names, load_design

    if isinstance(value, str) and value in design_names():
        return load_design(value).label
    return str(plain(value))


def value_label(column: str, value) -> str:
    """A value as a tick or legend label: 16K for lengths, 8MiB for byte sizes, 64 for 64.0."""
    from simulator.studies.plots.style import token_label

    if column == "seq_len" and isinstance(value, float):
        return token_label(value)
    if column in BYTE_COLUMNS and isinstance(value, float) and value >= 1024:
        return byte_label(value)
    return display(value) if column in DESIGN_COLUMNS else str(plain(value))


def byte_label(value: float) -> str:
    """A byte size as 8MiB where it is a whole number of the largest binary unit that divides it, else bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale and value % scale == 0:
            return f"{int(value // scale)}{unit}"
    return f"{plain(value)}B"


def plain(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value
