"""The supervisor: runs the plan's stage processes (started by `run_startup`), relays live param
edits, gathers stats, restarts a stage that died, serves preview taps, and stops the run cleanly
(Ctrl-C included), leaving no shared memory behind."""

from __future__ import annotations

import logging
import threading
import time
from multiprocessing.connection import wait

from .. import shm
from ..busy_watch import BUSY_WARNING_S
from ..errors import InvalidInput, RunFailed
from ..execution import LATE_STOP, RecentRate, frame_total, stop_signals
from ..graph import Graph
from ..node import StreamInfo
from ..output_rescue import rescue_partials
from ..params import Path as PathParam
from ..plan import make_plan
from ..registry import Registry, default_registry
from ..runner import NodeSnapshot, RunSnapshot, StageSnapshot, run_snapshot
from ..stats import RunReport
from .protocol import (
    Created,
    Done,
    Error,
    Failed,
    Go,
    Loaded,
    Log,
    Ready,
    SetParam,
    StageStats,
    Start,
    Stats,
    Stop,
    ToSupervisor,
)
from .run_startup import RunStartup
from .setup_end import end_if_endable, was_ended
from .stages import StageRun, abort_rings, forget_segments
from .taps import PreviewTaps

log = logging.getLogger("nodegraph")

GRACE_S = 3.0  # after a stop, how long the sources' end-of-stream may take to flush the pipeline
ABORT_S = 3.0  # after "stop now", how long stages get before their rings are aborted and they are killed
MAX_RESTARTS = 3  # per stage; one more death stops the run
MODES = ("lossless", "realtime")


