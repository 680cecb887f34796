"""Landmark smoothing over time: the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012).

A first-order low-pass whose cutoff rises with speed: a still face gets heavy smoothing (no jitter),
a moving one little (no lag). It runs on frame times (`frame_time`), so dropped frames and uneven frame
rates are handled, and on whole point arrays at once (468 x 2 or x 3 costs microseconds).

Two changes from the paper, both as in MediaPipe's landmark smoothing or beyond it:
- Speed is measured in face sizes per second (the face size being the mean of the width and height of
  the points' bounding box), so one set of parameters fits a small face far away and a large one
  close up: both jitter and motion grow with the face's size in pixels.
- The speed that opens the filter is each point's speed (the length of its velocity vector), not each
  coordinate's: a point moving diagonally is treated like one moving along an axis, and x and y of a
  point keep the same lag, so the face shape does not shear.
"""

from __future__ import annotations

import math

import numpy as np


def frame_time(node) -> float:
    """When a node's frame was taken, in seconds, for its filters: in a video file, the frame's time in
    the video (frame id / fps), so a file is smoothed alike however fast it is processed; for a live
    stream, the capture clock."""
    stream = node.stream
    if stream.media is not None and stream.fps:
        return node.frame_id / stream.fps
    return node.capture_time


def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Smooths a stream of point arrays (N x D, N >= 2). `min_cutoff` (Hz): smoothing of a still face,
    lower is smoother; `beta` (Hz added to the cutoff per face size per second of speed): how fast
    smoothing gives way to motion, higher lags less; `d_cutoff` (Hz): smoothing of the speed itself."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(
                "One-Euro filter needs min_cutoff > 0, d_cutoff > 0, beta >= 0; "
                f"got {min_cutoff}, {d_cutoff}, {beta}"
            )
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.reset()

    def reset(self) -> None:
        self._value: np.ndarray | None = None
        self._velocity: np.ndarray | None = None
        self._time: float | None = None

    def __call__(self, points: np.ndarray, time_s: float) -> np.ndarray:
        """The smoothed points at capture time `time_s` (seconds). The filter starts over when the
        number of points changes or time does not go forward (a video looping, a new source)."""
        points = np.asarray(points, np.float64)
        if points.ndim != 2 or points.shape[0] < 2:
            raise ValueError(
                f"One-Euro filter smooths N x D point arrays with N >= 2, got shape {points.shape}"
            )
        if self._value is None or self._value.shape != points.shape or time_s <= self._time:
            self._value = points.copy()
            self._velocity = np.zeros_like(points)
            self._time = time_s
            return points.astype(np.float32)
        dt = time_s - self._time
        self._time = time_s
        extent = points[:, :2].max(axis=0) - points[:, :2].min(axis=0)
        face_size = max(float(extent.mean()), 1e-6)
        velocity = (points - self._value) / (dt * face_size)
        self._velocity += _alpha(self.d_cutoff, dt) * (velocity - self._velocity)
        speed = np.linalg.norm(self._velocity, axis=-1, keepdims=True)
        alpha = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._value += alpha * (points - self._value)
        return self._value.astype(np.float32)
