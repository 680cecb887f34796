"""The user's process pins (a node's `process` in the preset): the groups of nodes that must share a process,
and every pin that cannot be honoured, each naming its node. The scheduler (`plan`) cuts its stages from the
groups; `Graph.validate` says the problems with the graph's others, so `nodegraph validate` and a refused run
list them before any plan is made."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from .errors import Problem


def pin_units(pins: Mapping[str, object], dag: nx.DiGraph,
              order: list[str]) -> tuple[list[frozenset], list[str | None], list[Problem]]:
    """(the groups of nodes that must share a process, in topological order; each one's pin or None; the
    pins' problems, the groups being empty when there are any). `pins`: node id -> its pin or None; `dag`:
    the graph, without cycles; `order`: its nodes in topological order. A node between two members of a
    group joins it, or the group's process would wait on itself; the unpinned sources run together, with
    a pinned source's process where there is one."""
    pin_of = {n: str(pins[n]) for n in order if pins.get(n) is not None}
    groups: dict[str | None, set[str]] = {}
    for node_id, pin in pin_of.items():
        groups.setdefault(pin, set()).add(node_id)
    sources = [n for n in order if dag.in_degree(n) == 0]
    if unpinned := [n for n in sources if n not in pin_of]:
        first_pinned = next((pin_of[n] for n in sources if n in pin_of), None)
        groups.setdefault(first_pinned, set()).update(unpinned)

    problems = []
    for pin, members in groups.items():
        while between := (set().union(*(nx.descendants(dag, m) for m in members))
                          & set().union(*(nx.ancestors(dag, m) for m in members))) - members:
            strays = sorted(n for n in between if n in pin_of and pin_of[n] != pin)
            for node_id in strays:
                inside = sorted(m for m in members if m in nx.ancestors(dag, node_id)
                                or m in nx.descendants(dag, node_id))
                problems.append(Problem(f"pinned to process {pin_of[node_id]!r} but lies between nodes "
                                        f"{', '.join(map(repr, inside))} of process {pin!r}; a process cannot "
                                        "wait on itself: change or clear one of the pins",
                                        node=node_id, field="process"))
            if strays:
                break
            members |= between
    owner: dict[str, tuple[str | None, frozenset]] = {}
    for pin, members in groups.items():
        for node_id in sorted(members):
            if node_id in owner:
                problems.append(Problem(f"must run in process {owner[node_id][0]!r} and in process {pin!r}, as "
                                        "it lies between nodes of each; change one of the pins",
                                        node=node_id, field="process"))
            else:
                owner[node_id] = (pin, frozenset(members))
    if problems:
        return [], [], problems

    unit_of = {n: owner[n][1] if n in owner else frozenset([n]) for n in order}
    condensed = nx.DiGraph()
    condensed.add_nodes_from(set(unit_of.values()))
    condensed.add_edges_from((unit_of[a], unit_of[b]) for a, b in dag.edges if unit_of[a] != unit_of[b])
    try:
        cycle = nx.find_cycle(condensed)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = " -> ".join(", ".join(sorted(unit)) for unit, _ in cycle)
        return [], [], [Problem(f"the process pins make processes wait on each other in a circle ({names}); "
                                "change the pins so data flows one way between processes",
                                node=min(cycle[0][0]), field="process")]
    index = {n: i for i, n in enumerate(order)}
    units = list(nx.lexicographical_topological_sort(condensed, key=lambda u: min(index[n] for n in u)))
    return units, [next((owner[n][0] for n in u if n in owner), None) for u in units], []
