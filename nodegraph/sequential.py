"""The in-process executor: every node of the graph, in topological order, one frame at a time.

It is the reference the multiprocess runtime must match frame for frame (`nodegraph run
--sequential`), and the simplest way to run a graph from Python.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from .busy_watch import BUSY_WARNING_S, watching
from .errors import RunFailed, Stopped
from .execution import (
    LATE_STOP,
    STATS_EVERY_S,
    Previews,
    RecentRate,
    close_nodes,
    frame_total,
    stop_signals,
    stream_of,
    timed_setup,
)
from .graph import Graph
from .node import Node
from .output_rescue import rescue_partials
from .registry import Registry, default_registry
from .runner import ProgressCallback, RunSnapshot, StageSnapshot, node_snapshots, run_snapshot
from .setup_refusals import raise_refusals, set_up_each
from .stats import NodeStats, RunReport
from .step import Step, apply_edit, read_sources, run_step

log = logging.getLogger("nodegraph")

STAGE = "main"  # the one "stage" an in-process run has, in snapshot() and pids()
STOP_SEEN_S = 0.05  # how soon a node's wait (`_sleep`) sees a stop


def open_nodes(graph: Graph, registry: Registry, stats: dict[str, NodeStats] | None = None) -> dict[str, Node]:
    """Validate the graph, instantiate every node and run the sources' setup first, so the
    stream's fps and length are known to the other nodes' setup; `stats` gets each setup's time.
    Raises InvalidInput with every problem when the graph is not runnable; closes what it opened on
    failure."""
    graph.check_valid(registry)
    order = graph.topological_order()
    nodes = {node_id: graph.instantiate(node_id, registry) for node_id in order}
    opened: list[Node] = []
    refusals: list[tuple[str, str | None]] = []

    def set_up(node: Node) -> None:
        timed_setup(node, stats[node.id] if stats else NodeStats())
        opened.append(node)

    try:
        set_up_each([n for n in nodes.values() if not n.inputs], set_up, refusals)
        stream = stream_of(s.stream_info() for s in opened)
        for node in nodes.values():
            node.stream = stream
        set_up_each([n for n in nodes.values() if n.inputs], set_up, refusals)
        raise_refusals(refusals, order)
    except BaseException:
        close_nodes(opened)
        raise
    return nodes


class SequentialRunner:
    """Runs a graph in the calling thread, every frame (no realtime mode: that needs the
    multiprocess runtime). `stop()`, `set_param()`, `preview()`, `snapshot()` and `pids()` may
    be called from other threads (the editor does)."""

    def __init__(self, graph: Graph, registry: Registry | None = None, *, frames: int | None = None,
                 busy_warning_s: float = BUSY_WARNING_S):
        self.graph = graph
        self.registry = registry or default_registry()
        self.max_frames = frames
        self.busy_warning_s = busy_warning_s  # a node on one frame this long is said (busy_watch)
        self.stats = {node_id: NodeStats() for node_id in graph.nodes}
        self._latest: dict[str, tuple[dict[str, Any], bool]] = {}  # node id -> (what it showed, it ran)
        self._steps: dict[str, Step] = {}
        self._edits: queue.SimpleQueue = queue.SimpleQueue()
        # a plain flag, not a threading.Event: a signal handler sets it, and a second signal handled inside
        # the first one's Event.set() waited forever for the lock the first held
        self._stopping = False
        self._cut = False  # a second signal stopped the run at once
        self._lock = threading.Lock()  # what the other threads read: pictures, published stats
        self._previews = Previews()
        self._wanted: set[str] = set()  # the nodes whose previews were asked for
        self._pictures: dict[str, Any] = {}
        self._summaries: dict[str, dict] = {}
        self._rate = RecentRate()
        self._begun = 0.0  # run() called: set-up starts
        self._started: float | None = None
        self._ended: float | None = None
        self.report = RunReport(mode="sequential")
        self._complete = False  # the sources ran out, or the frame limit came

    def stop(self, now: bool = False) -> None:
        """Stop after the frame under way (`now` makes no difference: a node is never interrupted)."""
        self._stopping = True

    def _on_signal(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: stop after this frame and close the outputs; a second one: stop at once (while
        frames run, the outputs are still closed; while they close, they are cut short); any more: nothing more
        (raised again, it landed anywhere: in the handlers' restore, in the interpreter's exit)."""
        if self._cut:
            return
        if self._stopping:
            self._cut = True
            raise KeyboardInterrupt
        self.report.interrupted = True
        self._stopping = True

    def _sleep(self, seconds: float) -> None:
        """A node's wait (`Node.stoppable_sleep`), which a stop ends (Stopped): in short sleeps, as the flag is
        set by a signal handler or by another thread (the editor's), and neither can wake a sleep."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, STOP_SEEN_S))
        if self._stopping:
            raise Stopped()

    def _interrupt_setup(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM while the nodes set up: what opened is closed, and the run ends interrupted (a SIGTERM
        killed it there, leaving its outputs' locks and temporary files)."""
        self.report.interrupted = True
        raise KeyboardInterrupt

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Queue a live param change; it is applied between two frames."""
        self._edits.put((node_id, name, value))

    def preview(self, node_id: str):
        """The node's latest preview picture, or None before there is one. While running, pictures
        of the nodes asked for are made in the run thread at up to PREVIEW_FPS; after the run, the
        picture of the last frame."""
        with self._lock:
            self._wanted.add(node_id)
            if node_id not in self._pictures and self._ended is not None and node_id in self._latest:
                self._pictures[node_id] = self._previews.make(self._steps[node_id].node, *self._latest[node_id])
            return self._pictures.get(node_id)

    def pids(self) -> dict[str, int]:
        return {STAGE: os.getpid()}

    def snapshot(self) -> RunSnapshot:
        """Live stats, as `Runtime.snapshot()` gives them (one stage: this process)."""
        with self._lock:
            summaries, fps = dict(self._summaries), self._rate.fps()
        running = self._started is not None and self._ended is None
        stage = StageSnapshot(tuple(self.graph.topological_order()),
                              "running" if running else ("done" if self._ended else "new"), 0, os.getpid())
        return run_snapshot(started=self._started, ended=self._ended, mode=self.report.mode,
                            frames=self.report.frames, fps=fps, report=self.report,
                            nodes=node_snapshots(STAGE, summaries.items()), stages={STAGE: stage})

    def _publish(self, now: float) -> None:
        summaries = {node_id: s.summary() for node_id, s in self.stats.items()}
        with self._lock:
            self._summaries = summaries
            self._rate.add(now, self.report.frames)

    def _apply_edits(self) -> None:
        while True:
            try:
                node_id, name, value = self._edits.get_nowait()
            except queue.Empty:
                return
            apply_edit(self._steps[node_id], name, value)

    def run(self, progress: ProgressCallback | None = None) -> RunReport:
        report = self.report
        self._begun = time.monotonic()
        with stop_signals(self._interrupt_setup):  # a SIGTERM (a service's stop) during a long set-up, as a Ctrl-C
            nodes = open_nodes(self.graph, self.registry, self.stats)
        log.info("started: set up in %.1f s", time.monotonic() - self._begun)
        self._steps = {node_id: Step(node_id, node, self.stats[node_id],
                                     tuple((link.dst_port, link.src, link.src_port)
                                           for link in self.graph.links_into(node_id)))
                       for node_id, node in nodes.items()}
        for node in nodes.values():
            node.stoppable_sleep = self._sleep
        total = frame_total(next(iter(nodes.values())).stream, self.max_frames)
        start = self._started = time.monotonic()
        try:
            with stop_signals(self._on_signal), watching(self.busy_warning_s):
                self._run_frames(total, progress)
        except KeyboardInterrupt:
            report.interrupted = True
        except Stopped:  # a paced source's wait, ended by the stop
            pass
        except RunFailed as e:  # in the report too, as the multiprocess run's: the command's summary says failed
            report.error, report.failed_node = str(e), e.node
            raise
        finally:
            report.elapsed_s = time.monotonic() - start
            try:
                with stop_signals(self._on_signal):  # a first Ctrl-C lets the files close whole, a second cuts them
                    failures = close_nodes(nodes.values(), self._complete)
                if failures and not report.error:
                    report.error, report.failed_node = "; ".join(map(str, failures)), failures[0].node
                if report.interrupted and self._complete and not report.error:
                    report.interrupted, report.stopped_after_last_frame = False, True
                    log.info(LATE_STOP)
            finally:
                report.nodes = {node_id: s.summary() for node_id, s in self.stats.items()}
                for message in rescue_partials(self.graph, self.registry):  # a writer that died before it closed
                    log.warning("%s", message)
                self._publish(time.monotonic())
                with self._lock:
                    self._ended = time.monotonic()
        return report

    def _run_frames(self, total, progress) -> None:
        report, start = self.report, self._started
        published = start
        frame_id, first_out = 0, None  # when the first frame was done
        sources = [step for step in self._steps.values() if step.is_source]
        while not self._stopping:
            if self.max_frames is not None and frame_id >= self.max_frames:
                self._complete = True
                break
            self._apply_edits()
            sourced = read_sources(sources, frame_id)
            if sourced is None:
                self._complete = True
                break
            capture_time, values = sourced
            run_step(self._steps.values(), frame_id, capture_time, values, self._show, self.report.latency_ms)
            frame_id += 1
            report.frames = frame_id
            now = time.monotonic()
            if first_out is None:
                first_out, report.first_frame_ms = now, (now - self._begun) * 1000.0
            report.frames_span_s = now - first_out
            if now - published >= STATS_EVERY_S:
                published = now
                self._publish(now)
            if progress:
                progress(frame_id, total, now - start)

    def _show(self, step: Step, shown: dict[str, Any], ran: bool) -> None:
        """After a node ran: what it showed is kept (for a picture after the run) and, when its
        preview was asked for, its picture made when one is due."""
        self._latest[step.id] = (shown, ran)
        if step.id in self._wanted:
            picture = self._previews.take(step.node, shown, ran)
            if picture is not None:
                with self._lock:
                    self._pictures[step.id] = picture
