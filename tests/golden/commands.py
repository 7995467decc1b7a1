"""A sample of command outputs kept as JSON (`tests/golden/*.json`): restructuring the code around the models
must leave them unchanged to the last digit (`tests/golden/test_outputs_unchanged.py`). When the model itself
changes on purpose, regenerate them with `python tests/golden/commands.py` and say why in the commit."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

from simulator.cli.main import main

HERE = Path(__file__).parent
COMMANDS = {
    "compare": ["compare", "--workloads", "bert", "--seq", "1K,64K", "--designs", "flat,fusemax,unfused", "--json"],
    "map_spatial": ["map", "--arch", "fusemax", "--cascade", "fusemax", "--workload", "bert", "--seq", "1K",
                    "--no-cache", "--json"],
    "simulate_gpu": ["simulate", "--arch", "h100", "--mapping", "fa3", "--workload", "llama3-8b", "--seq", "8K",
                     "--json"],
    "map_gpu": ["map", "--arch", "h100", "--cascade", "flashattention-2", "--workload", "llama3-8b", "--seq", "8K",
                "--json"],
}
# wall-clock figures, not model outputs
TIMING_KEYS = {"candidates_per_s", "seconds", "time_to_best_s", "wall_s", "cached", "search_seconds"}


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def run(name: str):
    """The command's JSON output without its wall-clock figures."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(COMMANDS[name]) == 0
    return without_timing(json.loads(out.getvalue()))


if __name__ == "__main__":
    for name in sys.argv[1:] or COMMANDS:
        (HERE / f"{name}.json").write_text(json.dumps(run(name), indent=1, sort_keys=True) + "\n")
        print("wrote", HERE / f"{name}.json")
