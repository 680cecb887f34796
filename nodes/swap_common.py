"""What the swappers (and the colour transfer after them) share: which faces to swap, a face's five
points, the driver's crop through a swap's matrix, the swap masks, the preview of a swap, and the face and
ArcFace embedding of an identity portrait."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from nodegraph.errors import InvalidInput
from nodegraph.onnx import create_session

from .face.align import align_5pt, five_points_from_keypoints, five_points_from_landmarks, hull_mask_in_crop, umeyama
from .face.blazeface import BlazeFace
from .face.facemesh import FaceMesh
from .face.records import updated
from .media import read_image
from .model_fit import arcface_fit
from .onnx_models import first_op_types
from .pixel_boost import run_boosted

log = logging.getLogger("nodegraph")

PREVIEW_TILE = 128
PORTRAIT_THRESHOLD = 0.5  # detection score, and FaceMesh's presence, that count as a clear face


def chosen_faces(faces: list, which: str, index: int) -> set[int]:
    if which == "all":
        return set(range(len(faces)))
    return {index} if index < len(faces) else set()


@lru_cache(maxsize=8)
def soft_mask(size: int, shape: str) -> np.ndarray:
    """A size x size float32 mask, 1 in the middle fading to 0 at the border: a square or an ellipse
    (read-only: it is shared)."""
    margin = max(2, size // 16)
    mask = np.zeros((size, size), np.uint8)
    if shape == "ellipse":
        axes = (size // 2 - margin, int(size * 0.47) - margin)
        cv2.ellipse(mask, (size // 2, int(size * 0.53)), axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
    else:
        mask[margin:size - margin, margin:size - margin] = 255
    blur = max(1, margin) * 2 + 1
    soft = cv2.GaussianBlur(mask, (blur, blur), 0).astype(np.float32) / 255.0
    soft.setflags(write=False)
    return soft


def five_points(face: dict) -> np.ndarray | None:
    """The ArcFace 5 points of a face record: from its 468 landmarks, else its 6 or 5 keypoints."""
    landmarks = face.get("landmarks")
    if landmarks is not None and len(landmarks) == 468:
        return five_points_from_landmarks(landmarks)
    keypoints = face.get("keypoints")
    if keypoints is None:
        return None
    keypoints = np.asarray(keypoints, np.float32)[:, :2]
    if len(keypoints) == 6:
        return five_points_from_keypoints(keypoints)
    return keypoints if len(keypoints) == 5 else None


def swap_mask(choice: str, face: dict, matrix: np.ndarray, size: int) -> np.ndarray:
    """The `mask` param's mask for a size px swap: the landmarks' hull (when the face has its 468), else a
    soft ellipse or square."""
    landmarks = face.get("landmarks")
    if choice == "hull" and landmarks is not None and len(landmarks) == 468:
        return hull_mask_in_crop(landmarks, matrix, size)
    return soft_mask(size, "square" if choice == "square" else "ellipse")


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


def swap_chosen_faces(frame: np.ndarray, faces: list, chosen: set[int], template: Callable, crop_size: int,
                      model_size: int, run_tile: Callable, mask_of: Callable) -> tuple[list, list]:
    """The one-shot swappers' loop: each chosen face with five points is cut on `template(crop_size)`, run
    tile by tile (pixel boost) through `run_tile` (RGB 0..1 out), and given its swap, matrix and
    `mask_of(face, matrix, crop_size, results)`; returns (faces, preview rows (crop, swap, mask))."""
    out, rows = [], []
    for i, face in enumerate(faces):
        five = five_points(face) if i in chosen else None
        if five is None:
            out.append(face)
            continue
        matrix = umeyama(five, template(crop_size))[:2].astype(np.float32)
        crop = crop_geometry(frame, matrix, crop_size)
        results = run_boosted(crop, model_size, run_tile)
        swap = cv2.cvtColor((np.clip(results[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        mask = mask_of(face, matrix, crop_size, results)
        out.append(updated(face, swap=swap, swap_matrix=matrix, swap_mask=mask))
        rows.append((crop, swap, mask))
    return out, rows


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


def portrait_five_points(portrait_path: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(the picture at `portrait_path`, the five points of its largest face: from FaceMesh's landmarks, else
    BlazeFace's keypoints); InvalidInput naming `where` when it has no face."""
    portrait = read_image(portrait_path)
    found = portrait_face(portrait, BlazeFace(), FaceMesh(), f"{where}: {portrait_path}")
    if found is None:
        raise InvalidInput(f"{where}: {portrait_path}: no face found in this picture; use a clear, frontal portrait")
    detection, landmarks = found
    five = (five_points_from_keypoints(detection["keypoints"]) if landmarks is None
            else five_points_from_landmarks(landmarks))
    return portrait, five


class Recogniser:
    """An ArcFace recogniser (w600k_r50 and its exports): a portrait's identity embedding, unnormalised."""

    def __init__(self, path: Path, provider: str, label: str, dim: int | None = 512):
        self.path = path
        self.session = create_session(path, provider=provider, label=label)
        self.size = arcface_fit(path, self.session, dim)
        # InsightFace's ArcFaceONNX: a recogniser whose graph starts with Sub and Mul normalises itself and
        # takes 0..255 pixels (its first 8 nodes are looked at)
        self.normalises = {"Sub", "Mul"} <= set(first_op_types(path, 8))

    def portrait_embedding(self, portrait_path: str, where: str) -> np.ndarray:
        """The embedding of the largest face of the picture at `portrait_path`, aligned to InsightFace's
        ArcFace template (FaceFusion's arcface_112_v2); InvalidInput naming `where` when it has no face."""
        portrait, five = portrait_five_points(portrait_path, where)
        crop, _ = align_5pt(portrait, five, self.size)
        if self.normalises:
            blob = cv2.dnn.blobFromImage(crop, 1.0, swapRB=True)
        else:
            blob = cv2.dnn.blobFromImage(crop, 1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
        embedding = self.session.run(None, {self.session.get_inputs()[0].name: blob})[0].reshape(-1)
        if not np.isfinite(embedding).all() or not embedding.any():
            raise InvalidInput(f"{where}: the recogniser {self.path} gave an empty embedding for {portrait_path}; "
                               "check that it is an ArcFace model")
        return embedding.astype(np.float32)


def unit(vector: np.ndarray, what: str) -> np.ndarray:
    """`vector` / its length, as a [1, D] float32 row; InvalidInput naming `what` when it is empty."""
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0:
        raise InvalidInput(f"{what}: gave an empty identity vector")
    return (vector / norm).astype(np.float32).reshape(1, -1)
