"""Fault injection for sweeps and `cascade reproduce` (`make faults`; tests/faults/test_faults.py runs a few).

Each scenario breaks a real run of the installed command (a subprocess, so a SIGKILL is real) and then
checks three things: no process of the run is left, the error (if any) is one line, and after the fault is
lifted a rerun gives results equal to a clean run's. Faults:
- `kill`: SIGKILL at a random moment of `cascade sweep --jobs 2`, several times in a row, then a finishing run;
- `kill_reproduce`: SIGKILL at a random moment of `cascade reproduce fusemax`, then a rerun;
- `full_disk`: the results folder on a small tmpfs that fills up mid-sweep (where mounting is allowed; else
  a write that raises ENOSPC after a few lines, injected by tests/faults/inject.py);
- `read_only`: the results folder made read-only mid-way (chmod, or chattr +i for root; else injected);
- `truncated`: results.csv cut at a random byte, header included.
Sweep points search their mapping (seeded, a fixed budget of evaluations), so they take time to kill and
their results are still deterministic; `mapper_seconds` is the only column compared loosely (not at all).
"""

from __future__ import annotations

import contextlib
import csv
import filecmp
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SWEEP = """
version: 1
name: faults
base: {arch: fusemax, cascade: fusemax, workload: bert, scope: attention}
mapper: {budget: 3000, seed: 0, strategy: random}
axes:
  arch.pe_dim: [64, 128]
  seq_len: [1K, 4K, 16K, 64K]
"""
POINTS = 8
VOLATILE = {"mapper_seconds"}  # wall time of the search: differs run to run
NO_PROCESS_AFTER_S = 5.0
PAGE = 4096  # tmpfs allocates whole pages
ENOSPC_AFTER_LINES = 33  # two headers, then 13 lines a point (12 Einsums and its row): the disk fills in point 3


