"""Timing one kernel launch with CUDA events, the way `triton.testing.do_bench` does (triton 3.x).

1. run once and synchronize (compilation, autotuning and a kernel's refusal of the configuration happen here);
2. estimate the time of one run from 5 runs (each after an L2 flush), timed by one pair of events;
3. warm up for `warmup_ms` worth of runs (at least one);
4. time `rep_ms` worth of runs (at least `min_repeats`), each with its own pair of events, after resetting the
   gradients (`reset`, do_bench's `grad_to_none`) and flushing L2 by writing a buffer larger than it (do_bench
   zeroes 256 MiB), neither of which is inside the timed interval;
5. synchronize once and read every interval; report the median, and the 20th and 80th percentiles (linear
   interpolation, as `torch.quantile`) for the spread.

Written against the `torch` module object it is given (`torch.cuda.Event`, `torch.cuda.synchronize`) so the
tests run it with a fake torch whose events return fixed times.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

ESTIMATE_RUNS = 5
FLUSH_BYTES = 256 * 1024 * 1024  # do_bench's L2 flush buffer


@dataclass(frozen=True, slots=True)
class TimingSettings:
    warmup_ms: float = 25.0  # do_bench's defaults
    rep_ms: float = 100.0
    min_repeats: int = 10  # do_bench takes at least 1; a median needs several

    def __post_init__(self):
        if not self.warmup_ms >= 0 or not self.rep_ms > 0 or self.min_repeats < 1:
            raise ValueError(f"timing settings out of range: {self}")


@dataclass(frozen=True, slots=True)
class Timing:
    median_ms: float
    p20_ms: float
    p80_ms: float
    estimate_ms: float
    warmup_runs: int
    repeats: int
    flush_bytes: int

    def method(self) -> str:
        """One line for the CSV row: how the median was taken."""
        warmup = f"{self.warmup_runs} warm-up run{'' if self.warmup_runs == 1 else 's'}"
        return (f"CUDA events, median of {self.repeats} runs after {warmup}, "
                f"L2 flushed by a {self.flush_bytes / 2**20:g} MiB write before each (triton.testing.do_bench method)")


def bench(launch, torch, flush, settings: TimingSettings) -> Timing:
    """Time `launch.run()` (after `launch.reset()`) on the current CUDA stream; `flush` is the L2 flush buffer."""
    launch.run()
    torch.cuda.synchronize()
    start, end = _events(torch)
    start.record()
    for _ in range(ESTIMATE_RUNS):
        flush.zero_()
        launch.run()
    end.record()
    torch.cuda.synchronize()
    estimate_ms = max(start.elapsed_time(end) / ESTIMATE_RUNS, 1e-6)
    warmup_runs = max(1, int(settings.warmup_ms / estimate_ms))
    repeats = max(settings.min_repeats, int(settings.rep_ms / estimate_ms))
    for _ in range(warmup_runs):
        launch.run()
    pairs = [_events(torch) for _ in range(repeats)]
    for start, end in pairs:
        launch.reset()
        flush.zero_()
        start.record()
        launch.run()
        end.record()
    torch.cuda.synchronize()
    times = [start.elapsed_time(end) for start, end in pairs]
    return Timing(statistics.median(times), quantile(times, 0.2), quantile(times, 0.8), estimate_ms, warmup_runs,
                  repeats, flush.numel() * flush.element_size())


def quantile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between the two nearest ranks (torch.quantile's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _events(torch):
    return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
