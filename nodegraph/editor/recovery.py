"""Unsaved changes kept on disk while the editor runs, so a crash, a kill or a Ctrl-C in its terminal does not
lose them: the next editor that opens the same preset (or starts on a new graph) offers them back. A file per
preset and editor, in the user's data folder beside the recent presets; gone once the changes are saved or the
user says not to keep them.

Two editors open on one preset each keep their own file. While an editor runs it holds a lock on
`<editor>.lock`, so another editor never offers its changes as lost: only those of an editor that ended."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from .. import preset as presets
from ..graph import Graph
from ..output_files import try_lock, write_atomically

log = logging.getLogger("nodegraph")

KEEP_EVERY_S = 2.0  # at most this much editing is lost to a kill -9 or a crash


class Kept(NamedTuple):
    """Changes an editor that ended kept unsaved: the graph, when (time.time()), and the file holding them."""
    graph: Graph
    kept_at: float
    file: Path


def preset_key(preset: Path | None) -> str:
    return hashlib.sha256(str(preset).encode()).hexdigest()[:16] if preset is not None else "untitled"


class Recovery:
    def __init__(self, folder: Path):
        self.folder = folder
        self.editor = uuid.uuid4().hex[:12]  # names this editor's files: <preset key>-<editor>.json
        self._lock: int | None = None  # a descriptor holding <editor>.lock while this editor has files kept
        self._kept: tuple | None = None  # (preset, revision) last written or found clean
        self._next = 0.0
        self._ours: set[Path] = set()  # files this editor wrote: only those are removed when the graph is clean

    def file_for(self, preset: Path | None) -> Path:
        return self.folder / f"{preset_key(preset)}-{self.editor}.json"

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
                data = json.dumps(record, allow_nan=False).encode()
                self._hold_lock()
                write_atomically(target, data)
                self._ours.add(target)
            elif target in self._ours:
                self._forget(target)
        except (OSError, ValueError) as e:  # ValueError: a plug-in's NaN, which JSON cannot hold
            log.debug("could not keep the unsaved changes in %s: %s", target, e)

    def found(self, preset: Path | None) -> Kept | None:
        """The newest changes to `preset` (None: a new graph) that an editor which has ended kept unsaved. Any
        older ones are offered by the next open, once these are recovered or discarded."""
        offers = []
        for file in self._files_of(preset):
            if self._running(file):
                continue  # its editor is still open: they are its own changes, not lost ones
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
                if record["preset"] != (str(preset) if preset is not None else None):
                    continue  # another preset's, by a hash that matched: never offered
                graph = presets.from_dict(record["graph"], str(file), base_dir=record["base_dir"])
                offers.append(Kept(graph, float(record["kept_at"]), file))
            except FileNotFoundError:
                continue  # recovered or discarded by another editor meanwhile
            except (OSError, ValueError, KeyError, TypeError, presets.PresetError) as e:
                log.warning("the unsaved changes kept in %s cannot be read (%s); they are left there", file, e)
        return max(offers, key=lambda kept: kept.kept_at, default=None)

    def open_elsewhere(self, preset: Path | None) -> bool:
        """Whether another editor that is still open has unsaved changes to `preset`."""
        return any(self._running(file) for file in self._files_of(preset) if self._editor_of(file) != self.editor)

    def take(self, kept: Kept, preset: Path | None) -> None:
        """The user recovered `kept` into this editor, which keeps them from now on: its file takes their place
        at once, so a crash before the next keep still has them."""
        target = self.file_for(preset)
        try:
            self._hold_lock()
            os.replace(kept.file, target)
            self._ours.add(target)
        except OSError as e:
            log.debug("could not take over the unsaved changes in %s: %s", kept.file, e)
        self._kept = None
        self._remove_lock_if_unused(self._editor_of(kept.file))

    def drop(self, kept: Kept) -> None:
        """The user chose not to keep `kept`, changes of an editor that ended."""
        kept.file.unlink(missing_ok=True)
        self._remove_lock_if_unused(self._editor_of(kept.file))

    def discard(self, preset: Path | None) -> None:
        """This editor's changes to `preset` are saved, or the user let them go."""
        self._forget(self.file_for(preset))
        self._kept = None

    def _files_of(self, preset: Path | None) -> list[Path]:
        try:
            return sorted(self.folder.glob(f"{preset_key(preset)}-*.json"))
        except OSError:
            return []

    @staticmethod
    def _editor_of(file: Path) -> str:
        return file.stem.rsplit("-", 1)[1]

    def _lock_file(self, editor: str) -> Path:
        return self.folder / f"{editor}.lock"

    def _running(self, file: Path) -> bool:
        """Whether the editor that wrote `file` still runs: its lock is held (the OS lets go of it when a process
        ends, a killed one too)."""
        editor = self._editor_of(file)
        if editor == self.editor:
            return True
        try:
            descriptor = os.open(self._lock_file(editor), os.O_RDWR)
        except OSError:
            return False
        try:
            return not try_lock(descriptor)
        finally:
            os.close(descriptor)

    def _hold_lock(self) -> None:
        if self._lock is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self._lock_file(self.editor), os.O_RDWR | os.O_CREAT, 0o600)
            if not try_lock(descriptor):
                os.close(descriptor)
                raise OSError(f"cannot lock {self._lock_file(self.editor)}")
            self._lock = descriptor

    def _forget(self, file: Path) -> None:
        file.unlink(missing_ok=True)
        self._ours.discard(file)
        if not self._ours and self._lock is not None:
            os.close(self._lock)
            self._lock = None
            self._lock_file(self.editor).unlink(missing_ok=True)

    def _remove_lock_if_unused(self, editor: str) -> None:
        """Remove the lock file of an editor that ended once none of its kept files is left."""
        if editor != self.editor and not any(self.folder.glob(f"*-{editor}.json")):
            self._lock_file(editor).unlink(missing_ok=True)
