"""Placing nodes that have no position: columns by topological depth (sources on the left)."""

from __future__ import annotations

import networkx as nx

from ..graph import Graph

COLUMN_WIDTH = 270  # a node is about 200 px wide with its thumbnail
ROW_HEIGHT = 290  # and about 250 px tall
MARGIN = 40


def depths(graph: Graph) -> dict[str, int]:
    """Each node's longest distance from a source; nodes on a cycle get the depth of their column's
    feeders or 0 (a graph being edited may be invalid for a while)."""
    dag = graph.digraph()
    if not nx.is_directed_acyclic_graph(dag):
        on_cycles = [(u, v) for cycle in nx.simple_cycles(dag)
                     for u, v in zip(cycle, cycle[1:] + cycle[:1], strict=True)]
        dag.remove_edges_from(on_cycles)
    depth: dict[str, int] = {}
    index = {node_id: i for i, node_id in enumerate(graph.nodes)}
    for node_id in nx.lexicographical_topological_sort(dag, key=index.__getitem__):
        depth[node_id] = max((depth[p] + 1 for p in dag.predecessors(node_id)), default=0)
    return depth


def auto_layout(graph: Graph, only_missing: bool = True) -> list[str]:
    """Give positions to the nodes that have none (or to all); returns the ids placed. Placed nodes
    go below any node that already has a position, so nothing overlaps."""
    todo = [n for n, spec in graph.nodes.items() if spec.pos is None or not only_missing]
    if not todo:
        return []
    depth = depths(graph)
    placed = [spec.pos for n, spec in graph.nodes.items() if spec.pos is not None and n not in todo]
    top = max((p[1] for p in placed), default=MARGIN - ROW_HEIGHT) + ROW_HEIGHT
    rows: dict[int, int] = {}
    for node_id in todo:
        column = depth.get(node_id, 0)
        row = rows.get(column, 0)
        rows[column] = row + 1
        graph.nodes[node_id].pos = (float(MARGIN + column * COLUMN_WIDTH), float(top + row * ROW_HEIGHT))
    return todo
