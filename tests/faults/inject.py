"""Run `cascade ARGS` with the sweep store's writes failing, for machines where a small tmpfs cannot be
mounted or a folder cannot be made read-only (root without chattr):

    python tests/faults/inject.py enospc N -- sweep FILE -o DIR   # after N whole lines, half a line, then ENOSPC
    python tests/faults/inject.py eacces N -- sweep FILE -o DIR   # after N lines, every open for writing: EACCES

The fault is raised inside the store's own calls to os.write / os.open, as the kernel would raise it."""

from __future__ import annotations

import errno
import os
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simulator.cli.main import main  # noqa: E402
from simulator.studies.sweeps import store  # noqa: E402


def failing_os(fault: str, after: int) -> types.SimpleNamespace:
    """A stand-in for the store's `os` module whose write (ENOSPC) or open (EACCES) fails after `after` lines."""
    lines = {"n": 0}

    def write(descriptor: int, data: bytes) -> int:
        if fault != "enospc" or lines["n"] < after:
            lines["n"] += 1
            return os.write(descriptor, data)
        if lines["n"] == after:  # the disk takes half of this line, then is full
            lines["n"] += 1
            return os.write(descriptor, data[:max(1, len(data) // 2)])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def open_(path, flags, mode=0o777):
        if fault == "eacces" and lines["n"] >= after:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        lines["n"] += fault == "eacces"
        return os.open(path, flags, mode)

    module = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    module.write, module.open = write, open_
    return module


if __name__ == "__main__":
    fault, after, separator, *argv = sys.argv[1:]
    assert separator == "--" and fault in ("enospc", "eacces"), __doc__
    store.os = failing_os(fault, int(after))
    sys.exit(main(argv))
