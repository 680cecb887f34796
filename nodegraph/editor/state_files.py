"""The editor state's preset file: which file is open, whether it has unsaved changes, new, open and save."""

from __future__ import annotations

import os
from pathlib import Path

from .. import preset as presets
from ..graph import Graph
from .files import rebase_input_paths
from .layout import auto_layout


class PresetFiles:
    """Part of EditorState (its __init__ sets what this uses): the graph's file."""

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
        self.recovery.discard(self.path)  # kept for a crash; saved now (as another file, maybe)
        self.recovery.discard(target)
        self.graph = graph
        self.path = target
        self._saved = presets.dumps(graph)
        self.revision += 1
        self.recent.add(target)
        self.say(f"saved {target}")
        return True

    def recover(self, graph: Graph) -> None:
        """Bring back the unsaved changes an earlier editor kept for this file (recovery.py), as one edit: Undo
        goes back to the file as saved."""
        self._record("recover unsaved changes")
        graph.preset_path = self.path
        self.graph = graph
        self.selection.clear()
        self._changed()
        self.say(f"recovered the unsaved changes to {self.path.name if self.path else 'the new graph'}; save them "
                 "to keep them")

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
        self.kept_changes = self.recovery.found(path)
        name = path.name if path else "a new graph"
        if self.kept_changes is not None:
            self.say(f"unsaved changes to {name} were kept when an editor ended without saving them", "warning")
        if path is not None and self.recovery.open_elsewhere(path):
            self.say(f"another editor that is still open has unsaved changes to {name}: the last of the two to "
                     "save it wins", "warning")