def cascade(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def environment(work: Path) -> dict:
    """The mapper's result cache inside `work`, so every scenario searches afresh."""
    return {**os.environ, "CASCADE_CACHE": str(work / "mapper-cache")}


def results(folder: Path) -> dict[str, dict]:
    """point_id -> its row without the volatile columns; a point written twice is an error."""
    with (folder / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_id = {r["point_id"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in rows}
    assert len(by_id) == len(rows), f"{folder}: a point written twice"
    return by_id


def einsum_rows(folder: Path) -> set[tuple]:
    with (folder / "einsums.csv").open(newline="") as handle:
        rows = [tuple(r.values()) for r in csv.DictReader(handle)]
    assert len(set(rows)) == len(rows), f"{folder}: an Einsum row written twice"
    return set(rows)


def descendants(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (Linux /proc); a pool's workers are the sweep's children."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def left_behind(pids: set[int]) -> list[int]:
    deadline = time.time() + NO_PROCESS_AFTER_S
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def kill_at(args: list[str], env: dict, delay: float, rows_first: int = 0, folder: Path | None = None
            ) -> tuple[bool, list[int]]:
    """Start `cascade ARGS`, SIGKILL it `delay` s after `folder`/results.csv holds `rows_first` rows (at once
    if 0); (killed before it finished, processes left behind)."""
    process = subprocess.Popen([sys.executable, "-m", "simulator.cli.main", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    children: set[int] = set()
    deadline = None if rows_first else time.time() + delay
    while (deadline is None or time.time() < deadline) and process.poll() is None:
        children |= descendants(process.pid)
        if deadline is None and _rows_on_disk(folder) >= rows_first:
            deadline = time.time() + delay
        time.sleep(0.02)
    finished = process.poll() is not None
    if not finished:
        children |= descendants(process.pid)
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return not finished, left_behind(children)


def _rows_on_disk(folder: Path | None) -> int:
    with contextlib.suppress(OSError):
        return max(0, (folder / "results.csv").read_bytes().count(b"\n") - 1)
    return 0


def use_sweep(work: Path, text: str) -> None:
    """Run the scenarios in `work` on the sweep `text` instead of SWEEP (the tests use a smaller one)."""
    (work / "reference").mkdir(parents=True, exist_ok=True)
    (work / "reference" / "faults.yaml").write_text(text)


def clean_sweep(work: Path) -> tuple[Path, dict, set, float]:
    """(sweep file, results, Einsum rows, seconds) of a run with no fault."""
    work.mkdir(parents=True, exist_ok=True)
    sweep = work / "faults.yaml"
    if not sweep.exists():
        sweep.write_text(SWEEP)
    start = time.time()
    done = cascade("sweep", str(sweep), "-o", str(work / "clean"), "--jobs", "2", "--json",
                   env=environment(work / "clean-env"))
    assert done.returncode == 0, done.stderr
    return sweep, results(work / "clean"), einsum_rows(work / "clean"), time.time() - start


def check_equal(folder: Path, clean: dict, clean_einsums: set) -> None:
    got = results(folder)
    assert got == clean, f"{folder}: results differ from a clean run's: " + ", ".join(
        f"{k}" for k in sorted(set(got) ^ set(clean)) or [k for k in clean if got.get(k) != clean[k]][:3])
    assert einsum_rows(folder) == clean_einsums, f"{folder}: Einsum rows differ from a clean run's"


def finish(sweep: Path, folder: Path, env: dict) -> None:
    done = cascade("sweep", str(sweep), "-o", str(folder), "--jobs", "2", "--json", env=env)
    assert done.returncode == 0, f"rerun after the fault failed: {done.stderr.strip()}"


def kill(work: Path, rng: random.Random, kills: int, per_folder: int = 3) -> list[dict]:
    """`kills` SIGKILLs of the sweep, up to `per_folder` in a row on one results folder; each folder is then
    finished and compared with the clean run. A kill lands after a random number of the sweep's points are on
    disk (0 up to all but one), plus a random delay of up to one point's share of the clean run: moments tied
    to progress, so that a run faster than the clean one (a warm kernel cache) is still killed mid-way. A run
    that finishes before its moment ends the folder; only kills that landed count."""
    sweep, clean, clean_einsums, clean_s = _clean(work)
    log: list[dict] = []
    attempts = 0
    while len(log) < kills:
        folder, env = work / f"killed-{attempts}", environment(work / f"killed-{attempts}-env")
        for _ in range(per_folder):
            attempts += 1
            assert attempts <= 4 * kills, "the sweep keeps finishing before its kill: too few points to kill"
            rows, delay = rng.randrange(len(clean)), rng.uniform(0.0, clean_s / len(clean))
            rows = max(rows, _rows_on_disk(folder))  # a resumed folder already holds some
            killed, left = kill_at(["sweep", str(sweep), "-o", str(folder), "--jobs", "2", "--json"], env, delay,
                                   rows_first=rows, folder=folder)
            assert not left, f"a kill {delay:.2f} s after {rows} rows left processes {left}"
            if not killed:
                break
            log.append({"fault": "kill", "after_rows": rows, "delay_s": round(delay, 2),
                        "points_kept": len(results(folder)) if (folder / "results.csv").exists() else 0})
            if len(log) == kills:
                break
        finish(sweep, folder, env)
        check_equal(folder, clean, clean_einsums)
    return log


_CLEAN: dict[Path, tuple] = {}


def _clean(work: Path) -> tuple:
    if work not in _CLEAN:
        _CLEAN[work] = clean_sweep(work / "reference")
    return _CLEAN[work]


def truncated(work: Path, rng: random.Random) -> list[dict]:
    """results.csv of a finished sweep cut at a random byte (the header included); the rerun runs the points
    cut off, and their Einsum rows, already on disk, are not written twice. (einsums.csv cut on its own, with
    its points' rows intact in results.csv, is not a state a kill can make and is not repaired.)"""
    sweep, clean, clean_einsums, _ = _clean(work)
    folder, env = work / "truncated", environment(work / "truncated-env")
    shutil.copytree(work / "reference" / "clean", folder)
    cuts = {}
    for name in ("results.csv",):
        path = folder / name
        size = path.stat().st_size
        cuts[name] = rng.randrange(0, size)
        with path.open("r+b") as handle:
            handle.truncate(cuts[name])
    finish(sweep, folder, env)
    check_equal(folder, clean, clean_einsums)
    return [{"fault": "truncated", "cut_at_bytes": cuts}]


@contextlib.contextmanager
def small_tmpfs(path: Path, free_bytes: int, mount: bool = True):
    """A tmpfs at `path` with about `free_bytes` left (a filler file takes the rest); None if mounting is not
    allowed here, or not asked for."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = mount and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                                       capture_output=True).returncode == 0
    try:
        if mounted:
            filler = path / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as handle:
                handle.write(b"\0" * (2**20 - free_bytes))
        yield filler if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], capture_output=True)


def full_disk(work: Path, tmpfs: bool = True) -> list[dict]:
    """The disk fills: on a small tmpfs (the first results page does not fit), and by an injected ENOSPC after
    a few lines (half a line written, then the error). Each: one error line, exit 1, no process left; with room
    again, the rerun completes to the clean results."""
    sweep, clean, clean_einsums, _ = _clean(work)
    log = []
    with small_tmpfs(work / "full-disk" / "mnt", free_bytes=2 * PAGE, mount=tmpfs) as filler:  # 2 files' room
        if filler is not None:
            env, folder = environment(work / "full-disk-env"), work / "full-disk" / "mnt" / "out"
            done = cascade("sweep", str(sweep), "-o", str(folder), "--jobs", "2", "--json", env=env)
            _one_error_line(done, "No space left on device")
            filler.unlink()  # room again
            finish(sweep, folder, env)
            check_equal(folder, clean, clean_einsums)
            log.append({"fault": "full disk", "how": "tmpfs"})
    env, folder = environment(work / "enospc-env"), work / "enospc"
    done = _injected("enospc", ENOSPC_AFTER_LINES, sweep, folder, env)
    _one_error_line(done, "No space left on device")
    kept = len(results(folder))
    finish(sweep, folder, env)
    check_equal(folder, clean, clean_einsums)
    return [*log, {"fault": "full disk", "how": f"injected ENOSPC after {ENOSPC_AFTER_LINES} lines",
                   "points_kept": kept}]


def read_only(work: Path) -> list[dict]:
    """The results folder turns read-only after the first point: one error line, no process left; writable
    again, the rerun completes to the clean results."""
    sweep, clean, clean_einsums, _ = _clean(work)
    folder, env = work / "read-only", environment(work / "read-only-env")
    # a folder holding the first point only (as a killed run leaves it), made read-only, the sweep resumed into it
    shutil.copytree(work / "reference" / "clean", folder)
    lines = (folder / "results.csv").read_text().splitlines(keepends=True)
    (folder / "results.csv").write_text("".join(lines[:2]))
    with _read_only(folder) as how:
        if how == "injected":
            done = _injected("eacces", 0, sweep, folder, env)
        else:
            done = cascade("sweep", str(sweep), "-o", str(folder), "--jobs", "2", "--json", env=env)
        _one_error_line(done, "ermi")  # "Permission denied" / "Operation not permitted"
    finish(sweep, folder, env)
    check_equal(folder, clean, clean_einsums)
    return [{"fault": "read-only folder", "how": how}]


@contextlib.contextmanager
def _read_only(folder: Path):
    files = [folder, *folder.iterdir()]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in files}
        for p in files:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield "chmod"
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True).returncode == 0:
        try:
            yield "chattr +i"
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], capture_output=True)
        return
    yield "injected"


def _injected(fault: str, after: int, sweep: Path, folder: Path, env: dict) -> subprocess.CompletedProcess:
    """`cascade sweep` with writes of the results store failing (tests/faults/inject.py)."""
    return subprocess.run([sys.executable, str(Path(__file__).with_name("inject.py")), fault, str(after), "--",
                           "sweep", str(sweep), "-o", str(folder), "--jobs", "2", "--json"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def _one_error_line(done: subprocess.CompletedProcess, words: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, f"exit {done.returncode}: {done.stderr[-400:]}"
    assert len(lines) == 1 and lines[0].startswith("cascade: error: ") and words in lines[0], done.stderr[-400:]


def kill_reproduce(work: Path, rng: random.Random, kills: int) -> list[dict]:
    """SIGKILL `cascade reproduce fusemax` at random moments; each rerun writes the clean run's tables."""
    clean = work / "reproduce-clean"
    start = time.time()
    done = cascade("reproduce", "fusemax", "-o", str(clean), "--json", env=environment(work / "reproduce-env"))
    assert done.returncode == 0, done.stderr
    seconds, log = time.time() - start, []
    tables = sorted(p.name for p in clean.glob("*.csv"))
    for n in range(kills):
        folder, env = work / f"reproduce-killed-{n}", environment(work / "reproduce-env")
        delay = rng.uniform(0.0, seconds)
        killed, left = kill_at(["reproduce", "fusemax", "-o", str(folder), "--json"], env, delay)
        assert not left, f"reproduce kill {n + 1} at {delay:.2f} s left processes {left}"
        assert killed, f"reproduce finished before its kill at {delay:.2f} s"
        again = cascade("reproduce", "fusemax", "-o", str(folder), "--json", env=env)
        assert again.returncode == 0, again.stderr
        _, mismatch, errors = filecmp.cmpfiles(clean, folder, tables, shallow=False)
        assert not mismatch and not errors, f"tables differ after a kill at {delay:.2f} s: {mismatch + errors}"
        log.append({"fault": "kill reproduce", "delay_s": round(delay, 2)})
    return log
