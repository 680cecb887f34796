"""Auto layout: a layered left-to-right drawing of the graph (Sugiyama style, from networkx).

Each node goes in the column of its longest distance from a source. A link that spans several
columns reserves a slot in each column it crosses (one per source node), so its wire runs through
a gap instead of behind a node. Within a column, nodes are ordered by the mean place of their
neighbours (a few sweeps each way), which removes most crossings; then each column is stacked
top to bottom and centred on the same line.
"""

from __future__ import annotations

import itertools

import networkx as nx

from ..graph import Graph

MARGIN = 40
COLUMN_GAP = 50  # between the widest node of a column and the next column
ROW_GAP = 30  # between nodes of a column
BAND_GAP = 40  # between bands of columns
WIRE_SLOT = 36  # the height a long wire reserves where it crosses a column
ONE_BAND_SCALE = 0.8  # a graph this much smaller than life fits its view: it stays in one band
SWEEPS = 4
MOST_BANDS = 4
NODE_WIDTH = 200  # a node is about this wide with its thumbnail,
BODY_HEIGHT = 215  # this tall without its ports (title, thumbnail, stats),
PORT_HEIGHT = 22  # and each port adds a row

Size = tuple[float, float]


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


def estimated_size(graph: Graph, node_id: str) -> Size:
    """A node's drawn size before it is drawn, from the ports its links use."""
    ports = {("in", link.dst_port) for link in graph.links_into(node_id)}
    ports |= {("out", link.src_port) for link in graph.links_from(node_id)}
    return float(NODE_WIDTH), float(BODY_HEIGHT + PORT_HEIGHT * max(1, len(ports)))


def columns(graph: Graph) -> list[list[str]]:
    """The nodes by column, each column in the order that crosses the fewest wires; the wire
    slots are the entries starting with a NUL character."""
    depth = depths(graph)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node_id in graph.nodes:
        layers[depth[node_id]].append(node_id)
    chain = nx.DiGraph()  # the links between neighbouring columns, through the wire slots
    chain.add_nodes_from(graph.nodes)
    for src in graph.nodes:
        targets = {link.dst for link in graph.links_from(src)}
        far = max((depth[t] for t in targets), default=depth[src])
        previous = src
        for column in range(depth[src] + 1, far):
            slot = f"\0{src}\0{column}"
            layers[column].append(slot)
            chain.add_edge(previous, slot)
            previous = slot
        for target in targets:
            if depth[target] > depth[src]:
                chain.add_edge(previous if depth[target] > depth[src] + 1 else src, target)
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        order = range(1, len(layers)) if forward else range(len(layers) - 2, -1, -1)
        for i in order:
            neighbours = layers[i - 1] if forward else layers[i + 1]
            place = {n: k for k, n in enumerate(neighbours)}
            linked = chain.predecessors if forward else chain.successors

            current = {n: k for k, n in enumerate(layers[i])}

            def centre(node, place=place, linked=linked, current=current):
                spots = [place[n] for n in linked(node) if n in place]
                return sum(spots) / len(spots) if spots else current[node]

            layers[i].sort(key=centre)
    return layers


def auto_layout(graph: Graph, only_missing: bool = True, sizes: dict[str, Size] | None = None,
                view: tuple[float, float] | None = None, corner: float = 0.0) -> list[str]:
    """Give positions to the nodes that have none (or to all); returns the ids placed. `sizes`:
    the nodes' drawn sizes where known (else estimated). `view`: the (width, height) it should
    fill; a graph too wide for it is cut into bands of columns stacked top to bottom, as many as
    show it largest (`corner`: see `best_bands`). Nodes placed while others keep their place go below those."""
    todo = [n for n, spec in graph.nodes.items() if spec.pos is None or not only_missing]
    if not todo:
        return []
    size = {n: (sizes or {}).get(n) or estimated_size(graph, n) for n in graph.nodes}
    layers = columns(graph)
    widths = [max((size[n][0] for n in layer if n in size), default=0.0) for layer in layers]
    heights = [sum(size[n][1] if n in size else WIRE_SLOT for n in layer) + ROW_GAP * (len(layer) - 1)
               for layer in layers]
    bands = best_bands(widths, heights, view, corner)
    kept = [(spec.pos, size[n]) for n, spec in graph.nodes.items() if spec.pos is not None and n not in todo]
    top = max((pos[1] + h for pos, (_, h) in kept), default=MARGIN - ROW_GAP * 2) + ROW_GAP * 2
    for band in bands:
        tallest = max(heights[i] for i in band)
        x = float(MARGIN)
        for i in band:
            y = top + (tallest - heights[i]) / 2
            for node_id in layers[i]:
                if node_id in size:
                    if node_id in todo:
                        graph.nodes[node_id].pos = (round(x, 1), round(y, 1))
                    y += size[node_id][1] + ROW_GAP
                else:
                    y += WIRE_SLOT + ROW_GAP
            x += widths[i] + COLUMN_GAP
        top += tallest + BAND_GAP
    return todo


def cuts(count: int, most: int) -> list[list[range]]:
    """Every way to cut `count` columns into at most `most` bands of two columns or more (a lone
    node under a long row looks broken), fewest bands first."""
    found = [[range(0, count)]]
    for bands in range(2, min(most, count // 2) + 1):
        for inner in itertools.combinations(range(2, count - 1), bands - 1):
            edges = [0, *inner, count]
            if all(b - a >= 2 for a, b in itertools.pairwise(edges)):
                found.append([range(a, b) for a, b in itertools.pairwise(edges)])
    return found


def best_bands(widths: list[float], heights: list[float], view: tuple[float, float] | None,
               corner: float = 0.0) -> list[range]:
    """The columns of each band: all in one where that fits `view` at ONE_BAND_SCALE or more, else
    the cut that lets the drawing, scaled to fit the view, be largest (ties: fewer bands, the more
    even, the shorter last). `corner`: the share of the view's width and height, bottom right, to keep clear."""
    if view is None or len(widths) < 4:
        return [range(0, len(widths))]

    def scale(bands: list[range]) -> float:
        band_widths = [sum(widths[i] + COLUMN_GAP for i in band) - COLUMN_GAP for band in bands]
        height = sum(max(heights[i] for i in band) for band in bands) + BAND_GAP * (len(bands) - 1)
        fit = min(view[0] / max(band_widths), view[1] / height)
        if corner:  # the bottom band narrow enough, or the whole drawing short enough, to leave the corner
            fit = min(fit, max(view[0] * (1 - corner) / band_widths[-1], view[1] * (1 - corner) / height))
        return fit

    options = cuts(len(widths), MOST_BANDS)
    if scale(options[0]) >= ONE_BAND_SCALE:
        return options[0]
    return max(options, key=lambda bands: (round(scale(bands), 3), -len(bands),
                                           -max(len(b) for b in bands), -len(bands[-1])))
