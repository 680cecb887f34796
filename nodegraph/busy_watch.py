"""Says when a node has been on one frame for long. A node that hangs (a lock never released, a device
that never answers) would otherwise leave a run silent, its progress stopped, until Ctrl-C; nothing
interrupts the node, as nothing can stop a Python thread safely."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("nodegraph")

BUSY_WARNING_S = 10.0  # far past most nodes' frames on a CPU (a restorer on several faces takes a few seconds)
OWN_PACE_FACTOR = 5.0  # a node said only past this many times its own slowest frame so far: a slow one is not hung


class BusyWatch:
    """One per process that runs nodes, in its own thread: `on(node)` around each node's frame, and once
    that frame has taken `after_s`, and `OWN_PACE_FACTOR` times the node's slowest frame before, a warning
    naming the node and the frame (once per frame). An offline render's swapper at seconds a frame on a CPU
    is then said once at most, not on every frame."""

    def __init__(self, after_s: float = BUSY_WARNING_S, on_busy: Callable[[str | None], None] | None = None):
        self.after_s = after_s
        self.on_busy = on_busy  # told the node on a frame now (None: none), as it changes
        self._busy: tuple[str, str, int, float, float] | None = None  # (node id, type, frame id, since, limit)
        self._slowest: dict[str, float] = {}  # node id -> its slowest finished frame (s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="nodegraph-busy-watch", daemon=True)

    def __enter__(self) -> BusyWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def on(self, node):
        slowest = self._slowest.get(node.id, 0.0)
        since = time.monotonic()
        self._busy = (node.id, node.type_name(), node.frame_id, since, max(self.after_s, OWN_PACE_FACTOR * slowest))
        if self.on_busy is not None:
            self.on_busy(node.id)
        try:
            yield
        finally:
            self._busy = None
            if self.on_busy is not None:
                self.on_busy(None)
            self._slowest[node.id] = max(slowest, time.monotonic() - since)

    def _watch(self) -> None:
        said = None
        while not self._stop.wait(min(1.0, self.after_s / 4)):
            busy = self._busy
            if busy is None or busy == said or time.monotonic() - busy[3] < busy[4]:
                continue
            said = busy
            node_id, type_name, frame_id, since, _ = busy
            log.warning("node '%s' (%s) has been on frame %d for %.0f s and has not returned: it may hang; Ctrl-C "
                        "stops the run (press it again if the node still does not return)",
                        node_id, type_name, frame_id, time.monotonic() - since)


_IDLE = BusyWatch()  # never started: what a node runs under outside a watched run
_watch_of: dict[int, BusyWatch] = {}  # thread that runs nodes -> its watch


def current() -> BusyWatch:
    return _watch_of.get(threading.get_ident(), _IDLE)


@contextlib.contextmanager
def watching(after_s: float = BUSY_WARNING_S, on_busy: Callable[[str | None], None] | None = None):
    """Watch the nodes this thread runs while the block runs; `on_busy` is told each node as it takes a frame."""
    with BusyWatch(after_s, on_busy) as watch:
        _watch_of[threading.get_ident()] = watch
        try:
            yield watch
        finally:
            del _watch_of[threading.get_ident()]
