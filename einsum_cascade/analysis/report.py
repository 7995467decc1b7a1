"""Plain-data reports of the analyses (what `cascade analyze` prints and writes as JSON)."""

from __future__ import annotations

import sympy

from einsum_cascade.analysis.footprint import live_footprint
from einsum_cascade.analysis.graph import dependency_graph
from einsum_cascade.analysis.op_counts import operation_counts
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.analysis.semantics import nonlinear_before_reduction
from einsum_cascade.analysis.symbols import TYPICAL_SHAPES, check_densities, evaluate
from einsum_cascade.errors import SpecError
from einsum_cascade.model import Cascade

TAXONOMY_KINDS = ("mul", "add", "sub", "max", "exp", "div")


def _text(expr) -> str:
    return str(sympy.sympify(expr))


def analysis_report(cascade: Cascade, rank: str = "M", shapes: dict[str, int] | None = None) -> dict:
    if shapes:
        cascade.check_aligned(shapes)
    passes = analyze_passes(cascade, rank)
    footprint = live_footprint(cascade, passes)
    counts = operation_counts(cascade)
    graph = dependency_graph(cascade)
    report = {
        "cascade": cascade.name,
        "source": cascade.source,
        "description": cascade.description,
        "rank": passes.symbol,
        "passes": passes.passes,
        "pass_chain": passes.chain,
        "pass_steps": [
            {"pass": s.number, "reduction": s.reduction, "consumer": s.consumer, "traverses": list(s.traverses),
             "rereads": list(s.rereads)} for s in passes.steps
        ],
        "einsum_pass": {e.name: passes.pass_of[e.name] for e in cascade.einsums},
        "graph": {"nodes": list(graph.nodes), "edges": [list(edge) for edge in graph.edges]},
        "footprint": {
            "per_query": _text(footprint.per_query),
            "order": footprint.order,
            "per_pass": {str(n): _text(e) for n, e in footprint.per_pass.items()},
            "tensors": {str(n): {t: {"elements": _text(size), "why": why} for t, (size, why) in live.items()}
                        for n, live in footprint.tensors.items()},
        },
        "op_counts": {
            "instances": _text(counts.instances),
            "per_einsum": {e: {k: _text(v) for k, v in kinds.items()} for e, kinds in counts.per_einsum.items()},
            "by_kind": {k: _text(v) for k, v in counts.by_kind.items()},
            "per_query_key_pair": {k: _text(v) for k, v in counts.per_query_key_pair(cascade).items()},
            "masks_without_density": list(counts.unmasked),
        },
    }
    report["notes"] = nonlinear_before_reduction(cascade)
    if shapes:
        report["shapes"] = dict(shapes)
        report["evaluated"] = _evaluated(cascade, counts, footprint, shapes)
    return report


def _evaluated(cascade: Cascade, counts, footprint, shapes: dict[str, int]) -> dict:
    needed = {str(s) for kinds in counts.per_einsum.values() for e in kinds.values() for s in e.free_symbols}
    needed |= {str(s) for s in footprint.per_query.free_symbols}
    missing = sorted(needed - set(shapes) - set(cascade.params) - {cascade.shapes[p.outer] for p in cascade.partitions})
    if missing:
        raise SpecError(f"no value for {', '.join(missing)}: add it to --shape (e.g. {missing[0]}=64)", key="--shape")
    check_densities(cascade, shapes)  # the counts are priced by the densities: one outside (0, 1] is an error
    per_einsum = {e: {k: evaluate(v, cascade, shapes) for k, v in kinds.items()}
                  for e, kinds in counts.per_einsum.items()}
    by_kind = {k: evaluate(v, cascade, shapes) for k, v in counts.by_kind.items()}
    evaluated = {"per_einsum": per_einsum, "by_kind": by_kind,
                 "footprint_per_query": evaluate(footprint.per_query, cascade, shapes)}
    instance_symbols = {str(s) for s in counts.instances.free_symbols}
    if instance_symbols <= set(shapes):
        evaluated["total_by_kind"] = {k: evaluate(counts.total(k), cascade, shapes) for k in counts.by_kind}
    return evaluated


def taxonomy_row(cascade: Cascade, rank: str = "M") -> dict:
    """One row of the library taxonomy: passes, footprint, operations per query-key pair at typical shapes."""
    passes = analyze_passes(cascade, rank)
    footprint = live_footprint(cascade, passes)
    per_pair = operation_counts(cascade).per_query_key_pair(cascade)
    return {
        "cascade": cascade.name,
        "passes": passes.passes,
        "pass_chain": passes.chain,
        "footprint_per_query": _text(footprint.per_query),
        "footprint_order": footprint.order,
        "footprint_elements_typical": evaluate(footprint.per_query, cascade, TYPICAL_SHAPES),
        "ops_per_pair": {k: _text(v) for k, v in per_pair.items()},
        "ops_per_pair_typical": {k: evaluate(v, cascade, TYPICAL_SHAPES) for k, v in per_pair.items()},
    }
