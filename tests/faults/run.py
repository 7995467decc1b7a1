"""`make faults`: SIGKILLs at random moments of a sweep and of `cascade reproduce`, a full disk, a read-only
results folder and truncated results files; after each, no process is left and the rerun's results equal a
clean run's (tests/faults/fault_scenarios.py says how each fault is made)."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import fault_scenarios as faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=15, help="random SIGKILLs of a sweep (default 15)")
    parser.add_argument("--reproduce-kills", type=int, default=5,
                        help="random SIGKILLs of `cascade reproduce fusemax` (default 5)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill moments (default: the time)")
    parser.add_argument("--json", action="store_true", help="machine-readable log")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    log: list[dict] = []
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="cascade-faults-") as scratch:
        work = Path(scratch)
        steps = [("truncated", lambda: faults.truncated(work, rng)),
                 ("full disk", lambda: faults.full_disk(work)),
                 ("read-only", lambda: faults.read_only(work)),
                 ("sweep kills", lambda: faults.kill(work, rng, args.kills)),
                 ("reproduce kills", lambda: faults.kill_reproduce(work, rng, args.reproduce_kills))]
        for name, step in steps:
            entries = step()
            log += entries
            if not args.json:
                for entry in entries:
                    print(f"ok  {name}: {json.dumps({k: v for k, v in entry.items() if k != 'fault'})}",
                          flush=True)
    summary = {"seed": seed, "faults": len(log), "kills": sum(e["fault"].startswith("kill") for e in log),
               "seconds": round(time.time() - start, 1), "log": log}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['faults']} faults ({summary['kills']} kills), seed {seed}: every rerun equal to a clean "
              f"run, no process left ({summary['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
