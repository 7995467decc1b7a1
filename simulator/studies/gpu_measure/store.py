"""Where `cascade measure-gpu` writes: one row per point, appended as soon as it is measured.

`--out FILE` gets the measured rows (status `ok`): the measurement CSV schema (`measurements.COLUMNS`) plus
`status`, `reason`, `timing`, `p20_ms` and `p80_ms`, which `cascade validate-gpu --data FILE` ignores. Points
that could not be measured (status `oom`, `unsupported` or `error`, with the reason) go to a companion file,
`FILE` with `.failed` before its suffix (`runs.csv` -> `runs.failed.csv`), in the same columns with an empty
`value`: the measurement reader needs a positive value in every row, so they cannot share the file.

Each row is one flushed append (`sweeps.store.ResultsFile`); on resume a torn last line left by a kill is
cut off, and a point is finished when a row with its configuration (`KEY_COLUMNS`: GPU preset, kernel, pass,
causal, head dim, heads, batch, lengths, dtype) is in either file. Failed points are retried only on request.
"""

from __future__ import annotations

from pathlib import Path

from einsum_cascade.errors import SpecError
from simulator.studies.gpu_validation.measurements import COLUMNS
from simulator.studies.sweeps.store import ResultsFile

EXTRA_COLUMNS = ("status", "reason", "timing", "p20_ms", "p80_ms")
HEADER = [*COLUMNS, *EXTRA_COLUMNS]
KEY_COLUMNS = ("gpu", "kernel", "pass", "causal", "headdim", "nheads_q", "nheads_kv", "batch", "seqlen_q",
               "seqlen_kv", "dtype")
STATUSES = ("ok", "oom", "unsupported", "error")


def point_key(row: dict) -> tuple[str, ...]:
    """A point's identity: its configuration columns, as text (what a row read back from the CSV holds)."""
    return tuple(str(row[column]) for column in KEY_COLUMNS)


def failed_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.failed{out.suffix or '.csv'}")


class MeasurementLog:
    """The measured file and its `.failed` companion, opened for appending (created with a header if new)."""

    def __init__(self, out: str | Path):
        self.measured = _open(Path(out))
        self.failed = _open(failed_path(out))

    def finished(self, retry_failed: bool = False) -> set[tuple[str, ...]]:
        files = (self.measured,) if retry_failed else (self.measured, self.failed)
        return {point_key(row) for results in files for row in results.rows()}

    def append(self, row: dict) -> None:
        if row["status"] not in STATUSES:
            raise ValueError(f"status {row['status']!r} is not one of {STATUSES}")
        (self.measured if row["status"] == "ok" else self.failed).append(row)


def _open(path: Path) -> ResultsFile:
    if path.is_dir():
        raise SpecError("is a directory; give a CSV file name", source=str(path))
    if path.exists() and b"\n" not in path.read_bytes():
        path.unlink()  # killed while writing the header: nothing was measured yet
    results = ResultsFile(path, HEADER)
    missing = [column for column in HEADER if column not in results.header]
    if missing:
        raise SpecError(f"exists and is not a measure-gpu output (no column {', '.join(missing)}); "
                        "give a new file name, or the file of the run to resume", source=str(path))
    return results
