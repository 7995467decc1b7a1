"""Dependency groups of a cascade's Einsums: the strongly connected components of "is an input of" (a
recurrence is one group of Einsums that depend on each other), in a stable topological order.

Tarjan's algorithm (SIAM J. Comput. 1, 1972), iterative, written out because importing networkx costs about
0.14 s of every command's start-up and this is the one graph algorithm every command needs; the analysis
keeps networkx for what it draws (`analysis/graph.py`), and the tests check these groups against networkx.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


def dependency_groups(names: list[str], inputs: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Groups of `names` in an order where every group comes after the groups it reads; among groups ready at
    once, the one whose first member comes first in `names` goes first. Members keep the order of `names`.
    `inputs[name]` lists what `name` reads; names outside `names` (the cascade's inputs) are ignored."""
    position = {name: n for n, name in enumerate(names)}
    readers: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for source in inputs.get(name, ()):
            if source in position:
                readers[source].append(name)
    groups = [sorted(group, key=position.get) for group in _components(names, readers)]
    group_of = {name: g for g, group in enumerate(groups) for name in group}
    waiting = [0] * len(groups)
    after: list[set[int]] = [set() for _ in groups]
    for source, targets in readers.items():
        for target in targets:
            if group_of[source] != group_of[target] and group_of[target] not in after[group_of[source]]:
                after[group_of[source]].add(group_of[target])
                waiting[group_of[target]] += 1
    ready = [(position[groups[g][0]], g) for g in range(len(groups)) if waiting[g] == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, g = heapq.heappop(ready)
        ordered.append(groups[g])
        for nxt in after[g]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, (position[groups[nxt][0]], nxt))
    return ordered


def is_recurrence(group: list[str], inputs: Mapping[str, Iterable[str]]) -> bool:
    """A group of several Einsums, or one that reads its own output."""
    return len(group) > 1 or group[0] in inputs.get(group[0], ())


def _components(names: list[str], readers: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in names:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(readers[root]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(readers[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components
