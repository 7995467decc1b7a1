"""What a mapping leaves to the tool, chosen here before the spatial model runs: the size of each `max_fit`
part (the largest of its `loop_sizes` whose buffer needs fit) and, for a mapping family, the variant (FLAT picks its
dataflow per point: the fastest variant, lower energy breaking ties within `TIE_TOLERANCE`). The model
(`simulator.spatial.simulate`) only evaluates the one concrete mapping it is given."""

from __future__ import annotations

import numpy as np

from arch_models import SpatialArch
from einsum_cascade.model import Cascade
from mappers.mapping import Mapping
from mappers.search import TIE_TOLERANCE
from mappers.space import loop_sizes
from simulator.spatial.batch import fits, traffic
from simulator.spatial.evaluate import SpatialReport, overflow_reason
from simulator.spatial.lower import CapacityRejected, MappingRejected, lower_group, reject
from simulator.spatial.simulate import simulate
from simulator.spatial.systolic_mode import check_timing_options


def max_fit_sizes(cascade: Cascade, arch: SpatialArch, mapping: Mapping, position: int,
                  shapes: dict[str, int]) -> dict[str, int]:
    """Largest size of group `position`'s `max_fit` part whose buffer needs fit (all candidate sizes are counted
    as one batch); {} when the group has no such part. The sizes are the `loop_sizes` of the part's room (the
    tiles its outer part would otherwise loop over): its divisors, and the sizes whose outer loop runs a power of
    two times, the last one short; for a room that is a power of two, its powers of two."""
    probe = lower_group(cascade, arch, mapping, position, shapes)
    if not probe.auto_parts:
        return {}
    part = probe.auto_parts[0]
    parts = next(p for p in mapping.groups[position].splits.values() if part in p)
    extent = {p: int(probe.extents[probe.parts.index(p)]) for p in parts}
    room = int(np.prod([extent[p] for p in parts])) // int(np.prod([extent[p] for p in parts[1:] if p != part]))
    candidates = loop_sizes(room)
    # only two loop extents change with the size, the part's own and the outermost part of its rank (which
    # takes what the inner ones leave): one row per size from the probe's (sized 1), no lowering per size
    rows = np.repeat(probe.extents[None, :], len(candidates), axis=0)
    if part != parts[0]:
        rows[:, probe.parts.index(part)] = candidates
        rows[:, probe.parts.index(parts[0])] = -(-extent[parts[0]] // np.array(candidates))  # the last one short
    occupancy = traffic(probe, rows)[7]
    fitting = [size for size, ok in zip(candidates, fits(arch, occupancy), strict=True) if ok]
    reject(bool(fitting), f"group {probe.name}: no size of {part} fits the buffers: "
           + overflow_reason(arch, probe, occupancy[0]), mapping, CapacityRejected)
    return {part: max(fitting)}


def simulate_family(cascade: Cascade, arch: SpatialArch, mapping: Mapping, shapes: dict[str, int],
                    design: str | None = None, timing: str = "ideal", dataflow: str = "os") -> SpatialReport:
    """Size the `max_fit` parts of every variant of `mapping`, evaluate each variant and keep the fastest (ties
    within `TIE_TOLERANCE` broken by the lower energy). A variant that does not fit or is not legal is skipped;
    if none is left, the rejection is a `CapacityRejected` when every variant merely overflowed (a larger buffer
    would do), else a `MappingRejected`. `timing`, `dataflow`: see `simulator.spatial.simulate`."""
    check_timing_options(timing, dataflow)  # before any work
    reports, rejections = [], []
    for variant in mapping.family():
        try:
            sizes = [max_fit_sizes(cascade, arch, variant, n, shapes) for n in range(len(variant.groups))]
            reports.append(simulate(cascade, arch, variant, shapes, design or mapping.name, timing, dataflow, sizes))
        except MappingRejected as rejected:
            rejections.append((variant.name, rejected))
    if not reports:
        kind = CapacityRejected if all(isinstance(r, CapacityRejected) for _, r in rejections) else MappingRejected
        raise kind("; ".join(f"{name}: {r.message}" for name, r in rejections), source=mapping.source or mapping.name)
    fastest = min(r.latency_s for r in reports)
    return min((r for r in reports if r.latency_s <= fastest * (1 + TIE_TOLERANCE)), key=lambda r: r.energy_pj)
