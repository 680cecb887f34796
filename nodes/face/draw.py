"""Preview pictures of face records: boxes with scores, dotted landmarks, tiled crops with their masks."""

from __future__ import annotations

import cv2
import numpy as np

from .landmarks_data import FACE_OVAL

PREVIEW_SIDE = 640  # frames are scaled down to this longest side before drawing
TILE = 128
_BOX = (0, 220, 0)
_KEYPOINT = (0, 160, 255)
_LANDMARK = (255, 255, 0)
_SMALL_FACE = 40  # preview px: a face's box narrower than this gets 1 px marks, so the face shows through
_COVER = 0.25  # landmark dots cover at most about this share of the face's box, else they are thinned


def _scaled(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """A drawable copy of the frame at most PREVIEW_SIDE px long, and its scale."""
    h, w = frame.shape[:2]
    scale = min(1.0, PREVIEW_SIDE / max(h, w))
    if scale < 1.0:
        return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA), scale
    return frame.copy(), scale


def _side(face: dict, scale: float) -> float:
    """The long side of the face's box in the preview, px."""
    x0, y0, x1, y1 = np.asarray(face["box"], np.float64) * scale
    return max(x1 - x0, y1 - y0)


def draw_boxes(frame: np.ndarray, faces: list[dict]) -> np.ndarray:
    """The frame with each face's box, score, track id and keypoints; thin marks on a small face."""
    picture, scale = _scaled(frame)
    for face in faces:
        small = _side(face, scale) < _SMALL_FACE
        x0, y0, x1, y1 = (int(round(float(v) * scale)) for v in face["box"])
        cv2.rectangle(picture, (x0, y0), (x1, y1), _BOX, 1 if small else 2, cv2.LINE_AA)
        label = f"{face.get('score', 0.0):.2f}"
        if "track_id" in face:
            label = f"#{face['track_id']} {label}"
        cv2.putText(picture, label, (x0, max(12, y0 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, _BOX, 1,
                    cv2.LINE_AA)
        for x, y in np.asarray(face.get("keypoints", np.zeros((0, 2))))[:, :2] * scale:
            cv2.circle(picture, (int(round(x)), int(round(y))), 0 if small else 2, _KEYPOINT, -1)
    return picture


def draw_landmarks(frame: np.ndarray, faces: list[dict]) -> np.ndarray:
    """The frame with each face's landmarks as dots, as many and as large as leave the face visible:
    3 px dots, else 1 px dots, else (a face a few px across) only the face's outline."""
    picture, scale = _scaled(frame)
    for face in faces:
        points = face.get("landmarks")
        if points is None:
            continue
        points = np.round(np.asarray(points)[:, :2] * scale).astype(np.int32)
        room = _COVER * _side(face, scale) ** 2 if "box" in face else np.inf
        if len(points) > room:
            cv2.polylines(picture, [points[list(FACE_OVAL)]], True, _LANDMARK, 1)
            continue
        radius = 1 if 9 * len(points) <= room else 0
        for x, y in points:
            cv2.circle(picture, (int(x), int(y)), radius, _LANDMARK, -1)
    return picture


def tile_crops(crops: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray | None:
    """One row per face: the crop, and beside it the crop dimmed outside its mask (when it has one)."""
    if not crops:
        return None
    rows = []
    for crop, mask in crops:
        image = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
        if mask is None:
            rows.append(np.hstack([image, np.zeros_like(image)]))
            continue
        weight = cv2.resize(mask, (TILE, TILE), interpolation=cv2.INTER_AREA)[..., None]
        masked = (image * (0.25 + 0.75 * weight)).astype(np.uint8)
        rows.append(np.hstack([image, masked]))
    return np.vstack(rows)


def note_picture(lines: list[str], size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A dark picture with a few centred lines of text: a preview that says why there is nothing to show."""
    width, height = size
    picture = np.full((height, width, 3), 34, np.uint8)
    scale, thickness, gap = 0.6, 1, 30
    top = height // 2 - gap * (len(lines) - 1) // 2
    for i, line in enumerate(lines):
        (w, h), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        cv2.putText(picture, line, ((width - w) // 2, top + i * gap + h // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (200, 200, 200), thickness, cv2.LINE_AA)
    return picture
