"""No import circles anywhere in the project, lazy imports inside functions included (grimp reads them all);
the layer contracts themselves are import-linter's (`make lint`, pyproject.toml)."""

from __future__ import annotations

import grimp
import networkx as nx

PACKAGES = ("einsum_cascade", "arch_models", "mappers", "simulator", "workloads")


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES)
    edges = nx.DiGraph()
    for module in graph.modules:
        edges.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    circles = [sorted(group) for group in nx.strongly_connected_components(edges) if len(group) > 1]
    assert circles == []
