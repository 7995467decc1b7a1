"""Fill Numba's on-disk cache with every kernel the commands call, so that the first real command after
installing loads them (about 0.2 s) instead of compiling them (20 s or more). The Makefile's install step
runs it: `python -m simulator.cli.warm_kernels`. Each command below is small; what it leaves is the cache."""

from __future__ import annotations

import contextlib
import io
import sys

from simulator.cli.main import main

COMMANDS = (  # together they reach every kernel: spatial traffic and schedule, systolic timing, the GPU model
    ["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "1K", "--json"],
    ["simulate", "--arch", "fusemax", "--cascade", "gemm", "--shape", "M=256,N=256,K=64", "--timing", "systolic",
     "--json"],
    ["simulate", "--arch", "fusemax", "--cascade", "gemm", "--shape", "M=256,N=256,K=64", "--timing",
     "systolic-unpadded", "--json"],
    ["simulate", "--arch", "h100-sxm5-80gb", "--mapping", "fa2", "--workload", "bert", "--seq", "1K", "--json"],
    ["map", "--arch", "h100-sxm5-80gb", "--cascade", "fusemax", "--workload", "bert", "--seq", "1K",
     "--budget", "200", "--json"],
)


def warm() -> int:
    for argv in COMMANDS:
        with contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
        if status != 0:
            print(f"warming the kernel cache: cascade {' '.join(argv)} exited {status}", file=sys.stderr)
            return status
    return 0


if __name__ == "__main__":
    sys.exit(warm())
