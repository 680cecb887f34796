"""The in-process executor: every node of the graph, in topological order, one frame at a time.

It is the reference the multiprocess runtime must match frame for frame (`nodegraph run
--sequential`), and the simplest way to run a graph from Python.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import InvalidInput
from .execution import call_node, call_source, close_nodes
from .graph import Graph
from .node import Node, StreamInfo
from .registry import Registry, default_registry
from .stats import NodeStats, RunReport

ProgressCallback = Callable[[int, int | None, float], None]  # frames done, total or None, elapsed s


def open_nodes(graph: Graph, registry: Registry) -> dict[str, Node]:
    """Validate the graph, instantiate every node and run the sources' setup first, so the
    stream's fps and length are known to the other nodes' setup. Raises InvalidInput
    with every problem when the graph is not runnable; closes what it opened on failure."""
    problems = graph.validate(registry)
    if problems:
        raise InvalidInput("the graph is not valid:\n  " + "\n  ".join(map(str, problems)))
    order = graph.topological_order()
    nodes = {node_id: graph.instantiate(node_id, registry) for node_id in order}
    opened: list[Node] = []
    try:
        sources = [n for n in nodes.values() if not n.inputs]
        for node in sources:
            node.setup()
            opened.append(node)
        stream = next((s.stream_info() for s in sources if s.stream_info().fps), None) or StreamInfo()
        lengths = [s.length() for s in sources if s.length() is not None]
        stream = StreamInfo(stream.fps, min(lengths) if lengths else None, stream.media)
        for node in nodes.values():
            node.stream = stream
            if node.inputs:
                node.setup()
                opened.append(node)
    except BaseException:
        close_nodes(opened)
        raise
    return nodes


class SequentialRunner:
    """Runs a graph in the calling thread. `stop()`, `set_param()` and `preview()` may be called
    from other threads (the editor does)."""

    def __init__(self, graph: Graph, registry: Registry | None = None, *, frames: int | None = None,
                 mode: str = "lossless"):
        self.graph = graph
        self.registry = registry or default_registry()
        self.max_frames = frames
        self.mode = mode
        self.stats = {node_id: NodeStats() for node_id in graph.nodes}
        self._latest: dict[str, dict[str, Any]] = {}
        self._nodes: dict[str, Node] = {}
        self._edits: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self.report = RunReport(mode="sequential")

    def stop(self) -> None:
        self._stop.set()

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Queue a live param change; it is applied between two frames."""
        self._edits.put((node_id, name, value))

    def preview(self, node_id: str):
        """The node's `preview()` of its latest output, or None before its first frame."""
        node, latest = self._nodes.get(node_id), self._latest.get(node_id)
        if node is None or latest is None:
            return None
        return node.preview(latest)

    def _apply_edits(self) -> None:
        while True:
            try:
                node_id, name, value = self._edits.get_nowait()
            except queue.Empty:
                return
            try:
                self._nodes[node_id].set_param(name, value)
            except InvalidInput as e:
                self.stats[node_id].record_error(str(e))

    def run(self, progress: ProgressCallback | None = None) -> RunReport:
        report = self.report
        self._nodes = open_nodes(self.graph, self.registry)
        nodes = self._nodes
        order = list(nodes)
        inputs_of = {node_id: self.graph.links_into(node_id) for node_id in order}
        total = nodes[order[0]].stream.frames
        if self.max_frames is not None:
            total = min(total, self.max_frames) if total is not None else self.max_frames
        start = time.monotonic()
        try:
            frame_id = 0
            while not self._stop.is_set() and (self.max_frames is None or frame_id < self.max_frames):
                self._apply_edits()
                if not self._run_frame(frame_id, nodes, order, inputs_of):
                    break
                frame_id += 1
                report.frames = frame_id
                if progress:
                    progress(frame_id, total, time.monotonic() - start)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            report.elapsed_s = time.monotonic() - start
            failures = close_nodes(nodes.values())
            report.error = "; ".join(failures)
            report.nodes = {node_id: s.summary() for node_id, s in self.stats.items()}
        return report

    def _run_frame(self, frame_id: int, nodes, order, inputs_of) -> bool:
        values: dict[tuple[str, str], Any] = {}
        capture_time = None
        for node_id in order:
            node, stats = nodes[node_id], self.stats[node_id]
            if not node.inputs:
                outputs = call_source(node, frame_id, stats)
                if outputs is None:
                    return False
                capture_time = node.capture_time if capture_time is None else min(capture_time, node.capture_time)
            else:
                node.frame_id, node.capture_time = frame_id, capture_time
                inputs = {link.dst_port: values.get((link.src, link.src_port)) for link in inputs_of[node_id]}
                outputs = call_node(node, inputs, stats)
                if not node.outputs:
                    outputs = inputs  # a sink's preview shows what it received
                    self.report.latency_ms.append((time.monotonic() - capture_time) * 1000.0)
            for port, value in outputs.items():
                values[(node_id, port)] = value
            self._latest[node_id] = outputs
        return True
