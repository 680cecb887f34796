"""The scheduler: a graph becomes an execution plan of stages (processes), the ring buffers
between them and a thread budget per stage.

1. Units: every node is a unit, except that nodes pinned to one process (`NodeSpec.process`)
   form one unit together with every node on a path between them, and the unpinned sources
   form one unit, so frame ids of all sources advance in lockstep (`pins.pin_units`).
2. The units, in topological order, are cut into contiguous stages (contiguous in a
   topological order, so stages never wait on each other in a circle) by a linear-partition
   dynamic programme that minimises the costliest stage: the pipeline's frame time. Each
   crossing port adds a transport cost to both of its stages. The fewest stages within
   a few percent of the best wins, so light nodes stay fused with their neighbours and heavy
   ones get their own process while there are cores for it.
3. Threads: one per stage, the spare cores to the costliest stages, so the stages together do
   not oversubscribe the machine.
4. Buffers: one ring per output port read by another stage; fan-out readers share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .errors import InvalidInput
from .graph import Graph
from .node import Node
from .pins import pin_units
from .registry import Registry, default_registry
from .threads import available_cores

HEAVY_MIN_MS = 10.0  # what a heavy node without a cost hint of its own is taken to cost
TRANSPORT_MS = 0.3  # one port crossing a process boundary, each side (copy, wake-up)
GOOD_ENOUGH = 1.05  # fewer stages win while their frame time is within 5% of the best


@dataclass(frozen=True)
class Stage:
    name: str
    nodes: tuple[str, ...]  # topological order
    threads: int
    cost_ms: float  # static estimate per frame, transport included
    pin: str | None = None  # the user's process pin, when one applies


@dataclass(frozen=True)
class Buffer:
    node: str
    port: str
    stage: str  # the stage that writes it
    readers: tuple[str, ...]  # the stages that read it, in plan order

    @property
    def name(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...]
    buffers: tuple[Buffer, ...]
    cores: int
    costs: dict  # node id -> ms per frame the plan assumed

    def stage_of(self, node_id: str) -> Stage:
        for stage in self.stages:
            if node_id in stage.nodes:
                return stage
        raise KeyError(node_id)

    @property
    def frame_ms(self) -> float:
        """The estimated time per frame of the costliest stage."""
        return max(stage.cost_ms for stage in self.stages)

    def to_json(self) -> dict:
        return {
            "cores": self.cores,
            "stages": [{"name": s.name, "nodes": list(s.nodes), "threads": s.threads,
                        "cost_ms": round(s.cost_ms, 2), "pin": s.pin} for s in self.stages],
            "buffers": [{"buffer": b.name, "writer": b.stage, "readers": list(b.readers)}
                        for b in self.buffers],
        }

    def __str__(self) -> str:
        threads = sum(s.threads for s in self.stages)
        lines = [f"{len(self.stages)} stage{'s' * (len(self.stages) != 1)} on {self.cores} "
                 f"core{'s' * (self.cores != 1)} ({threads} threads), about {self.frame_ms:.1f} ms per frame"]
        for s in self.stages:
            pin = f", pin {s.pin!r}" if s.pin is not None else ""
            nodes = ", ".join(f"{n} ({self.costs[n]:g} ms)" for n in s.nodes)
            lines.append(f"  stage {s.name}: {s.threads} thread{'s' * (s.threads != 1)}, "
                         f"~{s.cost_ms:.1f} ms{pin}: {nodes}")
        if self.buffers:
            lines.append("buffers:")
            lines += [f"  {b.name} ({b.stage}) -> {', '.join(b.readers)}" for b in self.buffers]
        return "\n".join(lines)


def node_cost(cls, params: dict) -> float:
    """The node's static cost with its `params` (those not given at their defaults)."""
    if cls.heavy and cls.cost_ms == Node.cost_ms:  # heavy, with no estimate of its own
        return HEAVY_MIN_MS
    return float(cls.estimated_cost_ms({**{name: p.default for name, p in cls.params.items()}, **params}))


