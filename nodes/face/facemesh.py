"""MediaPipe FaceMesh: 468 3-D face landmarks from a face box, run through onnxruntime.

The face is cropped as a square around the box (1.5x its long side, like MediaPipe), turned so the
eye line is horizontal when keypoints are given, and resized to the model's 192 px in one
`cv2.warpAffine`; the points come back through the inverse of that affine. For tracking, the next
frame's crop can come from the last landmarks (`box_from_landmarks`) instead of the detector.
"""

from __future__ import annotations

import cv2
import numpy as np

from nodegraph.errors import InvalidInput
from nodes.face.align import umeyama
from nodes.face.blazeface import open_session
from nodes.face.landmarks_data import (
    LEFT_EYE_CONTOUR,
    LEFT_EYE_OUTER,
    LEFT_TRAGION_APPROX,
    LIPS_INNER,
    NOSE_TIP,
    RIGHT_EYE_CONTOUR,
    RIGHT_EYE_OUTER,
    RIGHT_TRAGION_APPROX,
    mean_face,
)

INPUT_SIZE = 192
CROP_MARGIN = 1.5


def crop_matrix(box, keypoints=None, margin: float = CROP_MARGIN, size: int = INPUT_SIZE) -> np.ndarray:
    """2x3 affine frame -> crop: a square of `margin` x the box's long side around the box centre,
    turned so the line from the right eye (keypoints[0]) to the left eye (keypoints[1]) is horizontal."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = margin * max(x1 - x0, y1 - y0)
    if not side > 0:
        raise InvalidInput(f"face box {list(box)} is empty: FaceMesh needs a box with positive size")
    cos, sin = 1.0, 0.0
    if keypoints is not None:
        eye_line = np.asarray(keypoints, np.float64)[1] - np.asarray(keypoints, np.float64)[0]
        length = np.hypot(*eye_line)
        if length > 0:
            cos, sin = eye_line / length
    k = size / side
    rotation = k * np.array([[cos, sin], [-sin, cos]])
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    return np.hstack([rotation, (size / 2 - rotation @ centre)[:, None]])


def points_to_frame(points_crop: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop-pixel points (N x 2 or N x 3) back to frame pixels; z is scaled like x and y."""
    inverse = cv2.invertAffineTransform(matrix)
    out = np.empty_like(points_crop, dtype=np.float32)
    out[:, :2] = points_crop[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    if points_crop.shape[1] == 3:
        out[:, 2] = points_crop[:, 2] * np.sqrt(abs(np.linalg.det(inverse[:, :2])))
    return out


def keypoints_from_landmarks(points: np.ndarray) -> np.ndarray:
    """BlazeFace-style 6 keypoints (right eye, left eye, nose tip, mouth centre, right and left ear
    tragion) taken from 468 landmarks, so a landmark-derived crop is turned like a detected one."""
    xy = np.asarray(points)[:, :2]
    return np.stack(
        [
            xy[list(RIGHT_EYE_CONTOUR)].mean(axis=0),
            xy[list(LEFT_EYE_CONTOUR)].mean(axis=0),
            xy[NOSE_TIP],
            xy[list(LIPS_INNER)].mean(axis=0),
            xy[RIGHT_TRAGION_APPROX],
            xy[LEFT_TRAGION_APPROX],
        ]
    ).astype(np.float32)


def box_from_landmarks(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(box, keypoints) for the next frame's crop, from this frame's landmarks (MediaPipe-style
    tracking). The box is the landmarks' extent measured along and across the eye line, centred on
    them: on the portraits in presets/media it is within 2% of BlazeFace's box, so the crop the model
    sees is the same whether it came from the detector or from the tracker."""
    xy = np.asarray(points, np.float64)[:, :2]
    eye_line = xy[LEFT_EYE_OUTER] - xy[RIGHT_EYE_OUTER]
    cos, sin = eye_line / max(np.hypot(*eye_line), 1e-9)
    rotation = np.array([[cos, sin], [-sin, cos]])
    local = xy @ rotation.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    centre = rotation.T @ ((lo + hi) / 2)
    half = max(hi - lo) / 2
    box = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half], np.float32)
    return box, keypoints_from_landmarks(points)


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 468 3-D landmarks, the rotation of the best similarity fit
    of the frontal mean face onto them, taken apart as roll first, then yaw, then pitch.
    Yaw > 0: the nose turns toward the image's right; pitch > 0: the face looks up; roll > 0: the face
    leans clockwise on screen."""
    transform = umeyama(mean_face(), np.asarray(points, np.float64)[:, :3])
    rotation = transform[:3, :3] / np.cbrt(np.linalg.det(transform[:3, :3]))
    yaw = -np.degrees(np.arcsin(np.clip(rotation[0, 2], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rotation[1, 2], rotation[2, 2]))
    roll = np.degrees(np.arctan2(-rotation[0, 1], rotation[0, 0]))
    return float(yaw), float(pitch), float(roll)


class FaceMesh:
    """468 landmarks of one face. `session_or_path`: an onnxruntime session (any provider), a path to
    the .onnx file, or None for the built-in model."""

    def __init__(self, session_or_path=None):
        self.session = open_session(session_or_path, "facemesh")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        # the landmarks (468 x 3 values) and the presence logit (1 value), told apart by size
        by_size = {int(np.prod([d for d in o.shape if isinstance(d, int)])): o.name for o in outputs}
        if (
            len(inputs) != 1
            or list(inputs[0].shape)[1:] != [3, INPUT_SIZE, INPUT_SIZE]
            or not {1404, 1} <= set(by_size)
        ):
            raise InvalidInput(
                f"FaceMesh model must take one 1x3x{INPUT_SIZE}x{INPUT_SIZE} input and give 468x3 "
                f"landmarks and a face score; this one takes {[i.shape for i in inputs]} and gives "
                f"{[o.shape for o in outputs]}: use MediaPipe's face_landmark model"
            )
        self.input_name = inputs[0].name
        self.output_names = [by_size[1404], by_size[1]]

    def landmarks(self, frame_bgr: np.ndarray, box, keypoints=None) -> tuple[np.ndarray, float]:
        """(468 x 3 float32 points in frame pixels, z scaled like x; face presence 0..1)."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise InvalidInput(
                "FaceMesh.landmarks needs a BGR uint8 H x W x 3 frame, "
                f"got {frame_bgr.shape} {frame_bgr.dtype}"
            )
        matrix = crop_matrix(box, keypoints)
        crop = cv2.warpAffine(frame_bgr, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR)
        tensor = cv2.dnn.blobFromImage(crop, scalefactor=1 / 255.0, swapRB=True)
        raw_points, logit = self.session.run(self.output_names, {self.input_name: tensor})
        points = points_to_frame(raw_points.reshape(468, 3), matrix)
        presence = 1.0 / (1.0 + np.exp(-float(np.clip(logit.reshape(-1)[0], -50.0, 50.0))))
        return points, float(presence)