class Runtime(RunStartup):
    """Runs a graph as a pipeline of processes. `run()` blocks in the caller's thread (the main
    thread gets Ctrl-C handling); `stop()`, `set_param()`, `preview()`, `snapshot()` and `pids()`
    may be called from other threads (the editor does).

    `niceness` > 0 lowers the stage processes' scheduling priority (Unix), so a window in the
    caller's process gets the CPU first when it needs it."""

    def __init__(self, graph: Graph, registry: Registry | None = None, *, frames: int | None = None,
                 mode: str | None = None, previews: bool = False, niceness: int = 0,
                 busy_warning_s: float = BUSY_WARNING_S):
        if mode not in (None, *MODES):
            raise InvalidInput(f"mode {mode!r} is not known; use one of: {', '.join(MODES)}")
        self.graph = graph
        self.registry = registry or default_registry()
        self.plan = make_plan(graph, self.registry)
        self.max_frames = frames
        self.requested_mode = mode
        self.previews = previews
        self.niceness = niceness
        self.busy_warning_s = busy_warning_s  # a node on one frame this long is said (busy_watch)
        # stages that each have a core, and no window to leave room for, may spin while they wait
        self.spin = len(self.plan.stages) <= self.plan.cores and not niceness
        self._announced: set[str] = set()
        self.classes = {n: self.registry.get(spec.type) for n, spec in graph.nodes.items()}
        for node_id, cls in self.classes.items():
            if "<locals>" in cls.__qualname__:
                raise InvalidInput(f"node '{node_id}': its class {cls.__qualname__} is defined inside a function; "
                                   "define it at module level so the stage processes can import it")
        self.source_stages = [s.name for s in self.plan.stages if any(not self.classes[n].inputs for n in s.nodes)]
        if mode == "realtime":
            self._check_realtime()
        sinks = {n for n, cls in self.classes.items() if not cls.outputs}
        ends = sinks or {n for n in graph.nodes if not graph.links_from(n)}
        self.end_stages = [s.name for s in self.plan.stages if ends.intersection(s.nodes)]
        self.sink_nodes = sinks
        self.tap_index = {n: i for i, n in enumerate(graph.topological_order())} if previews else {}
        self.mode: str | None = mode
        self.run_id: str | None = None
        self.report = RunReport(mode=mode)  # without one, the sources' stream decides it at start
        self._stages = {s.name: StageRun(s.name, s.nodes) for s in self.plan.stages}
        self._stage_of = {n: s.name for s in self.plan.stages for n in s.nodes}
        self._overrides: dict[str, dict] = {}
        self._stream: StreamInfo | None = None
        self._start_error: RunFailed | None = None  # a stage's setup failure, raised by run()
        self._refusals: list[tuple[str, str | None]] = []  # the stages' set-up refusals (message, node)
        # a plain flag, not a threading.Event: a signal handler sets it, and a second signal handled inside
        # the first one's Event.set() waited forever for the lock the first held
        self._stopping = False
        self._stop_now = False
        self._lock = threading.Lock()  # stats and stage records, read by snapshot()
        self._taps = PreviewTaps(self.tap_index)
        self._begun = 0.0  # run() called: set-up starts
        self._started: float | None = None
        self._ended: float | None = None
        self._rate = RecentRate()

    def _check_realtime(self) -> None:
        if len(self.source_stages) > 1:
            raise InvalidInput(
                f"realtime mode needs every source in one process, but the process pins put sources in "
                f"stages {', '.join(self.source_stages)}; pin the sources together or run in lossless mode")

    # -- the editor's side ----------------------------------------------------------

    def stop(self, now: bool = False) -> None:
        """Stop the run: sources end, what is in flight reaches the outputs, files are closed.
        `now`: without waiting for what is in flight (the outputs are still closed)."""
        self._stop_now = self._stop_now or now
        self._stopping = True

    def set_param(self, node_id: str, name: str, value) -> None:
        """Change a param while running (applied between frames, no restart); InvalidInput if bad."""
        cls = self.classes.get(node_id)
        if cls is None:
            raise InvalidInput(f"there is no node '{node_id}' (nodes: {', '.join(self.classes)})")
        value = cls.check_param(node_id, name, value)
        spec = cls.params[name]
        if isinstance(spec, PathParam) and isinstance(value, str):
            value = self.graph.resolve_path(value, spec)
        with self._lock:  # with _spawn's lock: the edit is in a new process's config or sent to it
            self._overrides.setdefault(node_id, {})[name] = value
            run = self._stages[self._stage_of[node_id]]
            live = run.state in ("starting", "loaded", "ready", "running")
        if live:
            run.send(SetParam(node_id, name, value))

    def preview(self, node_id: str):
        """The latest picture of the node's output (a sink's: its input), or None; never torn."""
        return self._taps.latest(node_id)

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {name: run.process.pid for name, run in self._stages.items() if run.process is not None}

    def snapshot(self) -> RunSnapshot:
        """Live stats for the editor's run bar: per node, per stage, and the run's fps and latency."""
        with self._lock:
            nodes = {node_id: NodeSnapshot.of(run.name, run.summary(node_id))
                     for run in self._stages.values() for node_id in run.nodes}
            stages = {run.name: StageSnapshot(run.nodes, run.state, run.restarts,
                                              run.process.pid if run.process else None)
                      for run in self._stages.values()}
            return run_snapshot(started=self._started, ended=self._ended, mode=self.mode,
                                frames=self._frames_done(), fps=self._rate.fps(), report=self.report,
                                nodes=nodes, stages=stages)

    # -- running --------------------------------------------------------------------

    def run(self, progress=None) -> RunReport:
        if self.run_id is not None:
            raise RuntimeError("a Runtime runs once; make a new one for another run")
        self._begun = time.monotonic()
        self.run_id = shm.new_run_id()
        if left := shm.cleanup():  # memory that runs killed as a whole (kill -9, a crash) held until now
            log.info("removed %d shared-memory segment%s that killed runs left behind", left, "s" * (left != 1))
        self._taps.open(self.run_id)
        with stop_signals(self._on_signal):
            try:
                if self._start():
                    self._loop(progress)
            finally:
                self._shutdown()
        return self.report

    def _on_signal(self, signum, frame) -> None:
        if self._stopping:
            self._stop_now = True  # a second Ctrl-C: stop without flushing
        self.report.interrupted = True
        self._stopping = True

    def _pump(self, timeout: float) -> None:
        """Handle what the stages sent and notice the ones that died."""
        runs = [r for r in self._stages.values() if r.process is not None and r.state not in ("done", "dead")]
        waitables = [r.conn for r in runs] + [r.process.sentinel for r in runs]
        if waitables:
            wait(waitables, timeout)
        else:
            time.sleep(timeout)
        for run in runs:
            self._receive(run)
            if run.state not in ("done", "dead") and not run.process.is_alive():
                self._receive(run)  # what it said before it went
                if run.state not in ("done", "dead"):
                    self._on_death(run)

    def _receive(self, run: StageRun) -> None:
        try:
            while run.conn.poll():
                self._on_message(run, run.conn.recv())
        except (OSError, EOFError):
            pass

    def _on_message(self, run: StageRun, message: ToSupervisor) -> None:
        match message:
            case Loaded(sources=sources):
                run.stream = sources
                run.state = "loaded"
                if self._stream is not None:  # a restarted stage: the run is under way
                    run.send(Start(self._stream, self.mode))
            case Ready():
                run.state = "ready"
                if self._started is not None:
                    run.state = "running"
                    run.send(Go())
            case Created(segment=name):
                run.created.append(name)
            case Log(level=level, text=text):
                self._relay(level, text)
            case Stats(stats=stats):
                self._take_stats(run, stats)
            case Failed(message=text, node=node_id):
                self._fail(text, node=node_id)
            case Done(stats=stats, failures=failures, complete=complete, failed_node=failed_node):
                self._take_stats(run, stats)
                run.state, run.complete = "done", complete
                if failures:
                    self._fail(failures, node=failed_node)
            case Error(invalid=invalid, message=text, node=node_id, refusals=refusals):
                run.state = "done"
                if self._started is None:
                    if invalid:  # said with every other stage's once they have set up what they can
                        self._refusals.extend(refusals)
                    elif self._start_error is None:  # a failure: the first stage's is the run's, at once
                        self._start_error = RunFailed(text, node_id)
                else:
                    self._fail(f"stage {run.name} could not start again: {text}", now=True, node=node_id)

    def _relay(self, level: int, text: str) -> None:
        """A stage's log line, printed here; an INFO line (an announcement, like the onnxruntime
        provider choice) once per run, however many stages say it."""
        if level == logging.INFO:
            if text in self._announced:
                return
            self._announced.add(text)
        log.log(level, text)

    def _take_stats(self, run: StageRun, stats: StageStats) -> None:
        with self._lock:
            run.frames = stats.frames
            run.last_frame_at = stats.last_frame_at or run.last_frame_at
            run.first_frame_at = run.first_frame_at or stats.first_frame_at
            run.summaries = stats.nodes
            self.report.latency_ms.extend(stats.latency)

    def _fail(self, message: str, now: bool = False, node: str | None = None) -> None:
        log.debug("%s", message)  # the caller reports it once (the CLI prints report.error)
        if not self.report.error:
            self.report.error, self.report.failed_node = message, node
        self._stop_now = self._stop_now or now
        self._stopping = True

    def _on_death(self, run: StageRun) -> None:
        what = run.death()
        with self._lock:
            run.died()
        if self._started is None or self._stopping:
            return  # while starting, _wait_all reports it
        writers = [n for n in run.nodes if not self.classes[n].restartable]
        sinks = sorted(self.sink_nodes.intersection(run.nodes)) if self.mode == "lossless" else []
        refusal = run.why_not_restart(what, writers, sinks, MAX_RESTARTS)
        if refusal:
            self._fail(refusal, now=True, node=run.died_in)
        else:
            log.warning("%s; restarting it", what)
            run.restarts += 1
            self._spawn(run, resume=True)

    def _frames_done(self) -> int:
        counts = [self._stages[name].total_frames for name in self.end_stages]
        return min(counts) if counts else 0

    def _loop(self, progress) -> None:
        total = frame_total(self._stream, self.max_frames)
        phase, since = "running", 0.0
        while any(run.state not in ("done", "dead") for run in self._stages.values()):
            self._pump(0.1)
            now = time.monotonic()
            if self._stopping and phase == "running":
                phase, since = "flushing", now
                for name in self.source_stages:
                    self._stages[name].send(Stop())
            if phase == "flushing" and (self._stop_now or now - since > GRACE_S):
                phase, since = "stopping", now
                for run in self._stages.values():
                    if run.process is not None and run.process.is_alive():
                        end_if_endable(run.process.pid)  # a stage restarted mid-run may still be setting up
                    run.send(Stop(now=True))
            if phase == "stopping" and now - since > ABORT_S:
                break  # _shutdown aborts the rings and ends the processes
            with self._lock:
                frames = self._frames_done()
                self._rate.add(now, frames)
            if progress:
                progress(frames, total, now - self._started)

    def _shutdown(self) -> None:
        """End every process, however the run went, and remove the run's segments."""
        self._ended = time.monotonic()
        runs = [r for r in self._stages.values() if r.process is not None]
        for run in runs:
            if run.process.is_alive():
                end_if_endable(run.process.pid)  # in a node's set-up that a kill leaves nothing of: ended now
                run.send(Stop(now=True))
        deadline = time.monotonic() + 2.0
        while (alive := [r for r in runs if r.process.is_alive()]) and time.monotonic() < deadline:
            wait([r.conn for r in alive] + [r.process.sentinel for r in alive], 0.05)
            for run in alive:
                self._receive(run)  # keep reading: a stage blocked on a full pipe would never end
        killed = {run.name for run in runs if was_ended(run.process.exitcode)}
        for name in sorted(killed):
            log.info("stage %s (nodes: %s) was still setting up; ended it", name, ", ".join(self._stages[name].nodes))
        if any(r.process.is_alive() for r in runs):
            abort_rings(self.run_id, {n for run in self._stages.values() for n in [*run.created, *run.orphans]})
            for run in runs:
                run.process.join(1.0)
                if run.process.is_alive():
                    if self._started is None:  # stopped before the first frame: no work of its own to lose
                        log.info("stage %s (nodes: %s) was still setting up; ended it", run.name, ", ".join(run.nodes))
                    else:
                        log.warning("stage %s (nodes: %s) did not stop; killing it", run.name, ", ".join(run.nodes))
                    run.process.kill()
                    run.process.join(1.0)
                    killed.add(run.name)
        for run in runs:
            self._receive(run)
            run.conn.close()
            if run.state != "done":
                run.orphans += run.created
            elif run.process.exitcode and run.name not in killed:  # a library that crashed on the way out
                log.warning("%s as its process ended, after its last frame: what it gave counts and its files "
                            "were closed", run.death())
        self._taps.close()
        shm.cleanup(self.run_id)
        forget_segments(name for run in runs for name in run.orphans)
        report = self.report
        # from "go" to the last frame out (closing the files is not per-frame work, as in SequentialRunner)
        finished = [self._stages[n].last_frame_at for n in self.end_stages if self._stages[n].last_frame_at]
        report.elapsed_s = ((max(finished) if finished else self._ended) - self._started) if self._started else 0.0
        report.frames = self._frames_done()
        first = [self._stages[n].first_frame_at for n in self.end_stages if self._stages[n].first_frame_at]
        report.first_frame_ms = (min(first) - self._begun) * 1000.0 if first else None
        report.frames_span_s = max(finished) - min(first) if first and finished else 0.0
        report.processes = {r.name: r.process.pid for r in runs}
        report.nodes = {n: self._stages[self._stage_of[n]].summary(n) for n in self.graph.topological_order()}
        if report.interrupted and not report.error and all(self._stages[n].complete for n in self.end_stages):
            report.interrupted, report.stopped_after_last_frame = False, True
            log.info(LATE_STOP)
        for message in rescue_partials(self.graph, self.registry):  # a writer killed before it closed its file
            log.warning("%s", message)