def make_plan(graph: Graph, registry: Registry | None = None, cores: int | None = None) -> Plan:
    """Cut `graph` into stages for a machine with `cores` cores (default: those this process may use).
    Raises InvalidInput when the graph is not valid or its pins cannot be honoured."""
    registry = registry or default_registry()
    graph.check_valid(registry)
    cores = max(1, cores or available_cores())
    order = graph.topological_order()
    costs = {n: node_cost(registry.get(graph.nodes[n].type), graph.nodes[n].params) for n in order}
    dag = nx.DiGraph()
    dag.add_nodes_from(order)
    dag.add_edges_from((link.src, link.dst) for link in graph.links)

    units, pins, problems = pin_units({n: graph.nodes[n].process for n in order}, dag, order)
    if problems:  # check_valid says them first, with the graph's other problems
        raise InvalidInput("\n".join(map(str, problems)))
    cut = _partition(graph, units, pins, costs, cores)

    names = {}
    stages = []
    for i, (first, last) in enumerate(cut):
        nodes = tuple(n for n in order if any(n in u for u in units[first:last]))
        pin = next((pins[u] for u in range(first, last) if pins[u] is not None), None)
        stage = Stage(f"s{i}", nodes, 1, _segment_cost(graph, set(nodes), costs), pin)
        stages.append(stage)
        names.update(dict.fromkeys(nodes, stage.name))
    stages = _budget_threads(stages, cores)

    buffers = []
    for node_id in order:
        for port in dict.fromkeys(link.src_port for link in graph.links_from(node_id)):
            readers = {names[link.dst] for link in graph.links_from(node_id)
                       if link.src_port == port and names[link.dst] != names[node_id]}
            if readers:
                buffers.append(Buffer(node_id, port, names[node_id],
                                      tuple(s.name for s in stages if s.name in readers)))
    return Plan(tuple(stages), tuple(buffers), cores, costs)


def _segment_cost(graph: Graph, nodes: set, costs: dict) -> float:
    crossing_out = {(link.src, link.src_port) for link in graph.links if link.src in nodes and link.dst not in nodes}
    crossing_in = {(link.src, link.src_port) for link in graph.links if link.dst in nodes and link.src not in nodes}
    return sum(costs[n] for n in nodes) + TRANSPORT_MS * (len(crossing_out) + len(crossing_in))


def _partition(graph: Graph, units: list, pins: list, costs: dict, cores: int) -> list[tuple[int, int]]:
    """Contiguous cuts [(first, last), ...] of `units` minimising the costliest segment."""
    n = len(units)
    distinct_pins = len({p for p in pins if p is not None})
    most = min(n, max(cores, distinct_pins))
    inf = float("inf")

    def cost(i: int, j: int) -> float:
        segment_pins = {p for p in pins[i:j] if p is not None}
        if len(segment_pins) > 1:
            return inf
        return _segment_cost(graph, set().union(*units[i:j]), costs)

    seg = [[cost(i, j) if j > i else inf for j in range(n + 1)] for i in range(n + 1)]
    # best[k][j]: the least frame time of units[:j] cut into k segments; cut_at: where the last begins
    best = [[inf] * (n + 1) for _ in range(most + 1)]
    cut_at = [[0] * (n + 1) for _ in range(most + 1)]
    best[0][0] = 0.0
    for k in range(1, most + 1):
        for j in range(1, n + 1):
            for i in range(k - 1, j):
                value = max(best[k - 1][i], seg[i][j])
                if value < best[k][j]:
                    best[k][j], cut_at[k][j] = value, i
    optimum = min(best[k][n] for k in range(1, most + 1))
    if optimum == inf:
        raise InvalidInput(f"the graph's {distinct_pins} process pins cannot be honoured")
    k = next(k for k in range(1, most + 1) if best[k][n] <= optimum * GOOD_ENOUGH)
    cuts, j = [], n
    while k:
        i = cut_at[k][j]
        cuts.append((i, j))
        j, k = i, k - 1
    return cuts[::-1]


def _budget_threads(stages: list[Stage], cores: int) -> list[Stage]:
    """One thread per stage; the spare cores go, one by one, to the stage with the most work per thread."""
    threads = [1] * len(stages)
    for _ in range(cores - len(stages)):
        busiest = max(range(len(stages)), key=lambda i: stages[i].cost_ms / threads[i])
        threads[busiest] += 1
    return [Stage(s.name, s.nodes, t, s.cost_ms, s.pin) for s, t in zip(stages, threads, strict=True)]
