"""Named FaceMesh landmarks, regions, mesh triangles and the mean face.

Numbers are MediaPipe's 468-point numbering; "right" and "left" are the subject's (the right eye is
on the image's left in an unmirrored photo). The triangles and region loops are MediaPipe's own
(Apache-2.0), read out of the mediapipe wheel into data/facemesh_topology.json; the mean face is
measured with FaceMesh (data/mean_face.npy). data/build_face_data.py rebuilds both and says how.
DeepFaceLive's mean face for .dfm crops is MediaPipe's canonical face UV coordinates moved by a
similarity (data/dfl_mean_face.json, rebuilt and explained by data/build_dfl_template.py).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"

_topology = json.loads((DATA_DIR / "facemesh_topology.json").read_text())
_contours = _topology["contours"]

# 852 x 3 vertex indices: the mesh MediaPipe draws (FACE_LANDMARKS_TESSELATION). It has holes at the
# eyes and the inner mouth, so a mesh warp leaves those regions out.
TRIANGLES = np.asarray(_topology["triangles"], dtype=np.int32)

# Ordered closed loops.
LIPS_OUTER = tuple(_contours["lips_outer"])
LIPS_INNER = tuple(_contours["lips_inner"])  # the inner-mouth opening
RIGHT_EYE_CONTOUR = tuple(_contours["right_eye"])  # the eyelid opening, starting at the outer corner
LEFT_EYE_CONTOUR = tuple(_contours["left_eye"])
FACE_OVAL = tuple(_contours["face_oval"])  # from the top of the forehead, over the subject's left side
# Lower and upper eyebrow lines, each from the outer end inwards.
RIGHT_EYEBROW = tuple(i for line in _contours["right_eyebrow"] for i in line)
LEFT_EYEBROW = tuple(i for line in _contours["left_eyebrow"] for i in line)

RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
NOSE_TIP = 1
MOUTH_RIGHT_CORNER, MOUTH_LEFT_CORNER = 61, 291
FOREHEAD_TOP, CHIN = 10, 152
# Where the face oval passes the ears at eye height: the nearest FaceMesh has to BlazeFace's tragion.
RIGHT_TRAGION_APPROX, LEFT_TRAGION_APPROX = 234, 454


@lru_cache(maxsize=1)
def mean_face() -> np.ndarray:
    """468 x 3 float32 frontal mean face, normalised like DeepFaceLab's 68-point mean face (outer
    brow ends at x = 0 and 1, eye corners at y = 0.22, y down); z scaled like x, smaller is nearer."""
    face = np.load(DATA_DIR / "mean_face.npy")
    face.setflags(write=False)
    return face


@lru_cache(maxsize=1)
def _dfl_data() -> dict:
    return json.loads((DATA_DIR / "dfl_mean_face.json").read_text())


@lru_cache(maxsize=1)
def dfl_mean_face() -> np.ndarray:
    """468 x 2 float64 (read-only): DeepFaceLive's mean face for .dfm crops, in its face units (the
    crop's unit square; x right, y down), derived from MediaPipe's canonical face UV coordinates by
    data/build_dfl_template.py."""
    points = np.asarray(_dfl_data()["points"], np.float64)
    points.setflags(write=False)
    return points


def dfl_fit_indices() -> tuple[int, ...]:
    """The 152 landmarks DeepFaceLive fits to its mean face: all but the parts that move (lips, eyelids,
    brows, jaw)."""
    return tuple(_dfl_data()["fit_indices"])
