"""One cascade at explicit shapes on a spatial array (`cascade simulate --cascade gemm --shape M=1024,...`).

The workload path (`--workload bert --seq 64K`, simulator/studies/designs.py) derives attention shapes from a
model; this one takes any library cascade or cascade file and the size of each of its shape symbols, so a
bare GEMM or any other cascade can be timed from the command line. Without a mapping it uses the
shipped mapping named like the cascade (`mappers/presets/gemm.yaml` for `gemm`).
"""

from __future__ import annotations

from arch_models import SpatialArch
from einsum_cascade.errors import SpecError
from einsum_cascade.library import resolve_cascade
from mappers.load import load_mapping, mapping_names
from simulator.spatial.simulate import simulate


def mapping_for(cascade_name: str, mapping_name: str | None):
    """The mapping to simulate `cascade_name` with: `mapping_name`, else the shipped one of the same name."""
    cascade = resolve_cascade(cascade_name)
    if mapping_name is None:
        if cascade.name not in mapping_names():
            raise SpecError(f"no shipped mapping for cascade {cascade.name!r}: pass --mapping FILE, or make one "
                            f"with `cascade map --arch ARCH --cascade {cascade_name} --shape ... --save FILE`",
                            key="--mapping")
        mapping_name = cascade.name
    mapping = load_mapping(mapping_name)
    if resolve_cascade(mapping.cascade).name != cascade.name:
        raise SpecError(f"mapping {mapping.name!r} maps cascade {mapping.cascade!r}, not {cascade.name!r}",
                        key="--mapping")
    return cascade, mapping


def simulate_cascade_point(arch: SpatialArch, cascade_name: str, shapes: dict[str, int],
                           mapping_name: str | None = None, timing: str = "ideal", dataflow: str = "os") -> dict:
    """One row with the keys of `simulate --json` (less workload and seq_len, plus the shapes and per-Einsum
    cycles)."""
    cascade, mapping = mapping_for(cascade_name, mapping_name)
    report = simulate(cascade, arch, mapping, shapes, mapping.name, timing, dataflow)
    return {
        "design": mapping.name, "cascade": cascade.name, "shape": dict(shapes), "arch": arch.name,
        "mapping": report.mapping, "scope": "cascade", "latency_s": report.latency_s, "cycles": report.cycles,
        "energy_pj": report.energy_pj, "dram_bytes": report.dram_bytes, "util_2d": report.util_2d,
        "util_1d": report.util_1d, "area_mm2": report.area_mm2, "bound": report.bound,
        "einsum_cycles": {name: c for group in report.groups for name, c in group.einsum_cycles.items()},
        "einsum_share": report.einsum_share, "occupancy_bytes": report.occupancy_bytes,
        "measured_passes": report.measured_passes, "pass_lower_bound": report.pass_lower_bound,
        "energy_breakdown": report.energy_breakdown,
        "array_2d": {"rows": arch.array_2d.rows, "cols": arch.array_2d.cols},
    }
