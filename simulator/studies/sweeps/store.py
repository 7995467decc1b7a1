"""Results of a sweep, appended one finished point at a time, safe against a kill at any moment.

`results.csv` has one tidy row per point, `einsums.csv` one row per point and Einsum, and
`manifest.json` the resolved spec, versions, git revision and seed. A row is written with a single
append of a whole line, handed to the operating system at once (a killed process loses no finished row) and
synced to the disk at most once a second (a power cut loses at most the last second's rows; an fsync per
line, about 0.3 ms here and 11 lines a point, was 15% of the reproduction sweep); on resume a torn last
line (a kill mid-write) is cut off, so every finished point is there exactly once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from einsum_cascade.errors import SpecError
from mappers import cache


class ResultsFile:
    """One CSV file with a fixed header, appended line by line."""

    SYNC_INTERVAL_S = 1.0  # at most one fsync a second (see the module docstring)

    def __init__(self, path: Path, header: list[str]):
        self.path, self.header = path, header
        self._synced = float("-inf")  # time.monotonic() of the last fsync
        if self.path.exists():
            self._repair()
            with self.path.open(newline="") as handle:
                existing = next(csv.reader(handle), None)
            if existing and existing != header:
                self.header = existing  # resume with the header the file was started with
        if not self.path.exists() or self.path.stat().st_size == 0:  # new, or cut inside its header line
            self._append_line(header)

    def _repair(self) -> None:
        """Cut a torn last line (no trailing newline) left by a kill during a write."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def rows(self) -> list[dict]:
        with self.path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def rewrite_sorted(self, key) -> None:
        """Rewrite the file with its rows sorted by `key` (stable), atomically: a kill leaves the old file or
        the new one, never a mix."""
        rows = sorted(self.rows(), key=key)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows([[row.get(k, "") for k in self.header] for row in rows])
        temporary = self.path.with_name(self.path.name + ".sorting")
        temporary.write_text(buffer.getvalue())
        os.replace(temporary, self.path)

    def append(self, row: dict) -> None:
        self._append_line([_cell(row.get(key)) for key in self.header])

    def _append_line(self, cells: list) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = buffer.getvalue().encode()
            while data:  # a nearly full disk may take part of a write; the rest goes on, or raises ENOSPC
                data = data[os.write(descriptor, data):]
            if time.monotonic() - self._synced >= self.SYNC_INTERVAL_S:
                os.fsync(descriptor)
                self._synced = time.monotonic()
        finally:
            os.close(descriptor)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


class SweepStore:
    def __init__(self, directory: str | Path, point_keys: list[str], metric_keys: list[str], spec=None, seed=None):
        """With `spec`: refuse a folder of another sweep, then write the manifest before any results file, so a
        folder holding results always says which sweep they belong to (a full disk may stop either write)."""
        self.directory = Path(directory)
        if spec is not None:
            refuse_other_sweep(self.directory, spec)
        self.directory.mkdir(parents=True, exist_ok=True)
        if spec is not None:
            self.write_manifest(spec, seed)
        self.results = ResultsFile(self.directory / "results.csv", ["point_id", *point_keys, *metric_keys])
        self.einsums = ResultsFile(self.directory / "einsums.csv", ["point_id", "einsum", "time_share"])
        # Einsum rows already on disk (a point killed before its own row keeps them): read once, not per point
        self._einsums_written = {(r["point_id"], r["einsum"]) for r in self.einsums.rows()}

    def finished(self) -> set[str]:
        return {row["point_id"] for row in self.results.rows()}

    def add(self, point_id: str, values: dict, row: dict, einsum_rows: list[dict]) -> None:
        """Per-Einsum rows first, the point's row last: a point counts as done only once its row is written."""
        for einsum in einsum_rows:
            if (point_id, einsum["einsum"]) not in self._einsums_written:
                self.einsums.append({"point_id": point_id, **einsum})
                self._einsums_written.add((point_id, einsum["einsum"]))
        self.results.append({"point_id": point_id, **values, **row})

    def sort_by_point(self, order: dict[str, int]) -> None:
        """Both files in point order (a finished sweep: the same file whatever order the workers finished in)."""
        self.results.rewrite_sorted(lambda row: order[row["point_id"]])
        self.einsums.rewrite_sorted(lambda row: order[row["point_id"]])

    def write_manifest(self, spec, seed) -> None:
        manifest = {
            "sweep": spec.name, "source": spec.source, "resolved": spec.resolved, "points": len(spec.points),
            "seed": seed, "git_revision": _git_revision(), "python": platform.python_version(),
            "versions": {name: _version(name) for name in ("cascade-sim", "numpy", "numba", "scipy", "sympy")},
            "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        cache.store("manifest", manifest, self.directory)  # atomic: temp file + rename


def refuse_other_sweep(directory: Path, spec) -> None:
    """Resume only the sweep a folder was started with: another spec's rows would land under the old header
    and its manifest would replace the old one."""
    manifest = directory / "manifest.json"
    if not manifest.exists():
        if (directory / "results.csv").exists():
            raise SpecError(f"{directory} holds results.csv but no manifest.json: not a folder this sweep can "
                            "resume; give another folder", key="-o")
        return
    try:
        previous = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SpecError(f"{manifest}: unreadable ({error}); give another folder", key="-o") from None
    resolved = json.loads(json.dumps(spec.resolved, default=str))
    if previous.get("resolved") != resolved:
        raise SpecError(f"{directory} holds the results of another sweep ({previous.get('sweep')!r} from "
                        f"{previous.get('source')}); give another folder to run {spec.name!r}", key="-o")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None
