"""Analyses of a cascade that need no hardware: dependency graph, passes, footprint, operation counts.

Names are loaded from their submodules on first use, so importing the pass analysis does not load sympy
(the footprint and operation counts are symbolic)."""

from importlib import import_module

_HOMES = {"Footprint": "footprint", "live_footprint": "footprint", "dependency_graph": "graph", "to_dot": "graph",
          "OpCounts": "op_counts", "operation_counts": "op_counts", "PassAnalysis": "passes",
          "analyze_passes": "passes"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
