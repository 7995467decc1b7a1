"""Analyses of a cascade that need no hardware: dependency graph, passes, footprint, operation counts."""

from einsum_cascade.analysis.footprint import Footprint, live_footprint
from einsum_cascade.analysis.graph import dependency_graph, to_dot
from einsum_cascade.analysis.op_counts import OpCounts, operation_counts
from einsum_cascade.analysis.passes import PassAnalysis, analyze_passes

__all__ = [
    "Footprint", "OpCounts", "PassAnalysis", "analyze_passes", "dependency_graph", "live_footprint",
    "operation_counts", "to_dot",
]
