"""The detector's and the marker's previews on a small face, with the real models: a 40 px face in a 1080p
frame is 13 px across in the 640 x 360 preview, and its marks must leave it visible (2 px outlines and
5 px keypoint dots covered it all, the 468 landmark dots made it one cyan blob)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nodes.detect import FaceDetector
from nodes.detect_bench import MEDIA, placed
from nodes.face.draw import PREVIEW_SIDE
from nodes.landmarks import FaceMarker


@pytest.fixture(scope="module")
def small_face():
    """A 1080p frame with the astronaut's face 40 px tall, and the detector and marker that saw it."""
    frame, _ = placed(cv2.imread(str(MEDIA / "astronaut.png")), 40)
    detector = FaceDetector("detector", {"tile_size": 480, "smoothing": False})
    marker = FaceMarker("marker", {"smoothing": False})
    detector.setup()
    marker.setup()
    [face] = marker.process(frame, detector.process(frame)["faces"])["faces"]
    return frame, face, detector, marker


def unchanged_share(picture: np.ndarray, frame: np.ndarray, box) -> float:
    """The share of the face box's inside (its outline left out) that the preview shows as the frame is."""
    scale = PREVIEW_SIDE / max(frame.shape[:2])
    plain = cv2.resize(frame, picture.shape[1::-1], interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = np.round(np.asarray(box) * scale).astype(int)
    inside = np.s_[y0 + 2:y1 - 1, x0 + 2:x1 - 1]
    return float(np.all(picture[inside] == plain[inside], axis=-1).mean())


def test_the_marks_on_a_small_face_leave_it_visible(small_face):
    frame, face, detector, marker = small_face
    boxes, landmarks = detector.preview(None), marker.preview(None)
    assert unchanged_share(boxes, frame, face["box"]) > 0.8
    assert unchanged_share(landmarks, frame, face["box"]) > 0.8
    # the marks are still there: the box's outline and the face's outline in landmarks
    plain = cv2.resize(frame, boxes.shape[1::-1], interpolation=cv2.INTER_AREA)
    for picture in (boxes, landmarks):
        assert np.any(picture != plain, axis=-1).sum() >= 30
