"""A stage's running counts in memory it shares with its supervisor, written after every frame and read
when its process dies: the frames it did after its last stats message (sent every `STATS_EVERY_S`) still
count. A `multiprocessing` RawArray, handed to the process as it is spawned: its file is unlinked at once,
so nothing of it is left in /dev/shm, even after a kill -9."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable

import numpy as np

from ..stats import NodeStats

FIELDS = ("frames", "errors", "drops", "total_ms")


class Tally:
    def __init__(self, nodes: int):
        # the frames, each node's FIELDS, and 1 + the position of the node on a frame or in its set-up (0: none)
        self.__setstate__(mp.get_context("spawn").RawArray("d", 2 + len(FIELDS) * nodes))

    def __getstate__(self):
        return self.shared  # the array goes to the stage process; its numpy view is made again there

    def __setstate__(self, shared) -> None:
        self.shared = shared
        self.view = np.frombuffer(shared, np.float64)  # made once: record() runs after every frame

    def record(self, frames: int, stats: Iterable[NodeStats], in_hand_at: int | None = None) -> None:
        """The stage's frames so far and its nodes' counts, in the stage's node order (the stage's side).
        `in_hand_at`: the position of the node that counts a frame the stage has taken but not finished as
        dropped, should the process die with it (realtime: its successor reads on past it)."""
        view = self.view
        view[0] = frames
        view[1:-1] = [value for s in stats for value in (s.frames, s.errors, s.drops, s.total_ms)]
        if in_hand_at is not None:
            view[1 + len(FIELDS) * in_hand_at + FIELDS.index("drops")] += 1

    def busy(self, position: int | None) -> None:
        """The stage's node (its position) on a frame or in its set-up now, or None: the node a process that dies
        died in."""
        self.view[-1] = 0.0 if position is None else position + 1.0

    def take(self) -> tuple[int, list[dict], int | None]:
        """What the dead process recorded last: its frames, per node its counts, and the position of the node it
        died on a frame of (None: between nodes); then zeroed, so a new process that dies before its first frame
        counts nothing twice (the supervisor's side)."""
        view = self.view
        frames, rows, busy = int(view[0]), view[1:-1].reshape(-1, len(FIELDS)), int(view[-1]) - 1
        counts = [dict(zip(FIELDS, map(float, row), strict=True)) for row in rows]
        view[:] = 0.0
        return frames, counts, busy if busy >= 0 else None


def with_counts(summary: dict, counts: dict) -> dict:
    """A NodeStats summary (the last one sent) with the counts the tally kept since, which are never fewer."""
    if counts["frames"] + counts["errors"] + counts["drops"] == 0:
        return summary
    merged = {**(summary or NodeStats().summary())}
    frames = int(counts["frames"])
    merged.update(frames=frames, errors=int(counts["errors"]), drops=int(counts["drops"]),
                  ms_mean=round(counts["total_ms"] / frames, 3) if frames else 0.0)
    return merged
