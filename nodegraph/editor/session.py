"""One run of a graph started from the editor: the runner in a background thread, and its live
status (per-node stats, fps, latency, errors, processes) read without blocking the UI.

The editor talks to any runner with `run(progress)`, `stop()`, `set_param(node, name, value)`
and `preview(node)`: the multiprocess `Runtime` normally, the in-process `SequentialRunner`
where asked for (or where the runtime cannot be imported).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import InvalidInput
from ..graph import Graph
from ..registry import Registry
from ..stats import percentile

log = logging.getLogger("nodegraph")

ENGINES = ("auto", "process", "sequential")


class Runner(Protocol):
    def run(self, progress=None) -> Any: ...

    def stop(self) -> None: ...

    def set_param(self, node_id: str, name: str, value: Any) -> None: ...

    def preview(self, node_id: str) -> np.ndarray | None: ...


def make_runner(graph: Graph, registry: Registry, *, frames: int | None, mode: str | None,
                engine: str = "auto") -> Runner:
    """The multiprocess Runtime (engine "process", or "auto" when it can be imported) or the
    in-process SequentialRunner (engine "sequential")."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "sequential":
        try:
            from ..runtime import Runtime
        except ImportError as e:
            if engine == "process":
                raise
            log.warning("the multiprocess runtime is not available (%s); running in one process", e)
        else:
            return Runtime(graph, registry, frames=frames, mode=mode, previews=True)
    from ..sequential import SequentialRunner

    return SequentialRunner(graph, registry, frames=frames, mode=mode or "lossless")


def plan_stages(graph: Graph, registry: Registry, runner: Any = None) -> list[tuple[str, list[str]]]:
    """[(stage name, node ids)] in process order: the running runner's plan, else the scheduler's
    plan for the graph, else one stage holding every node. Empty when the graph cannot be planned."""
    plan = getattr(runner, "plan", None)
    if plan is None and runner is None:
        try:
            from ..plan import make_plan
        except ImportError:
            make_plan = None
        if make_plan is not None:
            try:
                plan = make_plan(graph, registry)
            except InvalidInput:
                return []
            except Exception as e:  # the plan view is a view: a scheduler bug must not close the editor
                log.debug("no plan for the editor: %s", e, exc_info=True)
                return []
    if plan is None:
        return [("main", list(graph.nodes))]
    return [(str(getattr(stage, "name", i)), list(_stage_nodes(stage))) for i, stage in enumerate(plan.stages)]


def _stage_nodes(stage: Any) -> list[str]:
    for attribute in ("nodes", "node_ids"):
        value = getattr(stage, attribute, None)
        if value is not None:
            return [n if isinstance(n, str) else getattr(n, "id", str(n)) for n in value]
    return []


@dataclass
class NodeStatus:
    frames: int = 0
    ms: float = 0.0  # mean ms per frame over the recent window
    ms_p95: float = 0.0
    drops: int = 0
    errors: int = 0
    last_error: str = ""


@dataclass
class RunStatus:
    state: str = "idle"  # idle, starting, running, finished, stopped, failed
    frames: int = 0
    fps: float = 0.0
    latency_p50: float = 0.0
    latency_p95: float = 0.0
    message: str = ""  # why it failed, or how it ended
    nodes: dict[str, NodeStatus] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)  # stage name -> process id

    @property
    def active(self) -> bool:
        return self.state in ("starting", "running")


