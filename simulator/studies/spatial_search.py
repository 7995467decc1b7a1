"""`search_mapping`: the mapper driven by the spatial cost model, with bounds that explain the result."""

from __future__ import annotations

import time

import numpy as np

from arch_models import SpatialArch
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.analysis.semantics import nonlinear_before_reduction
from einsum_cascade.errors import SpecError
from einsum_cascade.masks import undeclared_density_note
from einsum_cascade.model import Cascade
from mappers import cache
from mappers.dump import mapping_to_yaml
from mappers.load import parse_mapping
from mappers.mapping import Mapping
from mappers.search import SearchSettings, search
from mappers.space import SpatialMappingSpace
from simulator.spatial.lower import CapacityRejected
from simulator.spatial.mapper_cost import OVERFLOW, SpatialCost
from simulator.spatial.simulate import SpatialReport, padding_note
from simulator.studies.mapping_choice import simulate_family

CACHE_VERSION = 17  # bump when the cost model, the report or a search's course changes, so old cached searches
# are not reused


def compute_bound_s(report, arch: SpatialArch) -> float:
    """Busiest array's useful work at full utilization under this mapping's placement of Einsums."""
    useful = np.sum([g.useful for g in report.groups], axis=0)
    return float(max(useful[0] / arch.array_2d.pes, useful[1] / arch.array_1d.pes) / arch.clock_hz)


def compulsory_dram_bytes(cascade: Cascade, shapes: dict[str, int], arch: SpatialArch) -> float:
    """Every input read once and every output written once."""
    sizes = cascade.sizes(shapes)
    instances = np.prod([sizes[s.strip()] for s in cascade.instances.split("*") if s.strip() and
                         not s.strip().isdigit()])
    words = sum(np.prod([sizes[cascade.shapes[r]] for r in cascade.tensor_ranks[t.name]])
                for t in (*cascade.inputs, *cascade.outputs))
    return float(words * instances * arch.word_bytes)


def explain(cascade: Cascade, arch: SpatialArch, shapes: dict[str, int], report) -> dict:
    """Why the best mapping is as fast as it is: compute and DRAM bounds, and the cascade's buffer need."""
    compute = compute_bound_s(report, arch)
    compulsory = compulsory_dram_bytes(cascade, shapes, arch)
    dram = compulsory / arch.dram.bandwidth_bytes_per_s
    gap = report.latency_s / max(compute, dram)
    reasons = []
    if gap <= 1.02:
        reasons.append("at the compute bound" if compute >= dram else "at the DRAM bound")
    else:
        if report.dram_bytes > 1.05 * compulsory:
            reasons.append(f"DRAM traffic is {report.dram_bytes / compulsory:.1f}x the compulsory "
                           f"{compulsory / 1e9:.3g} GB: tiles or intermediates that do not fit the "
                           f"{arch.global_buffer.capacity_bytes / 2**20:.0f} MB buffer are re-read or spilled")
        if report.bound != "memory":
            reasons.append(f"the {report.bound.split('-')[1]} array is the bottleneck at utilization "
                           f"{max(report.util_2d, report.util_1d):.2f} of its own work")
        exposed = report.latency_s - max(compute, dram)
        padding = " and the padding of short last tiles (see the note)" if padding_note(report) else ""
        reasons.append(f"{exposed * 1e6:.3g} us ({exposed / report.latency_s:.1%} of the run) is pipeline fill and "
                       f"drain{padding}: the first tile's loads and the last tile's results cannot overlap other "
                       "work")
    footprint = _footprint(cascade)
    if footprint is not None and footprint.order != "O(1)":
        from einsum_cascade.analysis.symbols import evaluate

        per_query = evaluate(footprint.per_query, cascade, shapes) * arch.word_bytes
        fit = arch.global_buffer.capacity_bytes // max(per_query, 1)
        reasons.append(f"the cascade must keep {footprint.per_query} elements per query ({footprint.order}), "
                       f"{per_query / 1024:.0f} KiB at this length, so only {fit} queries' intermediates fit the "
                       f"{arch.global_buffer.capacity_bytes / 2**20:.0f} MB buffer at once: the buffer need grows "
                       "with the sequence length, where a 1-pass cascade's does not")
    return {"compute_bound_s": compute, "dram_bound_s": dram, "compulsory_dram_bytes": compulsory,
            "gap_over_bound": gap, "why": "; ".join(reasons)}


