"""Start-up: a command imports only what it uses (issue 14 item 4). Plotting (matplotlib), symbolic algebra
(sympy), the cluster client (dask.distributed), graph drawing (networkx) and scipy.linalg (which Numba's BLAS
probe would import on the first kernel call, `simulator/numba_start.py`) are loaded by the commands that need
them, never by `simulate`, `map` or `compare` of an unmasked 1-pass cascade (`map` of a multi-pass cascade
loads sympy to explain its buffer need); `cascade --help` lists every command all the same."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("matplotlib", "sympy", "distributed", "networkx", "scipy.linalg")


def loaded_after(argv: list[str]) -> list[str]:
    """The heavy packages in sys.modules after `cascade ARGV` ran in a fresh process."""
    script = ("import contextlib, io, json, sys\nfrom simulator.cli.main import main\n"
              f"with contextlib.redirect_stdout(io.StringIO()):\n    status = main({argv!r})\n"
              f"print(json.dumps([status, [m for m in {HEAVY!r} if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    status, loaded = json.loads(done.stdout.splitlines()[-1])
    assert status == 0, done.stderr
    return loaded


@pytest.mark.parametrize("argv", [
    ["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "1K"],
    ["simulate", "--arch", "h100-sxm5-80gb", "--mapping", "fa2", "--workload", "bert", "--seq", "1K"],
    ["compare", "--workloads", "bert", "--seq", "1K", "--designs", "flat,fusemax"],
    ["map", "--arch", "fusemax", "--cascade", "gemm", "--shape", "M=1024,K=256,N=256", "--budget", "2000",
     "--no-cache"],
    ["list", "designs"],
], ids=["simulate-spatial", "simulate-gpu", "compare", "map-gemm", "list"])
def test_a_command_loads_no_heavy_package_it_does_not_use(argv):
    assert loaded_after(argv) == []


def test_help_lists_every_command(capsys):
    from simulator.cli.main import COMMANDS, main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
