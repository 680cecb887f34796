"""Live outputs: an OpenCV window and a virtual camera other programs (Zoom, OBS, browsers) can open."""

from __future__ import annotations

import logging
import os
import sys

import cv2
import numpy as np

from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.node import Node
from nodegraph.params import Bool, Choice, Float, Int, Text
from nodegraph.types import Frame
from nodegraph.x_display import x_display_opens

log = logging.getLogger("nodegraph")

VIEW_MODES = ["merged", "source", "side_by_side"]
VIRTUAL_CAMERA_BACKENDS = ["auto", "v4l2loopback", "obs", "unitycapture"]
PROBE_SIZE = (640, 480)  # the size a virtual camera is opened at in setup when it takes the frame's size
# The windows this process shows, by name: OpenCV draws every imshow of one name into one window, so a second
# WindowOutput of the same title in this process gets its node id in its name, or the two took turns in one window
windows_shown: set[str] = set()


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """`left` and `right` next to each other, `right` scaled to `left`'s height."""
    h = left.shape[0]
    if right.shape[0] != h:
        w = max(1, round(right.shape[1] * h / right.shape[0]))
        right = cv2.resize(right, (w, h), interpolation=cv2.INTER_AREA)
    return np.hstack([left, right])


class WindowOutput(Node):
    """Shows the frames in a desktop window."""

    category = "Output"
    inputs = {"frame": Frame, "source_frame": Frame}
    optional_inputs = frozenset({"source_frame"})
    params = {
        "title": Text("nodegraph", help="the window's title (a second window of one title gets its node id after it)"),
        "view": Choice(VIEW_MODES, default="merged",
                       help="merged: the frame input; source: the source_frame input; side_by_side: both"),
    }
    cost_ms = 2.0

    def setup(self):
        has_display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if sys.platform.startswith("linux") and not has_display:
            raise InvalidInput(f"node '{self.id}' (WindowOutput): there is no display to open a window on "
                               "(DISPLAY is not set); run it on a desktop, under Xvfb, or use "
                               "VideoFileOutput or VirtualCameraOutput instead")
        x_display = os.environ.get("DISPLAY")
        if sys.platform.startswith("linux") and x_display and x_display_opens(x_display) is False:
            raise InvalidInput(f"node '{self.id}' (WindowOutput): no X server answers at DISPLAY={x_display} (it "
                               "is not running, or does not let this user in); start the desktop or Xvfb that "
                               "DISPLAY names, set DISPLAY to one that runs, or use VideoFileOutput or "
                               "VirtualCameraOutput instead")
        title = self.title or "nodegraph"
        self._title = f"{title} ({self.id})" if title in windows_shown else title
        windows_shown.add(self._title)
        try:
            cv2.namedWindow(self._title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as e:
            raise InvalidInput(f"node '{self.id}' (WindowOutput): OpenCV cannot open a window here "
                               f"({str(e).strip().splitlines()[-1]}); is this opencv-python-headless? "
                               "Install opencv-python, or use another output") from None
        self._warned = False

    def shown(self, frame: np.ndarray, source: np.ndarray | None) -> np.ndarray:
        if self.view != "merged" and source is None:
            if not self._warned:
                self._warned = True
                log.warning("node '%s' (WindowOutput): view '%s' needs its source_frame input linked; "
                            "showing the frame input", self.id, self.view)
            return frame
        if self.view == "source":
            return source
        if self.view == "side_by_side":
            return side_by_side(source, frame)
        return frame

    def process(self, frame, source_frame=None):
        cv2.imshow(self._title, self.shown(frame, source_frame))
        cv2.waitKey(1)  # lets the window draw and handle its events
        return {}

    def close(self):
        if getattr(self, "_title", None):
            windows_shown.discard(self._title)
            try:
                cv2.destroyWindow(self._title)
                cv2.waitKey(1)
            except cv2.error:
                pass  # already closed by the user


def how_to_get_a_virtual_camera() -> str:
    if sys.platform.startswith("linux"):
        return ("install v4l2loopback and load it: `sudo modprobe v4l2loopback devices=1 exclusive_caps=1` "
                "(package v4l2loopback-dkms)")
    if sys.platform == "darwin":
        return "install OBS Studio (28 or newer) and start its Virtual Camera once (Start Virtual Camera)"
    return ("install OBS Studio and start its Virtual Camera once (Start Virtual Camera), or install "
            "Unity Capture")


class VirtualCameraOutput(Node):
    """Sends the frames to a virtual camera (v4l2loopback on Linux, OBS's on Windows and macOS)."""

    category = "Output"
    inputs = {"frame": Frame}
    params = {
        "backend": Choice(VIRTUAL_CAMERA_BACKENDS, default="auto",
                          help="auto: what this system has (v4l2loopback on Linux, OBS on Windows/macOS)"),
        "device": Text("", help="a device to use, e.g. /dev/video10 on Linux (empty: the first free one)"),
        "width": Int(0, 7680, default=0, help="camera width in px; 0 takes the frame's"),
        "height": Int(0, 4320, default=0, help="camera height in px; 0 takes the frame's"),
        "fps": Float(0.0, 240.0, default=0.0, help="the camera's frame rate; 0 takes the source's"),
        "mirror": Bool(False, help="flip left-right, as a selfie view"),
    }
    cost_ms = 2.0

    def setup(self):
        self.camera = None
        # Open the camera now, so a missing device stops the run before any work; re-opened at the
        # frame's size on the first frame when width or height follow the frame.
        self._open(self.width or PROBE_SIZE[0], self.height or PROBE_SIZE[1])

    def _open(self, width: int, height: int) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise InvalidInput(f"node '{self.id}' (VirtualCameraOutput): the pyvirtualcam package is not "
                               "installed; `pip install pyvirtualcam`") from None
        from pyvirtualcam.camera import BACKENDS

        backend = None if self.backend == "auto" else self.backend
        if backend is not None and backend not in BACKENDS:
            raise InvalidInput(f"node '{self.id}' (VirtualCameraOutput): backend '{backend}' does not exist "
                               f"on this system; it has: {', '.join(BACKENDS) or 'none'} (or use auto)")
        fps = self.fps or self.stream.fps or 30.0
        try:
            self.camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                              device=self.device or None, backend=backend)
        except Exception as e:  # pyvirtualcam raises RuntimeError with each backend's reason
            reasons = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
            raise InvalidInput(f"node '{self.id}' (VirtualCameraOutput): no virtual camera could be opened "
                               f"({reasons or type(e).__name__}). To get one: {how_to_get_a_virtual_camera()}"
                               ) from None
        log.info("node '%s': virtual camera %s (%s), %dx%d at %.3g fps", self.id, self.camera.device,
                 self.camera.backend, width, height, fps)

    def process(self, frame):
        h, w = frame.shape[:2]
        width, height = self.width or w, self.height or h
        if (self.camera.width, self.camera.height) != (width, height):
            self.camera.close()
            self.camera = None
            try:
                self._open(width, height)
            except InvalidInput as e:
                raise RunFailed(str(e)) from None
        if (w, h) != (width, height):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        if self.mirror:
            frame = cv2.flip(frame, 1)
        self.camera.send(np.ascontiguousarray(frame))
        return {}

    def close(self):
        if getattr(self, "camera", None) is not None:
            self.camera.close()
            self.camera = None
