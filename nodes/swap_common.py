"""What the swappers (and the colour transfer after them) share: which faces to swap, the driver's
crop through a swap's matrix, the preview of a swap, and the face of an identity portrait."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .face.blazeface import BlazeFace
from .face.facemesh import FaceMesh

log = logging.getLogger("nodegraph")

PREVIEW_TILE = 128
PORTRAIT_THRESHOLD = 0.5  # detection score, and FaceMesh's presence, that count as a clear face


def chosen_faces(faces: list, which: str, index: int) -> set[int]:
    if which == "all":
        return set(range(len(faces)))
    return {index} if index < len(faces) else set()


def swap_preview(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """One row per swapped face: driver crop | swap | mask, each PREVIEW_TILE px square."""
    if not rows:
        return None
    size = (PREVIEW_TILE, PREVIEW_TILE)
    lines = []
    for driver, swap, mask in rows:
        mask8 = cv2.cvtColor(np.clip(mask * 255.0, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        lines.append(np.hstack([cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                                for image in (driver, swap, mask8)]))
    return np.vstack(lines)


def crop_geometry(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The frame seen through `matrix` (frame -> crop) in a size x size crop. Cubic: a crop that is
    upsampled, swapped and pasted back loses visibly less detail than with bilinear sampling."""
    return cv2.warpAffine(frame, np.asarray(matrix, np.float64), (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def portrait_face(image: np.ndarray, detector: BlazeFace, mesh: FaceMesh,
                  what: str) -> tuple[dict, np.ndarray | None] | None:
    """The largest face of a portrait: its detection and its 468 landmarks (None when FaceMesh is not
    sure they are a face); None when nothing is detected. A picture with several faces is said, naming
    `what` (the node, param and file) and the face taken."""
    detections = detector.detect(image, threshold=PORTRAIT_THRESHOLD)
    if not detections:
        return None
    best = max(detections, key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))
    if len(detections) > 1:
        x0, y0, x1, y1 = (round(float(v)) for v in best["box"])
        log.warning("%s: %d faces in this picture; the largest (%dx%d px at x %d, y %d) is the identity",
                    what, len(detections), x1 - x0, y1 - y0, x0, y0)
    landmarks, presence = mesh.landmarks(image, best["box"], best["keypoints"])
    return best, (landmarks if presence > PORTRAIT_THRESHOLD else None)
