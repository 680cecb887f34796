"""Preset files for the editor: moving relative input paths with the preset, and recent presets."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..graph import Graph
from ..output_files import write_atomically
from ..params import Path as PathParam
from ..paths import user_data_dir
from ..registry import Registry

MAX_RECENT = 10


def rebase_input_paths(graph: Graph, registry: Registry, new_dir: Path) -> list[tuple[str, str, str]]:
    """Rewrite the relative input paths of `graph` so that, resolved against `new_dir`, they point
    to the same files as they did against `graph.base_dir`; then make `new_dir` the base.

    Output paths resolve against the current directory, not the preset's, so they stay. A path
    that cannot be relative (another drive on Windows) becomes absolute. Returns
    (node, param, new value) for each rewrite."""
    new_dir = Path(new_dir).resolve()
    old_dir = Path(graph.base_dir).resolve()
    changed = []
    if new_dir != old_dir:
        for spec in graph.nodes.values():
            cls = registry.get(spec.type)
            if cls is None:
                continue
            for name, value in spec.params.items():
                param = cls.params.get(name)
                if not (isinstance(param, PathParam) and param.role == "input" and isinstance(value, str)
                        and value and not os.path.isabs(os.path.expanduser(value))):
                    continue
                target = os.path.normpath(old_dir / value)
                try:
                    rebased = Path(os.path.relpath(target, new_dir)).as_posix()
                except ValueError:
                    rebased = target
                if rebased != value:
                    spec.params[name] = rebased
                    changed.append((spec.id, name, rebased))
    graph.base_dir = new_dir
    return changed


class RecentFiles:
    """The presets opened or saved lately, newest first, kept in the user's data folder."""

    def __init__(self, store: Path | None = None):
        self.store = store or user_data_dir() / "recent.json"
        self.paths: list[str] = self._read()

    def _read(self) -> list[str]:
        try:
            data = json.loads(self.store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [p for p in data if isinstance(p, str)][:MAX_RECENT] if isinstance(data, list) else []

    def add(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        self.paths = [path] + [p for p in self.paths if p != path][: MAX_RECENT - 1]
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.store, json.dumps(self.paths, indent=1).encode("utf-8"))  # whole or not at all
        except OSError:
            pass  # a read-only home only costs the list, not the edit

    def existing(self) -> list[str]:
        return [p for p in self.paths if os.path.exists(p)]
