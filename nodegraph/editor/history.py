"""Undo and redo for graph edits, as snapshots of the whole graph (graphs are small)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..graph import Graph

MAX_STEPS = 200
MERGE_WINDOW_S = 1.5  # a slider drag sends many changes of one param: they undo as one step


@dataclass
class Step:
    label: str
    graph: Graph  # the graph as it was before the step
    key: object = None
    time: float = 0.0


class History:
    def __init__(self):
        self._undo: list[Step] = []
        self._redo: list[Step] = []

    def record(self, before: Graph, label: str, key: object = None) -> None:
        """Remember `before` (a copy of the graph as it was) so the edit can be undone. Edits with
        the same non-None key in quick succession merge into one step."""
        now = time.monotonic()
        last = self._undo[-1] if self._undo else None
        if key is not None and last is not None and last.key == key and now - last.time < MERGE_WINDOW_S:
            last.time = now
        else:
            self._undo.append(Step(label, before, key, now))
            del self._undo[:-MAX_STEPS]
        self._redo.clear()

    def undo(self, current: Graph) -> Step | None:
        """The step to go back to (its graph is the one to restore), or None when there is none."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(Step(step.label, current))
        return step

    def redo(self, current: Graph) -> Step | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(Step(step.label, current))
        return step

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None
