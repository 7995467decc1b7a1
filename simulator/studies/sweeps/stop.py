"""A clean stop of a sweep on SIGINT (Ctrl-C) or SIGTERM: the sweep stops between points, every point
already written stays written, the workers are ended, and the command exits 128 + the signal's number.

A signal that arrives while a finished point is being written is held until the write is done, so a
point's rows are never half written by a stop (a SIGKILL can still tear a line; the store repairs that)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SweepStopped(Exception):
    """The sweep was stopped by `signum`; `done` of `points` are written in `out`."""

    def __init__(self, signum: int, done: int = 0, points: int = 0, out: str = ""):
        super().__init__(signum)
        self.signum, self.done, self.points, self.out = signum, done, points, out

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return (f"sweep stopped by {signal.Signals(self.signum).name}: {self.done} of {self.points} points are done "
                f"and kept in {self.out}; run the same command again to resume")


class StopOnSignals:
    """While active (main thread only), SIGINT and SIGTERM raise `SweepStopped`, except inside `writing()`,
    which holds the signal until the write is done."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._writing = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        self.received = signum
        if not self._writing:
            raise SweepStopped(signum)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self.received is not None:
            raise SweepStopped(self.received)
