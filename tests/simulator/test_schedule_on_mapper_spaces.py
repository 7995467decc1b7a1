"""Every schedule the mapper hands the tile-schedule kernel honours every dependency: on real mapping spaces
(selection masks, recurrences, deep bindings), the kernel's makespan equals the brute-force longest path
through all (tile, task) instances (`test_schedule.brute_force`, built from the rules alone, no issue-order
sweep). A dependency the binding's stages put behind its reader (a restricted Einsum staged before the
selection's scores it waits for, a recurrence read before its producer issues, a buffer slot freed by a tile
not yet finished) would make the kernel read an unwritten finish time as 0 and come out faster."""

from __future__ import annotations

import numpy as np
import pytest

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.space import SpatialMappingSpace
from simulator.spatial import batch
from simulator.spatial.kernels.schedule import schedule_latency
from simulator.spatial.mapper_cost import SpatialCost
from tests.simulator.test_schedule import brute_force
from workloads.zoo import attention_shapes, load_model

TILES = 6  # enough for every stage to overlap the next tiles (deepest stage 5 with prefetch)


def scheduled_rows(monkeypatch, cascade: str, seq: int, count: int, seed: int) -> list[tuple]:
    """The arguments of `count` schedules the mapper's batches asked for, on random genomes of the space."""
    calls = []

    def record(durations, delivery, resources, stages, order, deps, recurrence, stride, slots, tiles, window, memo):
        calls.append((durations, delivery, resources, stages, order, deps, recurrence, stride, slots))
        return np.ones(len(durations))

    monkeypatch.setattr(batch, "schedule_latency_distinct", record)
    space = SpatialMappingSpace(library_cascade(cascade), load_arch("fusemax"),
                                attention_shapes(load_model("bert"), seq))
    SpatialCost(space)(space.random(np.random.default_rng(seed), 4000))
    rows = [(call, n) for call in calls for n in range(len(call[0]))]
    # half of them deep pipelines with few tiles between two steps of a recurrence, where reads run ahead
    short = [k for k, (call, n) in enumerate(rows) if call[7][n] <= 2 and np.ptp(call[3]) >= 3]
    rng = np.random.default_rng(seed)
    picked = set(rng.choice(short, min(count // 2, len(short)), replace=False)) if short else set()
    picked |= set(rng.choice(len(rows), min(count - len(picked), len(rows)), replace=False))
    return [rows[k] for k in sorted(picked)]


@pytest.mark.parametrize(("cascade", "seq"), [("moba", 1024), ("nsa", 1024), ("sparge", 1024), ("fusemax", 1024)])
def test_mapper_schedules_equal_the_longest_path(monkeypatch, cascade, seq):
    for call, n in scheduled_rows(monkeypatch, cascade, seq, count=25, seed=3):
        durations, delivery, resources, stages, order, deps, recurrence, stride, slots = call
        case = (durations[n], delivery[n], resources, stages, order, deps, recurrence, int(stride[n]), int(slots[n]))
        kernel = schedule_latency(*case[:7], case[7], case[8], float(TILES), 64)
        assert kernel == pytest.approx(brute_force(*case, TILES), rel=1e-12, abs=1e-9)
