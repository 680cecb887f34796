"""How high the eyebrows sit above the eyes: the portrait's own height, moved as the driver's brows move.

The brows' height above the eyes is part of a face's identity, and FaceMesh can misplace it: on Grace
Hopper it puts the brows on the top rim of her glasses, about 0.15 inter-ocular distances above the eye
line where dlib (and the eye) finds them at 0.19-0.25. A swap that puts the portrait's brows where the
driver's FaceMesh points are copies that error (and a portrait's misplaced brows put its real brows too
high). So each of the driver's brow points is moved to the portrait's height for it, plus the driver's
own change from its rest height: the brows still rise and fall with the driver's, from the portrait's
rest. The rest height is the driver's mean over its last REST_FRAMES frames (per tracked face): a
window, not a running mean, so a run started later (a farm's chunk after its warm-up) holds exactly the
same rest as one long run once both have seen the same REST_FRAMES frames.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .landmarks_data import LEFT_EYE_OUTER, LEFT_EYEBROW, RIGHT_EYE_OUTER, RIGHT_EYEBROW

BROWS = list(RIGHT_EYEBROW + LEFT_EYEBROW)
REST_FRAMES = 150  # the frames the rest height is the mean of
MAX_SHIFT = 0.08  # inter-ocular distances: a larger move would fold the mesh's triangles above the brows
FORGET_AFTER = 30  # frames a face may be missing (a blink of the detector, a hand over it) and keep its rest


def _eye_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(the eye line's middle, the face's downward unit vector, the inter-ocular distance)."""
    across = points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2]
    distance = float(np.hypot(*across))
    middle = (points[LEFT_EYE_OUTER, :2] + points[RIGHT_EYE_OUTER, :2]) / 2
    return middle, np.array([-across[1], across[0]]) / distance, distance


def brow_heights(points: np.ndarray) -> np.ndarray:
    """The height of each brow point (BROWS) above the line through the outer eye corners, across the
    face, in inter-ocular distances."""
    middle, down, distance = _eye_frame(points)
    return (middle - points[BROWS, :2]) @ down / distance


class BrowHeight:
    """Moves driving faces' brow points to a portrait's brow heights plus each driver's own motion."""

    def __init__(self):
        self._rest: dict = {}  # track id -> its last REST_FRAMES brow heights
        self._missing: dict = {}  # track id -> frames in a row it was not seen

    def moved(self, points: np.ndarray, portrait_heights: np.ndarray, track) -> np.ndarray:
        """A copy of `points` (468 x 2 or 3, one driving face, track id `track`) with its brow points moved
        across the face by the portrait's height less the driver's rest height, at most MAX_SHIFT."""
        heights = brow_heights(points)
        window = self._rest.setdefault(track, deque(maxlen=REST_FRAMES))
        window.append(heights)
        rest = np.mean(window, axis=0)
        _, down, distance = _eye_frame(points)
        lift = np.clip(portrait_heights - rest, -MAX_SHIFT, MAX_SHIFT) * distance
        moved = np.array(points, np.float64, copy=True)
        moved[BROWS, :2] -= lift[:, None] * down
        return moved

    def frame_seen(self, tracks) -> None:
        """Called once a frame with the tracks in it: forget the rest heights of faces missing for more than
        FORGET_AFTER frames."""
        present = set(tracks)
        self._missing = {track: 0 if track in present else self._missing.get(track, 0) + 1 for track in self._rest}
        for track in [t for t, missed in self._missing.items() if missed > FORGET_AFTER]:
            del self._rest[track], self._missing[track]
