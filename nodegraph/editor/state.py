"""The editor's state as plain Python: the graph, its file, selection, undo history, the run and
its status, and a log. The Dear PyGui views draw it and call its methods; tests drive it directly.
Its file (state_files.py) and its run (state_run.py) are parts of their own."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import preset as presets
from ..errors import InvalidInput, ProblemError
from ..graph import Graph, InputTaken, Link
from ..params import ParamError
from ..registry import Registry, default_registry
from .error_log import ErrorLog
from .files import RecentFiles
from .history import History
from .layout import auto_layout
from .problem_words import in_editor_words
from .recovery import Kept, Recovery
from .session import RunSession
from .state_files import PresetFiles
from .state_run import GraphRun

MAX_LOG = 500
PROBLEMS_TTL_S = 2.0


@dataclass(frozen=True)
class LogEntry:
    level: str  # "info", "warning" or "error"
    text: str
    node: str | None = None
    time: float = 0.0


class EditorState(PresetFiles, GraphRun):
    def __init__(self, registry: Registry | None = None, recent: RecentFiles | None = None,
                 engine: str = "auto"):
        self.registry = registry or default_registry()
        self.recent = recent if recent is not None else RecentFiles()
        self.recovery = Recovery(self.recent.store.parent / "recovery")
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
        self._frame_errors = ErrorLog()
        self._end_logged: RunSession | None = None
        self._run_failed_at: tuple[str, str] | None = None  # (node id, why) that the last run's failure named
        self._problems: tuple | None = None
        self._dirty: tuple | None = None
        self.kept_changes: Kept | None = None  # what an editor that ended kept unsaved: offered once

    # -- log --------------------------------------------------------------------------

    def say(self, text: str, level: str = "info", node: str | None = None) -> None:
        self.log.append(LogEntry(level, text, node, time.time()))
        self.log_total += 1

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
        except InputTaken as e:
            why = f"{link.target} already has this link from {link.source}" if e.feeder == link else \
                (f"{link.target} already has a link from {e.feeder.source}; remove that link first (click it "
                 "and press Delete, or Ctrl+click it and drag it away)")
            self.say(why, "error", dst)
            return why
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

    # -- validation -----------------------------------------------------------------------

    def problems(self) -> dict[str | None, list[str]]:
        """What is wrong, by node id (None: about the whole graph): the graph's problems, and first on its node why
        the last run failed there."""
        found = self.graph_problems()
        if (failure := self.last_run_failure()) is None:
            return found
        node_id, why = failure
        return {**found, node_id: [why, *found.get(node_id, [])]}

    def graph_problems(self) -> dict[str | None, list[str]]:
        """Validation problems by node id (None: about the whole graph); checked again after each
        edit, and every few seconds for files that appear or vanish."""
        key = (self.revision, int(time.monotonic() / PROBLEMS_TTL_S))
        if self._problems is None or self._problems[0] != key:
            self._problems = (key, self._validate())
        return self._problems[1]

    def last_run_failure(self) -> tuple[str, str] | None:
        """(node id, why) where the last run failed, while that node is in the graph."""
        failure = self._run_failed_at
        return failure if failure is not None and failure[0] in self.graph.nodes else None

    def recheck(self) -> None:
        """Validate the graph again at the next look: files it names have changed (models fetched)."""
        self._problems = None

    def _validate(self) -> dict[str | None, list[str]]:
        found: dict[str | None, list[str]] = {}
        for problem in map(in_editor_words, self.graph.validate(self.registry)):
            text = problem.message if problem.node else str(problem)
            where = problem.port or problem.param or problem.field
            if where:
                text = labelled(where, text)
            found.setdefault(problem.node, []).append(text)
        return found


def labelled(name: str, message: str) -> str:
    """`name: message`, or the message alone where its first word is the name already (param `model`:
    "model 'x' is not installed", not "model: model 'x' ...")."""
    first = message.split(maxsplit=1)[0] if message.strip() else ""
    return message if first.lower() == name.lower() else f"{name}: {message}"
