"""The dependency groups against networkx (an independent implementation) on random graphs: the same strongly
connected components, each group after every group it reads, and networkx's lexicographic order of the
condensation with the first member as the key."""

import random

import networkx as nx
import pytest

from einsum_cascade.dependency import dependency_groups, is_recurrence


def _random_graph(seed: int):
    rng = random.Random(seed)
    names = [f"T{n}" for n in range(rng.randint(1, 14))]
    inputs = {name: [rng.choice(names) for _ in range(rng.randint(0, 3))] + ["INPUT"] for name in names}
    return names, inputs


def _networkx_groups(names, inputs):
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    graph.add_edges_from((source, name) for name in names for source in inputs[name] if source in graph)
    condensed = nx.condensation(graph)
    members: dict[int, list[str]] = {}
    for name, group in condensed.graph["mapping"].items():
        members.setdefault(group, []).append(name)
    position = {name: n for n, name in enumerate(names)}
    order = nx.lexicographical_topological_sort(condensed, key=lambda g: min(position[n] for n in members[g]))
    return [sorted(members[g], key=position.get) for g in order], graph


@pytest.mark.parametrize("seed", range(200))
def test_groups_equal_networkx_condensation_in_lexicographic_order(seed):
    names, inputs = _random_graph(seed)
    expected, graph = _networkx_groups(names, inputs)
    groups = dependency_groups(names, inputs)
    assert groups == expected
    for group in groups:
        cyclic = len(group) > 1 or graph.has_edge(group[0], group[0])
        assert is_recurrence(group, inputs) == cyclic


def test_a_chain_with_a_two_member_recurrence_by_hand():
    # A -> B <-> C -> D, and E reads nothing: E is ready from the start, but every group that becomes ready
    # before it is taken has an earlier first member in `names`
    inputs = {"A": ["X"], "B": ["A", "C"], "C": ["B"], "D": ["C"], "E": []}
    assert dependency_groups(["A", "B", "C", "D", "E"], inputs) == [["A"], ["B", "C"], ["D"], ["E"]]
    assert dependency_groups(["E", "D", "C", "B", "A"], inputs) == [["E"], ["A"], ["C", "B"], ["D"]]
