"""One run of a graph started from the editor: the runner in a background thread, and its live
status (per-node stats, fps, latency, errors, processes) read without blocking the UI.

The editor talks to either runner, the multiprocess `Runtime` or (where asked for) the in-process
`SequentialRunner`, through what they share: the `runner.Runner` protocol.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInput, RunFailed
from ..graph import Graph
from ..plan import make_plan
from ..registry import Registry
from ..runner import NodeSnapshot, Runner
from ..sequential import STAGE as SEQUENTIAL_STAGE

log = logging.getLogger("nodegraph")

ENGINES = ("auto", "process", "sequential")  # auto: the multiprocess runtime
# A run started here yields the CPU to the window when both want it: the window needs little (a
# frame at 15 fps while watching), but without a GPU every frame is rasterised on the CPU, and
# waiting behind busy stages is what made UI frames late. Measured on 2 cores under Xvfb with
# video_swap: UI frame p95 35 ms -> 23-26 ms (niceness 5: 26-33 ms), the pipeline's fps the same.
STAGE_NICENESS = 10


def make_runner(graph: Graph, registry: Registry, *, frames: int | None, mode: str | None,
                engine: str = "auto") -> Runner:
    """The multiprocess Runtime (engine "auto" or "process") or the in-process SequentialRunner
    (engine "sequential", which runs every frame: InvalidInput for realtime mode)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "sequential":
        from ..sequential import SequentialRunner

        if mode == "realtime":
            raise InvalidInput("the in-process runner runs every frame and has no realtime mode; "
                               "choose lossless mode or run with the multiprocess runtime")
        return SequentialRunner(graph, registry, frames=frames)
    from ..runtime import Runtime

    return Runtime(graph, registry, frames=frames, mode=mode, previews=True, niceness=STAGE_NICENESS)


def plan_stages(graph: Graph, registry: Registry, engine: str = "auto") -> list[tuple[str, list[str]]]:
    """[(stage name, node ids)] in process order as the scheduler would plan the graph; empty when
    the graph cannot be planned. The sequential engine runs them all in one process, as its runner says."""
    try:
        plan = make_plan(graph, registry)
    except InvalidInput:
        return []
    except Exception as e:  # the plan view is a view: a scheduler bug must not close the editor
        log.debug("no plan for the editor: %s", e, exc_info=True)
        return []
    if engine == "sequential":
        return [(SEQUENTIAL_STAGE, [node_id for stage in plan.stages for node_id in stage.nodes])]
    return [(stage.name, list(stage.nodes)) for stage in plan.stages]


@dataclass
class RunStatus:
    state: str = "idle"  # idle, starting, running, finished, stopped, failed
    frames: int = 0
    fps: float | None = 0.0  # None: a run that ended with one frame, no interval to time
    latency_p50: float = 0.0
    latency_p95: float = 0.0
    message: str = ""  # why it failed, or how it ended
    failed_node: str | None = None  # the node the run failed at, where it failed at one (marked on the canvas)
    nodes: dict[str, NodeSnapshot] = field(default_factory=dict)
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
        self._failed_node: str | None = None
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
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
        except (InvalidInput, RunFailed) as e:  # a refusal: its own words, as the command line says them
            self._failed_node = e.node
            self._finish("failed", str(e))
            return
        except Exception as e:  # shown in the editor's log: the editor itself must stay up
            log.debug("run failed", exc_info=True)
            self._finish("failed", f"{type(e).__name__}: {e}")
            return
        report = self.report
        if getattr(report, "error", ""):
            self._failed_node = report.failed_node
            self._finish("failed", report.error)
        elif self._stop_requested.is_set():
            self._finish("stopped", f"stopped after {report.frames} frames")
        else:
            self._finish("finished", report.summary_line())

    def _finish(self, state: str, message: str) -> None:
        self._state, self._message = state, message

    def stop(self, now: bool = False) -> None:
        """Ask the run to stop (`now`: without flushing what is in flight)."""
        self._stop_requested.set()
        with self._lock:
            runner = self.runner
        if runner is not None:
            runner.stop(now)

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
        return dict(runner.pids()) if runner is not None else {}

    def stages(self) -> list[tuple[str, list[str]]]:
        """Which process runs which nodes: the runner's stages once it exists, else the planned ones."""
        runner = self.runner
        if runner is None:
            return plan_stages(self.graph, self.registry, self.engine)
        return [(name, list(stage.nodes)) for name, stage in runner.snapshot().stages.items()]

    # -- live status -----------------------------------------------------------------

    def status(self) -> RunStatus:
        status = RunStatus(self._state, message=self._message, failed_node=self._failed_node)
        runner = self.runner
        if runner is None:
            return status
        snap = runner.snapshot()
        status.frames, status.fps = snap.frames, snap.fps
        status.latency_p50, status.latency_p95 = snap.latency_p50, snap.latency_p95
        status.nodes = dict(snap.nodes)
        report = self.report
        if not status.active and report is not None and report.elapsed_s:
            # the whole run's figures, not the last seconds' (which fade to zero once it ends)
            status.fps = report.fps
            status.latency_p50, status.latency_p95 = report.latency(50), report.latency(95)
        status.pids = self.pids() if status.active else {}
        return status
