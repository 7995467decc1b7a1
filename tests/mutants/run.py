"""Apply each one-line mutation of tests/mutants/mutations.yaml to a scratch copy of the repository and run
its tests there; every mutation must make a test fail (`make mutants`). The working tree is never touched.

A copy, not the checkout: the tests run with the copy first on the path, so its (mutated) modules are the
ones imported, and Numba compiles the copy's kernels into the copy's own cache."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MUTATIONS = Path(__file__).with_name("mutations.yaml")


def load_mutations(path: Path = MUTATIONS) -> list[dict]:
    """The mutation list, each checked to name a file and text that occurs exactly once in it."""
    mutations = yaml.safe_load(path.read_text())["mutations"]
    for m in mutations:
        count = (ROOT / m["file"]).read_text().count(m["find"])
        if count != 1:
            raise SystemExit(f"{path}: mutation {m['name']!r}: its text occurs {count} times in {m['file']}, not once")
    return mutations


def copy_repository(target: Path) -> None:
    """The tracked files of the working tree (with their uncommitted edits) into `target`."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[bool, str]:
    """(failed, last line of pytest's output) for `tests` run in the copy."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True, f"timed out after {timeout:.0f} s (counted as caught)"
    failed = [line.split(" - ")[0] for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode != 0, (failed[0] if failed else lines[-1] if lines else done.stderr.strip()[-200:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the mutations whose name contains this text")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation (default 900)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    mutations = [m for m in load_mutations() if not args.only or args.only in m["name"]]
    results = []
    with tempfile.TemporaryDirectory(prefix="cascade-mutants-") as scratch:
        copy = Path(scratch)
        copy_repository(copy)
        for m in mutations:
            target = copy / m["file"]
            original = target.read_text()
            target.write_text(original.replace(m["find"], m["replace"]))
            start = time.perf_counter()
            caught, last = run_tests(copy, m["tests"], args.timeout)
            target.write_text(original)
            results.append({"mutation": m["name"], "file": m["file"], "caught": caught, "tests": last,
                            "seconds": round(time.perf_counter() - start, 1)})
            if not args.json:
                print(f"{'caught  ' if caught else 'SURVIVED'}  {m['name']}  ({m['file']}; {last})", flush=True)
    survived = [r for r in results if not r["caught"]]
    if args.json:
        print(json.dumps({"mutations": results, "survived": len(survived)}, indent=2))
    else:
        print(f"{len(results) - len(survived)} of {len(results)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
