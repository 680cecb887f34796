"""Unsaved changes kept on disk while the editor runs, so a crash, a kill or a Ctrl-C in its terminal does not
lose them: the next editor that opens the same preset (or starts on a new graph) offers them back. A file per
preset, in the user's data folder beside the recent presets; gone once the changes are saved or the user says
not to keep them."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from .. import preset as presets
from ..graph import Graph
from ..output_files import write_atomically

log = logging.getLogger("nodegraph")

KEEP_EVERY_S = 2.0  # at most this much editing is lost to a kill -9 or a crash


class Recovery:
    def __init__(self, folder: Path):
        self.folder = folder
        self._kept: tuple | None = None  # (preset, revision) last written or found clean
        self._next = 0.0
        self._ours: set[Path] = set()  # files this editor wrote: only those are removed when the graph is clean

    def file_for(self, preset: Path | None) -> Path:
        key = hashlib.sha256(str(preset).encode()).hexdigest()[:16] if preset is not None else "untitled"
        return self.folder / f"{key}.json"

    def keep(self, state, now: bool = False) -> None:
        """Called each frame: write the graph when it has changes not kept yet (at most every KEEP_EVERY_S, or
        `now`), and remove the file once it has none left (saved, or undone)."""
        key = (state.path, state.revision)
        if key == self._kept or (not now and time.monotonic() < self._next):
            return
        self._kept, self._next = key, time.monotonic() + KEEP_EVERY_S
        target = self.file_for(state.path)
        try:
            if state.dirty:
                record = {"preset": str(state.path) if state.path else None, "base_dir": str(state.graph.base_dir),
                          "kept_at": time.time(), "graph": presets.to_dict(state.graph)}
                self.folder.mkdir(parents=True, exist_ok=True)
                write_atomically(target, json.dumps(record, allow_nan=False).encode())
                self._ours.add(target)
            elif target in self._ours:
                target.unlink(missing_ok=True)
                self._ours.discard(target)
        except (OSError, ValueError) as e:  # ValueError: a plug-in's NaN, which JSON cannot hold
            log.debug("could not keep the unsaved changes in %s: %s", target, e)

    def found(self, preset: Path | None) -> tuple[Graph, float] | None:
        """Changes to `preset` (None: a new graph) that an editor kept and never saved: the graph, and when."""
        target = self.file_for(preset)
        try:
            record = json.loads(target.read_text(encoding="utf-8"))
            if record["preset"] != (str(preset) if preset is not None else None):
                return None  # another preset's, by a hash that matched: never offered
            graph = presets.from_dict(record["graph"], str(target), base_dir=record["base_dir"])
            return graph, float(record["kept_at"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, presets.PresetError) as e:
            log.warning("the unsaved changes kept in %s cannot be read (%s); they are left there", target, e)
            return None

    def discard(self, preset: Path | None) -> None:
        """The user chose not to keep the changes to `preset`."""
        target = self.file_for(preset)
        target.unlink(missing_ok=True)
        self._ours.discard(target)
        self._kept = None
