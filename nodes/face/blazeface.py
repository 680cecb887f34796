"""MediaPipe BlazeFace face detector (short and full range) run through onnxruntime.

A detection is a dict: `box` float32 [x0, y0, x1, y1] and `keypoints` float32 6x2, both in frame
pixels, and `score` (float, 0..1). The keypoints are, in order, the subject's right eye, left eye,
nose tip, mouth centre, right ear tragion and left ear tragion (the subject's right eye is on the
image's left in an unmirrored photo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nodegraph.errors import InvalidInput
from nodegraph.modelhub import resolve
from nodegraph.onnx import create_session

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")
SORT_ORDERS = ("largest", "nearest_centre", "left_to_right", "right_to_left", "top_to_bottom")


@dataclass(frozen=True)
class _ModelSpec:
    size: int  # square input side in pixels
    grids: tuple[tuple[int, int], ...]  # (cells per side, anchors per cell) for each stride


# Anchor layouts of MediaPipe's SSD anchor options: every anchor has unit size (fixed_anchor_size),
# so only the centres matter; regressors are in input pixels relative to the anchor centre.
_SPECS = {
    "short": _ModelSpec(size=128, grids=((16, 2), (8, 6))),
    "full": _ModelSpec(size=192, grids=((48, 1),)),
}


def make_anchors(model: str) -> np.ndarray:
    """Anchor centres (N x 2, normalised to the input square) in the order the model emits them."""
    spec = _spec(model)
    parts = []
    for cells, per_cell in spec.grids:
        centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([cx.ravel(), cy.ravel()], axis=1)
        parts.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(parts, axis=0)


def _spec(model: str) -> _ModelSpec:
    if model not in _SPECS:
        raise InvalidInput(f"unknown BlazeFace model {model!r}: use one of {sorted(_SPECS)}")
    return _SPECS[model]


def open_session(session_or_path, default_model: str):
    """A ready onnxruntime session as given, or one made by nodegraph.onnx from a path or a manifest
    name (None: `default_model`, a built-in); the file is checked against the manifest first."""
    if session_or_path is not None and not isinstance(session_or_path, str | Path):
        return session_or_path
    return create_session(resolve(session_or_path if session_or_path is not None else default_model))


def shrunk(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    """The frame scaled so its long side is `size` (aspect kept). Shrinking halves the image with area
    averaging first (OpenCV's fast 2x path), then finishes bilinearly: plain bilinear sampling of a much
    larger frame aliases, which makes the short-range model see faces in pixel noise; a direct INTER_AREA
    resize costs 15x more."""
    h, w = frame_bgr.shape[:2]
    new_w, new_h = max(1, round(w * size / max(h, w))), max(1, round(h * size / max(h, w)))
    image = frame_bgr
    while image.shape[1] >= 2 * new_w and image.shape[0] >= 2 * new_h:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if image.shape[:2] == (new_h, new_w):
        return image
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def letterbox(frame_bgr: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame fitted into a `size` square (`shrunk`, centred, black bars) and the 2x3 matrix
    frame -> square."""
    h, w = frame_bgr.shape[:2]
    resized = shrunk(frame_bgr, size)
    new_h, new_w = resized.shape[:2]
    left, top = (size - new_w) // 2, (size - new_h) // 2
    square = cv2.copyMakeBorder(
        resized, top, size - new_h - top, left, size - new_w - left, cv2.BORDER_CONSTANT, value=(0, 0, 0)
    )
    matrix = np.array([[new_w / w, 0.0, left], [0.0, new_h / h, top]], dtype=np.float64)
    return square, matrix


def decode(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, size: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (boxes K x 4, keypoints K x 6 x 2, scores K) in input pixels, score >= threshold."""
    logits = np.clip(logits.reshape(-1), -50.0, 50.0)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = np.nonzero(scores >= threshold)[0]
    reg = regressors.reshape(-1, 16)[keep]
    centres = anchors[keep] * size
    cx = centres[:, 0] + reg[:, 0]
    cy = centres[:, 1] + reg[:, 1]
    half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = reg[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return boxes.astype(np.float32), keypoints.astype(np.float32), scores[keep].astype(np.float32)


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def non_max_suppression(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.3,
    weighted: bool = True,
):
    """Greedy NMS by score. Weighted (MediaPipe's blending): each kept detection's box and keypoints
    become the score-weighted mean of the detections it suppresses, which steadies them over frames."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    out_boxes, out_kps, out_scores = [], [], []
    while remaining.size:
        overlap = iou_one_to_many(boxes[remaining[0]], boxes[remaining])
        group = remaining[overlap > iou_threshold]
        group = group if group.size else remaining[:1]
        if weighted:
            weights = scores[group] / scores[group].sum()
            out_boxes.append(weights @ boxes[group])
            out_kps.append(np.tensordot(weights, keypoints[group], axes=1))
        else:
            out_boxes.append(boxes[remaining[0]])
            out_kps.append(keypoints[remaining[0]])
        out_scores.append(scores[remaining[0]])
        remaining = remaining[overlap <= iou_threshold]
    if not out_scores:
        return np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0, np.float32)
    return (
        np.asarray(out_boxes, np.float32),
        np.asarray(out_kps, np.float32),
        np.asarray(out_scores, np.float32),
    )


class BlazeFace:
    """Finds faces in a BGR frame. `session_or_path`: an onnxruntime session (any provider), a path to
    the .onnx file, or None for the built-in model of that kind."""

    def __init__(self, session_or_path=None, model: str = "full", nms: str = "weighted"):
        spec = _spec(model)
        if nms not in ("weighted", "plain"):
            raise InvalidInput(f"unknown NMS mode {nms!r}: use 'weighted' or 'plain'")
        self.model = model
        self.size = spec.size
        self.weighted_nms = nms == "weighted"
        self.session = open_session(session_or_path, f"blazeface_{model}")
        self.anchors = make_anchors(model)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        # the regressors (..., 16) and the scores (..., 1), told apart by shape, not by name or order
        by_width = {o.shape[-1]: o.name for o in outputs if list(o.shape[1:2]) == [len(self.anchors)]}
        if (
            len(inputs) != 1
            or list(inputs[0].shape)[1:] != [3, spec.size, spec.size]
            or set(by_width) != {16, 1}
        ):
            raise InvalidInput(
                f"BlazeFace {model!r} model must take one 1x3x{spec.size}x{spec.size} input and give "
                f"1x{len(self.anchors)}x16 and 1x{len(self.anchors)}x1 outputs; this one takes "
                f"{[i.shape for i in inputs]} and gives {[o.shape for o in outputs]}: "
                "pick the matching model kind"
            )
        self.input_name = inputs[0].name
        self.output_names = [by_width[16], by_width[1]]

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(NCHW float32 RGB tensor in [-1, 1], the 2x3 letterbox matrix frame -> input)."""
        square, matrix = letterbox(frame_bgr, self.size)
        tensor = cv2.dnn.blobFromImage(square, scalefactor=1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
        return tensor, matrix

    def detect(
        self,
        frame_bgr: np.ndarray,
        threshold: float = 0.5,
        max_faces: int | None = None,
        min_size_px: float = 0,
    ) -> list[dict]:
        """Faces in the frame, best score first, at most `max_faces` (None: all), boxes at least
        `min_size_px` wide and high."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise InvalidInput(
                f"BlazeFace.detect needs a BGR uint8 H x W x 3 frame, got {frame_bgr.shape} {frame_bgr.dtype}"
            )
        tensor, matrix = self.preprocess(frame_bgr)
        regressors, logits = self.session.run(self.output_names, {self.input_name: tensor})
        boxes, keypoints, scores = decode(regressors, logits, self.anchors, self.size, threshold)
        boxes, keypoints, scores = non_max_suppression(boxes, keypoints, scores, weighted=self.weighted_nms)
        # undo the letterbox: input pixels -> frame pixels
        scale = np.array([matrix[0, 0], matrix[1, 1]], np.float32)
        offset = np.array([matrix[0, 2], matrix[1, 2]], np.float32)
        boxes = ((boxes.reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
        keypoints = (keypoints - offset) / scale
        faces = []
        for box, kps, score in zip(boxes, keypoints, scores, strict=True):
            if min(box[2] - box[0], box[3] - box[1]) < min_size_px:
                continue
            faces.append(
                {"box": box.astype(np.float32), "score": float(score), "keypoints": kps.astype(np.float32)}
            )
            if max_faces is not None and len(faces) >= max_faces:
                break
        return faces


def sort_faces(faces: list[dict], order: str, frame_shape) -> list[dict]:
    """The faces reordered: largest (box area) first, nearest the frame centre first, by box centre
    left to right, right to left, or top to bottom."""
    if order not in SORT_ORDERS:
        raise InvalidInput(f"unknown face order {order!r}: use one of {', '.join(SORT_ORDERS)}")
    h, w = frame_shape[:2]

    def centre(face):
        x0, y0, x1, y1 = face["box"]
        return (x0 + x1) / 2, (y0 + y1) / 2

    keys = {
        "largest": lambda f: -float((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1])),
        "nearest_centre": lambda f: float(np.hypot(centre(f)[0] - w / 2, centre(f)[1] - h / 2)),
        "left_to_right": lambda f: float(centre(f)[0]),
        "right_to_left": lambda f: -float(centre(f)[0]),
        "top_to_bottom": lambda f: float(centre(f)[1]),
    }
    return sorted(faces, key=keys[order])
