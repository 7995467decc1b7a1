"""The dependency graph of a cascade (tensors as nodes, one edge per operand use) and its DOT text."""

from __future__ import annotations

import networkx as nx

from einsum_cascade.model import Cascade


def dependency_graph(cascade: Cascade) -> nx.DiGraph:
    """Nodes are tensors (`kind` = input or einsum); an edge X -> Y means Y's Einsum reads X."""
    graph = nx.DiGraph(name=cascade.name)
    for ref in cascade.inputs:
        graph.add_node(ref.name, kind="input", text=str(ref))
    for einsum in cascade.einsums:
        graph.add_node(einsum.name, kind="einsum", text=einsum.text, line=einsum.line)
    for einsum in cascade.einsums:
        for source in einsum.input_names:
            graph.add_edge(source, einsum.name, recurrent=source == einsum.name)
    return graph


def to_dot(graph: nx.DiGraph, pass_of: dict[str, int] | None = None) -> str:
    """Graphviz text; Einsums are labelled with the pass they run in, inputs drawn as boxes."""
    lines = [f'digraph "{graph.graph.get("name", "cascade")}" {{', "  rankdir=LR;"]
    for node, data in graph.nodes(data=True):
        if data["kind"] == "input":
            lines.append(f'  "{node}" [shape=box];')
        else:
            label = node if not pass_of else f"{node}\\npass {pass_of.get(node, 0)}"
            lines.append(f'  "{node}" [label="{label}"];')
    for source, target, data in graph.edges(data=True):
        style = " [style=dashed]" if data.get("recurrent") else ""
        lines.append(f'  "{source}" -> "{target}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"
