"""The editor state's run of the graph: start and stop it, read its status, send it the params edited while it
runs, and log its errors and its end once."""

from __future__ import annotations

import time

from ..errors import InvalidInput
from ..execution import frame_failure
from ..params import Path as PathParam
from ..runner import NodeSnapshot
from .error_log import ErrorLog
from .problem_words import in_editor_words, under_the_node
from .run_setup import loop_sources, no_output_note, numbered_outputs
from .session import RunSession, RunStatus, plan_stages


class GraphRun:
    """Part of EditorState (its __init__ sets what this uses): the graph's run."""

    @property
    def running(self) -> bool:
        return self.session is not None and self.session.active

    def start_run(self, frames: int | None = None, runner_factory=None) -> bool:
        if self.running:
            return False
        problems = self.graph.validate(self.registry)
        if problems:
            self.say(f"cannot run: the graph has {len(problems)} problem{'s' * (len(problems) != 1)}", "error")
            for problem in map(in_editor_words, problems):
                self.say(str(problem), "error", problem.node)
            return False
        self._frame_errors = ErrorLog()
        self._run_failed_at = None
        graph = self.graph.copy()
        looping = loop_sources(graph, self.registry) if self.loop else []
        for message in numbered_outputs(graph, self.registry):
            self.say(message, "warning")
        if note := no_output_note(graph, self.registry):
            self.say(note, "warning")
        self.session = RunSession(graph, self.registry, frames=frames, mode=self.mode, engine=self.engine,
                                  runner_factory=runner_factory)
        self.session.start()
        self.say("run started" + (f" ({frames} frames)" if frames else "")
                 + (f"; {', '.join(looping)} loop{'s' * (len(looping) == 1)} until "
                    + (f"the {frames} frames are done" if frames else "Stop") if looping else ""))
        return True

    def stop_run(self, which: str = "") -> None:
        if self.session is not None and self.session.active:
            self.session.stop()
            self.say("stopping the run" + which)

    def poll(self) -> RunStatus:
        """The run's live status; nodes' errors (error_log) and the run's end go to the log."""
        if self.session is None:
            return RunStatus()
        status = self.session.status()
        now = time.monotonic()
        for node_id, node in status.nodes.items():
            for line in self._frame_errors.lines(node_id, node, self._node_error, now, ended=not status.active):
                self.say(line, "error", node_id)
        if not status.active and self._end_logged is not self.session:
            self._end_logged = self.session
            failed = status.failed_node
            if failed in self.graph.nodes and failed in self.session.graph.nodes:  # shown on it until the next run
                self._run_failed_at = (failed, under_the_node(status.message, failed,
                                                              self.session.graph.nodes[failed].type))
            self.say(f"run {status.state}: {status.message}", "error" if status.state == "failed" else "info",
                     self._run_failed_at[0] if self._run_failed_at else None)
        return status

    def _node_error(self, node_id: str, node: NodeSnapshot) -> str:
        """A node's error as the command line says it; one between frames (a live edit it refused) names its node
        and param already."""
        if node.last_error_frame is None:
            return node.last_error
        type_name = self.session.graph.nodes[node_id].type
        return frame_failure(node_id, type_name, node.last_error_frame, node.last_error)

    def _send_live(self, node_id: str, name: str) -> None:
        session = self.session
        if session is None or not session.active or node_id not in session.graph.nodes:
            return
        cls = self.registry.get(self.graph.nodes[node_id].type)
        if cls is None or name not in cls.params or session.graph.nodes[node_id].type != cls.type_name():
            return
        param = cls.params[name]
        value = self.graph.nodes[node_id].params.get(name, param.default)
        if isinstance(param, PathParam) and value:
            value = session.graph.resolve_path(value, param)
        if isinstance(value, list):
            value = tuple(value)
        session.graph.nodes[node_id].params[name] = value
        try:
            session.set_param(node_id, name, value)
        except InvalidInput as e:
            self.say(f"the running pipeline refused {node_id}.{name}: {e}", "error", node_id)

    def stages(self) -> list[tuple[str, list[str]]]:
        """Which process each node runs in: the running plan, else the plan the graph would get."""
        if self.session is not None and self.session.active:
            return self.session.stages()
        return plan_stages(self.graph, self.registry, self.engine)
