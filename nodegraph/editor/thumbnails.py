"""Live previews for the editor: a background thread polls each node's latest preview at up to
15 fps and converts it to the float32 RGBA buffers that Dear PyGui's raw textures read. The UI
thread only copies finished buffers (microseconds), so neither it nor the pipeline waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from ..execution import PREVIEW_FPS, is_picture
from ..letterbox import letterbox

THUMB_SIZE = (160, 120)  # width, height
VIEWER_SIZE = (640, 480)
LETTERBOX = (22, 24, 28)  # RGB of the bars around a picture of another aspect (and of an empty one)


def blank_rgba(size: tuple[int, int]) -> np.ndarray:
    width, height = size
    out = np.empty((height, width, 4), np.float32)
    out[..., :3] = np.asarray(LETTERBOX, np.float32) / 255.0
    out[..., 3] = 1.0
    return out


def fit_rgba(image: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """`image` (BGR or grey uint8, any size) scaled to fit `size` with its aspect kept, centred
    on the letterbox colour, as C-contiguous float32 RGBA in 0..1 (what a raw texture reads)."""
    width, height = size
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    canvas = cv2.cvtColor(letterbox(image, width, height, LETTERBOX[::-1]), cv2.COLOR_BGR2RGBA)
    if out is None:
        out = np.empty((height, width, 4), np.float32)
    np.multiply(canvas, np.float32(1.0 / 255.0), out=out, casting="unsafe")
    return out


class PreviewPump:
    """Polls `preview(node_id)` for the wanted nodes in its own thread, at up to `fps`.

    `want(node_id, sizes)` says which pictures the views show; `take()` hands over what is ready
    since the last call. `updates` counts the new pictures per node (a thumbnail is live once
    it has one)."""

    def __init__(self, fps: float = PREVIEW_FPS):
        self.period = 1.0 / fps
        self._preview: Callable[[str], np.ndarray | None] | None = None
        self._wanted: dict[str, tuple[tuple[int, int], ...]] = {}
        self._ready: dict[tuple[str, tuple[int, int]], np.ndarray] = {}
        self._seen: dict[str, np.ndarray] = {}  # the last picture per node, to skip repeats
        self.updates: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nodegraph-previews", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def source(self, preview: Callable[[str], np.ndarray | None] | None) -> None:
        """Where pictures come from (a run's `preview`), or None between runs; a new run's
        pictures are counted from zero."""
        with self._lock:
            if preview is not None and preview != self._preview:
                self.updates = {}
            self._preview = preview
            self._seen.clear()

    def want(self, wanted: dict[str, tuple[tuple[int, int], ...]]) -> None:
        with self._lock:
            self._wanted = dict(wanted)

    def take(self) -> dict[tuple[str, tuple[int, int]], np.ndarray]:
        with self._lock:
            ready, self._ready = self._ready, {}
        return ready

    def poll_once(self) -> int:
        """Fetch and convert every wanted preview now; returns how many were new."""
        with self._lock:
            preview, wanted = self._preview, dict(self._wanted)
        if preview is None:
            return 0
        fresh = 0
        for node_id, sizes in wanted.items():
            image = preview(node_id)
            if not is_picture(image):
                continue
            if image is self._seen.get(node_id):
                continue  # the same picture as last time (runners keep it until a new one is made)
            converted = {(node_id, size): fit_rgba(image, size) for size in sizes}
            with self._lock:
                if self._preview is not preview:
                    return fresh
                self._ready.update(converted)
                self._seen[node_id] = image
                self.updates[node_id] = self.updates.get(node_id, 0) + 1
            fresh += 1
        return fresh

    def _loop(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            self.poll_once()
            self._stop.wait(max(0.005, self.period - (time.monotonic() - start)))
