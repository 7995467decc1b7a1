"""Worker processes that cannot outlive the sweep that started them, and a dask client that fails fast.

A pool worker blocked on its task pipe never learns that its parent was killed with SIGKILL (the pipe's
other end is still open in its sibling workers), so it would wait forever. Each worker therefore runs a
daemon thread that watches its parent's pid and exits the moment the worker is reparented. On Linux the
kernel's parent-death signal (prctl PR_SET_PDEATHSIG) does the same at once; the thread covers other systems.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from einsum_cascade.errors import SpecError

PARENT_POLL_S = 0.2
PR_SET_PDEATHSIG = 1
SIGKILL = 9
DEFAULT_SCHEDULER_TIMEOUT_S = 5.0


@contextlib.contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers die with this process; left by an exception (a stop, an error), its
    workers are ended at once instead of being waited for."""
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        end_workers(pool)
        raise
    pool.shutdown(wait=True)


def end_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers (a point in progress is abandoned: it was not written) and cancel the rest.
    ProcessPoolExecutor has no public handle on its processes before Python 3.14's terminate_workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)


def die_with_parent(parent: int) -> None:
    """Exit this worker as soon as `parent` is gone (SIGKILL included). Ctrl-C reaches every process of the
    terminal's group: a worker ignores it and leaves the stop to the sweep (simulator/studies/sweeps/stop.py).
    SIGTERM gets its default action back (a forked worker inherits the sweep's handler), so it ends a worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="die-with-parent").start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def dask_client(address: str, timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S):
    """A client of the scheduler at `address`, or a one-line error naming it within `timeout_s`."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SpecError(f"cannot reach the dask scheduler {address!r} within {timeout_s:g} s ({reason}); "
                        "check the address or raise --scheduler-timeout", key="--scheduler") from None
