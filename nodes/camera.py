"""CameraSource: live frames from a webcam. A missing or stuck camera fails within seconds, naming it."""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.node import Node, StreamInfo
from nodegraph.params import Bool, Choice, Float, Int
from nodegraph.types import Frame

log = logging.getLogger("nodegraph")

BACKENDS = {
    "auto": cv2.CAP_ANY,
    "v4l2": cv2.CAP_V4L2,
    "dshow": cv2.CAP_DSHOW,
    "msmf": cv2.CAP_MSMF,
    "avfoundation": cv2.CAP_AVFOUNDATION,
}
_PLATFORM_OF = {"v4l2": ("linux", "Linux"), "dshow": ("win32", "Windows"), "msmf": ("win32", "Windows"),
                "avfoundation": ("darwin", "macOS")}
START_TIMEOUT_S = 4.5  # opening the camera and its first frame, together
FRAME_TIMEOUT_S = 2.0  # waiting for any later frame


def call_with_timeout(function: Callable[[], Any], timeout_s: float,
                      discard: Callable[[Any], None] | None = None) -> Any:
    """function() run in a daemon thread; TimeoutError when it has not returned within `timeout_s`.
    The thread is then abandoned (a driver call cannot be interrupted); should it return later, its
    result goes to `discard`."""
    done = threading.Event()
    lock = threading.Lock()
    box: dict[str, Any] = {}

    def run():
        try:
            box["value"] = function()
        except BaseException as e:  # handed to the caller
            box["error"] = e
        with lock:
            done.set()
            late = box.get("abandoned", False)
        if late and discard is not None and "value" in box:
            discard(box["value"])

    threading.Thread(target=run, name="camera-open", daemon=True).start()
    done.wait(timeout_s)
    with lock:
        if not done.is_set():
            box["abandoned"] = True
            raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def linux_device_problem(index: int) -> str | None:
    """Why /dev/video<index> cannot be a camera (missing, or not ours to open), or None when it may be."""
    path = f"/dev/video{index}"
    if os.path.exists(path):
        if not os.access(path, os.R_OK | os.W_OK):
            return (f"camera {index} ({path}): no permission to open it; add your user to the 'video' group "
                    "(sudo usermod -aG video $USER, then log in again)")
        return None
    present = sorted(glob.glob("/dev/video*"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    if not present:
        return (f"camera {index} ({path}) not found: no video device on this machine; plug a camera in "
                "(or load a virtual one), or run the graph on a file with a VideoSource")
    return (f"camera {index} ({path}) not found: the video devices here are {', '.join(present)}; "
            "set the device param to one of their numbers")


def open_capture(index: int, backend: str, width: int, height: int, fps: float) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture with the wanted size and rate asked for (the camera may pick others);
    InvalidInput naming the camera when it cannot be opened."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # each backend tried prints a warning
    try:
        capture = cv2.VideoCapture(index, BACKENDS[backend],
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(START_TIMEOUT_S * 1000)])
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if not capture.isOpened():
        capture.release()
        raise InvalidInput(f"camera {index} ({describe(index)}) could not be opened with backend {backend}: "
                           "it may be in use by another program, or not a camera; close other camera apps, "
                           "or try another device number or backend")
    for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                        (cv2.CAP_PROP_FPS, fps)):
        if value:
            capture.set(prop, value)
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one queued in the driver
    return capture


def describe(index: int) -> str:
    return f"/dev/video{index}" if sys.platform.startswith("linux") else f"device {index}"


