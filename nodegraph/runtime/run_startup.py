"""How the supervisor starts a run's stages, its side of the handshake in `protocol`: each stage's
config, its process spawned (at the start, and again after a death), and every stage taken from
loaded through `Start` (the stream's info and the run's mode) and ready to `Go`; a stage's set-up
error is raised here.
"""

from __future__ import annotations

import logging
import time

from ..errors import RunFailed
from ..execution import stream_of
from ..node import StreamInfo
from ..setup_refusals import raise_refusals
from .config import InletConfig, NodeConfig, OutletConfig, StageConfig
from .protocol import Go, Start
from .stages import StageRun, exit_text, spawn

log = logging.getLogger("nodegraph")


class RunStartup:
    """The start of `supervisor.Runtime`, its base class: it spawns the stages and sets the run's
    stream, mode and start time."""

    def _config(self, name: str, resume: bool) -> StageConfig:
        stage = self.plan.stages[[s.name for s in self.plan.stages].index(name)]
        nodes = []
        for node_id in stage.nodes:
            cls = self.classes[node_id]
            params = {**self.graph.resolved_params(node_id, self.registry), **self._overrides.get(node_id, {})}
            inputs = tuple((link.dst_port, link.src, link.src_port) for link in self.graph.links_into(node_id))
            nodes.append(NodeConfig(node_id, cls.__module__, cls.__qualname__, params, str(self.graph.base_dir),
                                    inputs, not cls.inputs))
        inlets = tuple(InletConfig(i, b.readers.index(name), b.node, b.port)
                       for i, b in enumerate(self.plan.buffers) if name in b.readers)
        outlets = tuple(OutletConfig(i, b.node, b.port, len(b.readers))
                        for i, b in enumerate(self.plan.buffers) if b.stage == name)
        taps = {n: self.tap_index[n] for n in stage.nodes if n in self.tap_index}
        return StageConfig(self.run_id, name, stage.threads, tuple(nodes), inlets, outlets, taps, self.max_frames,
                           log.getEffectiveLevel(), resume, self.niceness, self.spin,
                           self.busy_warning_s)

    def _spawn(self, run: StageRun, resume: bool) -> None:
        needs_main = any(cls.__module__ == "__main__" for cls in self.classes.values())
        with self._lock:  # with set_param's lock: an edit is in the new process's config or sent to it
            run.reset(*spawn(self._config(run.name, resume), run.tally, needs_main))

    def _start(self) -> bool:
        """Start every stage and take them through the handshake; False when stopped meanwhile.
        A stage's setup error is raised here (InvalidInput keeps its message: exit code 2)."""
        for run in self._stages.values():
            self._spawn(run, resume=False)
        self._wait_all("loaded")
        if self._stopping:
            return False
        # a source refused (its stage says so only after the start, loaded without it): the stages set up the
        # rest only to say their refusals too, and no node that writes files
        refused = bool(self._refusals) or any(
            len(run.stream or ()) < sum(not self.classes[node].inputs for node in run.nodes)
            for run in self._stages.values() if run.state == "loaded")
        self._stream, mode = self._stream_and_mode(refused)
        self.mode = mode
        self.report.mode = None if refused else mode  # which mode a run without that source would have had is unknown
        for run in self._stages.values():
            if run.state == "loaded":
                run.send(Start(self._stream, mode, refused))
        self._wait_all("ready")
        if self._stopping:
            return False
        raise_refusals(self._refusals, self.graph.topological_order())
        self._started = time.monotonic()
        for run in self._stages.values():
            run.state = "running"
            run.send(Go())
        count, took = len(self._stages), self._started - self._begun
        log.info("started: %d process%s set up in %.1f s", count, "" if count == 1 else "es", took)
        return True

    def _wait_all(self, state: str) -> None:
        """Until every stage is in `state` or refused its set-up ("done")."""
        while not self._stopping and any(run.state not in (state, "done") for run in self._stages.values()):
            self._pump(0.1)
            if self._start_error is not None:
                raise self._start_error
            if self._stopping:
                return  # stopping anyway: a stage that died meanwhile is no start-up failure
            for run in self._stages.values():
                if run.state == "dead":
                    raise self._death_while_starting(run)

    def _death_while_starting(self, run: StageRun) -> RunFailed:
        """A stage's process that died before the run's first frame, naming the node it was setting up where known."""
        how = exit_text(run.process.exitcode)
        if run.died_in is None:
            return RunFailed(f"stage {run.name} (nodes: {', '.join(run.nodes)}) died while starting ({how})")
        node_type = self.classes[run.died_in].type_name()
        return RunFailed(f"node '{run.died_in}' ({node_type}) failed to start: its process died ({how}) "
                         f"(stage {run.name}, nodes: {', '.join(run.nodes)})", run.died_in)

    def _stream_and_mode(self, refused: bool) -> tuple[StreamInfo, str]:
        """The stream's info as the sequential executor derives it (from the sources set up), and the run's mode;
        a `refused` run's is not checked."""
        sources = {s.node_id: (s.stream, s.live) for run in self._stages.values() for s in run.stream or ()}
        names = [n for n in self.graph.topological_order() if n in sources]
        ordered = [sources[n] for n in names]
        stream = stream_of(info for info, _ in ordered)
        mode = self.requested_mode or ("realtime" if any(live for _, live in ordered) else "lossless")
        if refused:
            return stream, mode
        if mode == "realtime" and not any(live for _, live in ordered):
            log.warning("realtime mode, but no source is paced (%s): frames come as fast as this machine reads "
                        "them, and how many are dropped depends on its speed; pace a source (its realtime or fps "
                        "param) to play it as a camera would", ", ".join(names))
        if mode == "realtime":
            self._check_realtime()
        return stream, mode