class RunSession:
    """Starts `runner_factory(graph, registry, frames=, mode=)` in a thread; `status()` reads its
    live stats. The graph is copied, so edits in the editor do not reach a run already going
    (except param changes, sent with `set_param`)."""

    def __init__(self, graph: Graph, registry: Registry, *, frames: int | None = None, mode: str | None = None,
                 engine: str = "auto", runner_factory=None):
        self.graph = graph.copy()
        self.registry = registry
        self.frames, self.mode, self.engine = frames, mode, engine
        self._factory = runner_factory or make_runner
        self.runner: Runner | None = None
        self.report = None
        self._state, self._message = "idle", ""
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._rate = deque(maxlen=64)  # (time, frames) samples for a live fps
        self._lock = threading.Lock()
        self.started_at = 0.0

    def start(self) -> None:
        self._state = "starting"
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="nodegraph-editor-run", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            runner = self._factory(self.graph, self.registry, frames=self.frames, mode=self.mode,
                                   engine=self.engine)
            with self._lock:
                self.runner = runner
            if self._stop_requested.is_set():
                self._finish("stopped", "stopped before it started")
                return
            self._state = "running"
            self.report = runner.run()
        except InvalidInput as e:
            self._finish("failed", str(e))
            return
        except Exception as e:  # shown in the editor's log: the editor itself must stay up
            log.debug("run failed", exc_info=True)
            self._finish("failed", f"{type(e).__name__}: {e}")
            return
        report = self.report
        if getattr(report, "error", ""):
            self._finish("failed", report.error)
        elif self._stop_requested.is_set():
            self._finish("stopped", f"stopped after {report.frames} frames")
        else:
            self._finish("finished", report.summary_line())

    def _finish(self, state: str, message: str) -> None:
        self._state, self._message = state, message

    def stop(self) -> None:
        self._stop_requested.set()
        with self._lock:
            runner = self.runner
        if runner is not None:
            runner.stop()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        return self._state

    @property
    def active(self) -> bool:
        return self._state in ("starting", "running")

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        runner = self.runner
        if runner is not None and self._state == "running" and node_id in self.graph.nodes:
            runner.set_param(node_id, name, value)

    def preview(self, node_id: str) -> np.ndarray | None:
        runner = self.runner
        if runner is None:
            return None
        try:
            return runner.preview(node_id)
        except Exception as e:  # a preview is a nicety: a broken one must not stop the pump
            log.debug("preview of %s failed: %s", node_id, e)
            return None

    def pids(self) -> dict[str, int]:
        runner = self.runner
        pids = getattr(runner, "pids", None)
        if callable(pids):
            return dict(pids())
        return {"main": os.getpid()} if runner is not None else {}

    def stages(self) -> list[tuple[str, list[str]]]:
        return plan_stages(self.graph, self.registry, self.runner)

    # -- live status -----------------------------------------------------------------

    def status(self) -> RunStatus:
        status = RunStatus(self._state, message=self._message)
        runner = self.runner
        if runner is None:
            return status
        snapshot = getattr(runner, "snapshot", None)
        if callable(snapshot):
            self._read_snapshot(status, snapshot())
        else:
            self._read_sequential(status, runner)
        report = self.report
        if not status.active and report is not None and getattr(report, "elapsed_s", 0):
            # the whole run's figures, not the last seconds' (which fade to zero once it ends)
            status.fps = report.fps
            status.latency_p50, status.latency_p95 = report.latency(50), report.latency(95)
        elif status.state == "running" and not status.fps:
            status.fps = self._live_fps(status.frames)
        status.pids = self.pids() if status.active else {}
        return status

    def _live_fps(self, frames: int) -> float:
        now = time.monotonic()
        self._rate.append((now, frames))
        while len(self._rate) > 2 and now - self._rate[0][0] > 2.0:
            self._rate.popleft()
        (t0, f0), (t1, f1) = self._rate[0], self._rate[-1]
        return (f1 - f0) / (t1 - t0) if t1 > t0 else 0.0

    def _read_sequential(self, status: RunStatus, runner: Any) -> None:
        report = runner.report
        status.frames = report.frames
        latency = list(report.latency_ms)
        status.latency_p50, status.latency_p95 = percentile(latency, 50), percentile(latency, 95)
        if status.state != "running" and report.elapsed_s:
            status.fps = report.fps
        for node_id, stats in list(runner.stats.items()):
            recent = list(stats.recent_ms)
            status.nodes[node_id] = NodeStatus(stats.frames, float(np.mean(recent)) if recent else 0.0,
                                               percentile(recent, 95), stats.drops, stats.errors,
                                               stats.last_error)

    def _read_snapshot(self, status: RunStatus, snap: dict) -> None:
        status.frames = int(snap.get("frames", 0))
        status.fps = float(snap.get("fps", 0.0))
        latency = snap.get("latency_ms", {})
        status.latency_p50, status.latency_p95 = float(latency.get("p50", 0.0)), float(latency.get("p95", 0.0))
        for node_id, n in snap.get("nodes", {}).items():
            status.nodes[node_id] = NodeStatus(int(n.get("frames", 0)), float(n.get("ms_mean", 0.0)),
                                               float(n.get("ms_p95", 0.0)), int(n.get("drops", 0)),
                                               int(n.get("errors", 0)), str(n.get("last_error", "")))