class CameraSource(Node):
    """Live frames from a webcam.

    Always the newest frame: a reader thread takes every frame the camera sends, so no stale frames
    queue up. A missing camera is reported at once, one that does not
    answer within a few seconds too, naming the device."""

    category = "Sources"
    outputs = {"frame": Frame}
    params = {
        "device": Int(0, 63, default=0, help="the camera's number (0 is the first; /dev/videoN on Linux)"),
        "width": Int(0, 7680, default=640, help="wanted frame width, px; 0 takes the camera's default"),
        "height": Int(0, 4320, default=480, help="wanted frame height, px; 0 takes the camera's default"),
        "fps": Float(0.0, 240.0, default=30.0, help="wanted frame rate; 0 takes the camera's default"),
        "mirror": Bool(False, help="flip left and right, like a mirror (as people expect a selfie view)"),
        "backend": Choice(list(BACKENDS), default="auto",
                          help="OpenCV's capture backend: v4l2 (Linux), dshow or msmf (Windows), "
                               "avfoundation (macOS); auto picks one"),
    }
    cost_ms = 1.0

    def setup(self):
        where = f"node '{self.id}' (CameraSource)"
        platform = _PLATFORM_OF.get(self.backend)
        if platform is not None and not sys.platform.startswith(platform[0]):
            raise InvalidInput(f"{where}: backend '{self.backend}' is for {platform[1]} only; use 'auto'")
        if sys.platform.startswith("linux") and self.backend in ("auto", "v4l2"):
            problem = linux_device_problem(self.device)
            if problem:
                raise InvalidInput(f"{where}: {problem}")
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            capture = call_with_timeout(
                lambda: open_capture(self.device, self.backend, self.width, self.height, self.fps),
                START_TIMEOUT_S, discard=lambda late: late.release())
        except TimeoutError:
            raise InvalidInput(f"{where}: camera {self.device} ({describe(self.device)}) did not open within "
                               f"{START_TIMEOUT_S:g} s; it may be in use by another program or stuck: "
                               "unplug it and plug it in again") from None
        except InvalidInput as e:
            raise InvalidInput(f"{where}: {e}") from None
        fps = capture.get(cv2.CAP_PROP_FPS)
        self._fps = fps if 1.0 <= fps <= 240.0 else (self.fps or None)
        self._start_reader(capture)
        if not self._wait_frame(max(0.0, deadline - time.monotonic())):
            self.close()
            raise InvalidInput(f"{where}: camera {self.device} ({describe(self.device)}) opened but sent no "
                               f"frame within {START_TIMEOUT_S:g} s{self._reader_error()}; another program "
                               "may be using it, or try another resolution, fps or backend")
        h, w = self._latest[0].shape[:2]
        if (self.width and w != self.width) or (self.height and h != self.height):
            log.info("%s: camera %d gives %dx%d frames (asked for %dx%d)", where, self.device, w, h,
                     self.width, self.height)

    def _start_reader(self, capture: cv2.VideoCapture) -> None:
        self._changed = threading.Condition()
        self._latest: tuple[np.ndarray, float] | None = None
        self._count = 0  # frames read so far
        self._taken = 0  # the count when process() last took a frame
        self._error: str | None = None
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, args=(capture,), name="camera-reader",
                                        daemon=True)
        self._reader.start()

    def _read_loop(self, capture: cv2.VideoCapture) -> None:
        """Reads frames until stopped or the camera fails; owns `capture` and releases it."""
        try:
            while not self._stop.is_set():
                ok, frame = capture.read()
                stamp = time.monotonic()
                with self._changed:
                    if not ok or frame is None:
                        self._error = "the camera stopped sending frames (unplugged?)"
                    else:
                        self._latest = (frame, stamp)
                        self._count += 1
                    self._changed.notify_all()
                if self._error:
                    return
        finally:
            capture.release()

    def _wait_frame(self, timeout_s: float) -> bool:
        """True when a frame newer than the last one taken is there (waits up to `timeout_s`)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count > self._taken or self._error is not None,
                                          timeout_s) and self._count > self._taken

    def _reader_error(self) -> str:
        return f" ({self._error})" if self._error else ""

    def is_live(self):
        return True

    def stream_info(self):
        return StreamInfo(fps=self._fps, frames=None, media=None)

    def process(self):
        if not self._wait_frame(FRAME_TIMEOUT_S):
            raise RunFailed(f"node '{self.id}' (CameraSource): camera {self.device} "
                            f"({describe(self.device)}) sent no frame for {FRAME_TIMEOUT_S:g} s"
                            f"{self._reader_error()}")
        with self._changed:
            frame, stamp = self._latest
            self._taken = self._count
        self.capture_time = stamp
        return {"frame": cv2.flip(frame, 1) if self.mirror else frame}

    def close(self):
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()  # the reader releases the camera after its current read
            self._reader.join(FRAME_TIMEOUT_S)