def _footprint(cascade: Cascade):
    """The cascade's live buffer need per query over the key sequence; None without a key rank M, or with one
    pass over it: within a pass only running state is live, sized without the rank (analysis/footprint.py), so
    the need is O(1) and the symbolic analysis (sympy, about 0.4 s to import) is not needed to say so."""
    if "M" not in cascade.shapes.values() or analyze_passes(cascade).passes == 1:
        return None
    from einsum_cascade.analysis.footprint import live_footprint

    return live_footprint(cascade, analyze_passes(cascade))


def search_mapping(cascade: Cascade, arch: SpatialArch, shapes: dict[str, int], objective: str,
                   settings: SearchSettings, progress: bool = True, use_cache: bool = True) -> dict:
    """The search's summary (`cascade map --json`): the best mapping as YAML, its metrics and the bounds."""
    return search_best(cascade, arch, shapes, objective, settings, progress, use_cache)[0]


def search_best(cascade: Cascade, arch: SpatialArch, shapes: dict[str, int], objective: str,
                settings: SearchSettings, progress: bool = True,
                use_cache: bool = True) -> tuple[dict, Mapping, SpatialReport | None]:
    """(summary, best Mapping, its report at `shapes`); a cached search has its mapping parsed from the cached
    YAML and no report (None)."""
    refused = cascade.scan_refused("spatial cost model")
    if refused:  # before a search whose every candidate would be refused for it
        raise SpecError(refused, source=cascade.source)
    key = cache.cache_key(CACHE_VERSION, cascade.text, repr(arch), sorted(shapes.items()), objective, settings)
    if use_cache and (hit := cache.load(key)):
        hit["cached"] = True
        return hit, parse_mapping(hit["mapping_yaml"], "<cached search>"), None
    space = SpatialMappingSpace(cascade, arch, shapes)
    if not space.structures and (lacking := space.unsupported()):
        raise SpecError(f"no mapping of {cascade.name} on {arch.name} can exist: {' | '.join(lacking)}. Give an "
                        "array the operator, or compose it from ones it has (`composed_of` in the architecture "
                        "file, as exp is composed on FuseMax's arrays)", key="--cascade")
    cost = SpatialCost(space, objective)
    start = time.perf_counter()
    structures = space.dimensions[0]
    if not (settings.evaluations and settings.evaluations < space.size // 2):  # pays off when much is searched
        cost.canonicalize()  # one structure per distinct loop nest (its lowering is reused by the search)
    canonical_s = time.perf_counter() - start
    result = search(space, cost, settings, progress)
    seconds = canonical_s + result.seconds  # the figures count the whole search, canonicalization included
    if result.best is None or not np.isfinite(result.best_value):
        kind = CapacityRejected if result.binding_constraint() == OVERFLOW else SpecError
        raise kind(f"no legal mapping of {cascade.name} on {arch.name} for {shapes} among "
                   f"{result.evaluated} candidates; binding constraint: {result.binding_constraint()}")
    mapping = space.decode(result.best)
    report = simulate_family(cascade, arch, mapping, shapes, design="searched")
    metrics = {"design": "searched", "latency_s": report.latency_s, "energy_pj": report.energy_pj,
               "dram_bytes": report.dram_bytes, "util_2d": report.util_2d, "util_1d": report.util_1d,
               "area_mm2": report.area_mm2, "bound": report.bound}
    value = {
        "cascade": cascade.name, "arch": arch.name, "shapes": shapes, "objective": objective,
        "best": metrics, "mapping_yaml": mapping_to_yaml(mapping, header=f"found by cascade map ({result.strategy}, "
                                                                     f"seed {settings.seed})"),
        "mapping_description": mapping.description, "evaluated": result.evaluated, "legal": result.legal,
        "pruned": result.pruned, "duplicates": result.duplicates,
        "candidates_per_s": result.legal / max(seconds, 1e-9), "seconds": seconds,
        "time_to_best_s": canonical_s + (result.history[-1]["seconds"] if result.history else 0.0),
        "strategy": result.strategy, "space_size": space.size, "structures": space.dimensions[0],
        "structures_merged": structures - space.dimensions[0], "history": result.history,
        "rejections": dict(result.rejections.most_common(5)), "explanation": explain(cascade, arch, shapes, report),
        "wall_s": time.perf_counter() - start, "cached": False,
    }
    if notes := [n for n in (undeclared_density_note(cascade.masks), padding_note(report),
                             *nonlinear_before_reduction(cascade)) if n]:
        value["note"] = "; ".join(notes)
    if use_cache:
        cache.store(key, value)
    return value, mapping, report
