"""The editor's state as plain Python: the graph, its file, selection, undo history, the run and
its status, and a log. The Dear PyGui views draw it and call its methods; tests drive it directly."""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import preset as presets
from ..errors import InvalidInput, ProblemError
from ..graph import Graph, Link
from ..params import ParamError
from ..params import Path as PathParam
from ..registry import Registry, default_registry
from .files import RecentFiles, rebase_input_paths
from .history import History
from .layout import auto_layout
from .run_setup import loop_sources, no_output_note, numbered_outputs
from .session import RunSession, RunStatus, plan_stages

MAX_LOG = 500
PROBLEMS_TTL_S = 2.0


@dataclass(frozen=True)
class LogEntry:
    level: str  # "info", "warning" or "error"
    text: str
    node: str | None = None
    time: float = 0.0


class EditorState:
    def __init__(self, registry: Registry | None = None, recent: RecentFiles | None = None,
                 engine: str = "auto"):
        self.registry = registry or default_registry()
        self.recent = recent if recent is not None else RecentFiles()
        self.engine = engine
        self.graph = Graph()
        self.path: Path | None = None
        self.selection: set[str] = set()
        self.history = History()
        self.log: deque[LogEntry] = deque(maxlen=MAX_LOG)
        self.log_total = 0  # entries ever logged: the log panel adds the ones it has not shown
        self.revision = 0  # bumped on every graph change; views redraw what changed
        self.mode: str | None = None  # None: the run picks (realtime for live sources)
        self.loop = True  # file sources play on at their own rate until Stop (see run_setup)
        self.session: RunSession | None = None
        self._saved = presets.dumps(self.graph)
        self._reported_errors: dict[str, str] = {}
        self._end_logged: RunSession | None = None
        self._run_failed_at: tuple[str, str] | None = None  # (node id, why) that the last run's failure named
        self._problems: tuple | None = None
        self._dirty: tuple | None = None

    # -- log --------------------------------------------------------------------------

    def say(self, text: str, level: str = "info", node: str | None = None) -> None:
        self.log.append(LogEntry(level, text, node, time.time()))
        self.log_total += 1

    # -- files ------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        key = (self.revision, id(self.graph), self._saved)
        if self._dirty is None or self._dirty[0] != key:
            self._dirty = (key, presets.dumps(self.graph) != self._saved)
        return self._dirty[1]

    @property
    def title(self) -> str:
        name = self.path.name if self.path else "untitled"
        return f"{'*' if self.dirty else ''}{name} - nodegraph"

    def new(self) -> None:
        self._replace(Graph(), None)
        self.say("new graph")

    def open(self, path: str | Path) -> bool:
        """Load a preset; on failure the current graph stays and the log says why."""
        try:
            graph = presets.load(path)
        except presets.PresetError as e:
            self.say(f"cannot open {path}: " + "; ".join(e.problems), "error")
            return False
        placed = auto_layout(graph)
        self._replace(graph, Path(os.path.abspath(path)))  # a symlink stays the path: saving replaces it
        self.recent.add(self.path)
        self.say(f"opened {self.path}" + (f" (placed {len(placed)} nodes that had no position)" if placed else ""))
        for problem in self.graph.validate(self.registry):
            self.say(str(problem), "warning", problem.node)
        return True

    def replaces_another_file(self, path: str | Path) -> bool:
        """Whether saving as `path` would replace a file (or link) other than the one open: ask first."""
        return os.path.lexists(path) and Path(os.path.abspath(path)) != self.path

    def save(self, path: str | Path | None = None) -> bool:
        """Save to `path` (or the current file). Relative input paths are rewritten when the
        preset moves to another folder, so they still name the same files. A symlink at `path` is
        replaced by the file, never written through."""
        target = Path(os.path.abspath(path)) if path is not None else self.path
        if target is None:
            raise ValueError("no file to save to: give a path (save as)")
        graph = self.graph.copy()
        if graph.name == "untitled":  # a new graph takes its file's name, which the inspector and the preset show
            graph.name = target.stem
        for node_id, name, value in rebase_input_paths(graph, self.registry, target.parent):
            self.say(f"{node_id}.{name} rewritten as {value} (relative to the new folder)")
        link = os.readlink(target) if target.is_symlink() else None
        if link is None and target.is_file() and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
            # saving renames a new file into place, which the folder allows whatever the file's own mode says
            self.say(f"cannot save {target}: the file is read-only; File > Save as keeps your changes in another "
                     "file", "error")
            return False
        try:
            presets.save(graph, target)
        except (OSError, presets.PresetError) as e:  # PresetError: a value JSON cannot hold (a plug-in's NaN)
            self.say(f"cannot save {target}: {getattr(e, 'strerror', None) or e}", "error")
            return False
        if link is not None:
            self.say(f"{target} was a link to {link}: it is now the saved file, and {link} is left as it was")
        self.graph = graph
        self.path = target
        self._saved = presets.dumps(graph)
        self.revision += 1
        self.recent.add(target)
        self.say(f"saved {target}")
        return True

    def _replace(self, graph: Graph, path: Path | None) -> None:
        if self.running:  # left running, it went on writing unseen, and edits to same-named nodes reached it
            self.stop_run(" of the graph that was open (it would go on unseen)")
        self.graph = graph
        self.path = path
        self.selection.clear()
        self.history.clear()
        self._saved = presets.dumps(graph)
        self._run_failed_at = None  # another graph's
        self.revision += 1

    # -- edits ------------------------------------------------------------------------

    def _record(self, label: str, key: object = None) -> None:
        self.history.record(self.graph.copy(), label, key)

    def _changed(self) -> None:
        self.revision += 1

    def add_node(self, type_name: str, pos: tuple[float, float] | None = None) -> str:
        cls = self.registry.get(type_name)
        if cls is None:
            raise InvalidInput(self.registry.unknown_type_message(type_name))
        self._record(f"add {type_name}")
        node_id = self.graph.add_node(type_name, {}, tuple(pos) if pos is not None else None)
        if pos is None:
            auto_layout(self.graph)
        self.selection = {node_id}
        self._changed()
        return node_id

    def remove_nodes(self, node_ids) -> None:
        node_ids = [n for n in node_ids if n in self.graph.nodes]
        if not node_ids:
            return
        self._record(f"delete {', '.join(node_ids)}")
        for node_id in node_ids:
            self.graph.remove_node(node_id)
        self.selection -= set(node_ids)
        self._changed()

    def add_link(self, src: str, src_port: str, dst: str, dst_port: str) -> str | None:
        """Add a link; returns None, or the reason it was refused (also logged)."""
        link = Link(src, src_port, dst, dst_port)
        try:
            self.graph.check_link(link, self.registry)
        except InvalidInput as e:
            self.say(str(e), "error", dst)
            return str(e)
        self._record(f"link {link}")
        self.graph.add_link(link)
        self._changed()
        return None

    def remove_links(self, links) -> None:
        links = [link for link in links if link in self.graph.links]
        if not links:
            return
        self._record("delete link" if len(links) == 1 else f"delete {len(links)} links")
        for link in links:
            self.graph.remove_link(link)
        self._changed()

    def delete(self, node_ids=(), links=()) -> None:
        """Delete nodes and links as one undo step (the Delete key)."""
        node_ids = [n for n in node_ids if n in self.graph.nodes]
        links = [link for link in links if link in self.graph.links and link.src not in node_ids
                 and link.dst not in node_ids]
        if not node_ids and not links:
            return
        self._record("delete selection")
        for link in links:
            self.graph.remove_link(link)
        for node_id in node_ids:
            self.graph.remove_node(node_id)
        self.selection -= set(node_ids)
        self._changed()

    def move_nodes(self, positions: dict[str, tuple[float, float]]) -> None:
        moved = {n: (float(p[0]), float(p[1])) for n, p in positions.items()
                 if n in self.graph.nodes and self.graph.nodes[n].pos != (float(p[0]), float(p[1]))}
        if not moved:
            return
        self._record("move" if len(moved) > 1 else f"move {next(iter(moved))}")
        for node_id, pos in moved.items():
            self.graph.nodes[node_id].pos = pos
        self._changed()

    def show_positions(self, positions: dict[str, tuple[float, float]]) -> None:
        """Positions chosen to show a graph just opened (laid out to fit the window): not an edit,
        so no undo step, and a graph without unsaved changes still has none; saving keeps them."""
        clean = not self.dirty
        for node_id, pos in positions.items():
            if node_id in self.graph.nodes:
                self.graph.nodes[node_id].pos = (float(pos[0]), float(pos[1]))
        if clean:
            self._saved = presets.dumps(self.graph)
        self._changed()

    def param_value(self, node_id: str, name: str) -> Any:
        spec = self.graph.nodes[node_id]
        cls = self.registry.get(spec.type)
        return spec.params.get(name, cls.params[name].default)

    def set_param(self, node_id: str, name: str, value: Any) -> str | None:
        """Change a param (validated by its spec) and send it to the running pipeline; returns
        None or why the value was refused."""
        spec = self.graph.nodes[node_id]
        cls = self.registry.get(spec.type)
        try:
            value = cls.check_param(node_id, name, value)
        except ProblemError as e:
            self.say(str(e), "error", node_id)
            return str(e)
        param = cls.params[name]
        if self._effective(spec, param, name) == value:
            return None
        if isinstance(value, tuple):
            value = list(value)  # presets hold JSON values
        self._record(f"set {node_id}.{name}", key=("param", node_id, name))
        spec.params[name] = value
        if self._run_failed_at is not None and self._run_failed_at[0] == node_id:
            self._run_failed_at = None  # what failed may be what was just fixed: the next run says
        self._changed()
        self._send_live(node_id, name)
        return None

    @staticmethod
    def _effective(spec, param, name: str) -> Any:
        try:
            return param.validate(spec.params.get(name, param.default))
        except ParamError:
            return None

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

    def undo(self) -> bool:
        step = self.history.undo(self.graph.copy())
        return self._restore(step, "undo")

    def redo(self) -> bool:
        step = self.history.redo(self.graph.copy())
        return self._restore(step, "redo")

    def _restore(self, step, verb: str) -> bool:
        if step is None:
            return False
        before = self.graph
        self.graph = step.graph.copy()
        # the step was copied before a Save as, maybe: the file and the name it gave are not edits to undo
        self.graph.preset_path, self.graph.name = self.path, before.name
        self.selection &= set(self.graph.nodes)
        self._changed()
        self.say(f"{verb}: {step.label}")
        for node_id, spec in self.graph.nodes.items():
            old = before.nodes.get(node_id)
            if old is None or old.type != spec.type:
                continue
            for name in set(spec.params) | set(old.params):
                if spec.params.get(name) != old.params.get(name):
                    self._send_live(node_id, name)
        return True

    # -- validation and plan --------------------------------------------------------------

    def problems(self) -> dict[str | None, list[str]]:
        """Validation problems by node id (None: about the whole graph); checked again after each
        edit, and every few seconds for files that appear or vanish."""
        key = (self.revision, int(time.monotonic() / PROBLEMS_TTL_S))
        if self._problems is None or self._problems[0] != key:
            self._problems = (key, self._validate())
        if self._run_failed_at is None:
            return self._problems[1]
        node_id, why = self._run_failed_at
        if node_id not in self.graph.nodes:
            return self._problems[1]
        return {**self._problems[1], node_id: [why, *self._problems[1].get(node_id, [])]}

    def _validate(self) -> dict[str | None, list[str]]:
        found: dict[str | None, list[str]] = {}
        for problem in self.graph.validate(self.registry):
            text = problem.message if problem.node else str(problem)
            if problem.port:
                text = f"{problem.port}: {text}"
            elif problem.param or problem.field:
                text = f"{problem.param or problem.field}: {text}"
            found.setdefault(problem.node, []).append(text)
        return found

    def stages(self) -> list[tuple[str, list[str]]]:
        """Which process each node runs in: the running plan, else the plan the graph would get."""
        if self.session is not None and self.session.active:
            return self.session.stages()
        return plan_stages(self.graph, self.registry)

    # -- run --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.session is not None and self.session.active

    def start_run(self, frames: int | None = None, runner_factory=None) -> bool:
        if self.running:
            return False
        problems = self.graph.validate(self.registry)
        if problems:
            self.say(f"cannot run: the graph has {len(problems)} problem(s)", "error")
            for problem in problems:
                self.say(str(problem), "error", problem.node)
            return False
        self._reported_errors.clear()
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
        """The run's live status; new node errors and the run's end go to the log once."""
        if self.session is None:
            return RunStatus()
        status = self.session.status()
        for node_id, node in status.nodes.items():
            if node.last_error and self._reported_errors.get(node_id) != node.last_error:
                self._reported_errors[node_id] = node.last_error
                self.say(f"{node_id}: {node.last_error}", "error", node_id)
        if not status.active and self._end_logged is not self.session:
            self._end_logged = self.session
            if status.failed_node in self.graph.nodes:
                self._run_failed_at = (status.failed_node, status.message)  # shown on the node until the next run
            self.say(f"run {status.state}: {status.message}", "error" if status.state == "failed" else "info",
                     self._run_failed_at[0] if self._run_failed_at else None)
        return status
