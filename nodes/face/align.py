"""Face alignment: similarity fits, templates, aligned crops and their masks.

Two kinds of crop:
- `align_face`: DeepFaceLive's kind, for .dfm swappers. The 152 FaceMesh points DeepFaceLive fits
  (`dfl_fit_indices`) are fitted to its mean face (`dfl_mean_face`, whose unit square spans the face
  from the brows to the mouth); the crop is a square of `coverage` such units around that square's
  centre, 0.08 units higher (docs/models.md).
- `align_5pt`: InsightFace's kind, for ArcFace and inswapper: five points fitted to the ArcFace
  template.
"""

from __future__ import annotations

import cv2
import numpy as np

from nodegraph.errors import InvalidInput
from nodes.face.landmarks_data import (
    LEFT_EYE_CONTOUR,
    MOUTH_LEFT_CORNER,
    MOUTH_RIGHT_CORNER,
    NOSE_TIP,
    RIGHT_EYE_CONTOUR,
    dfl_fit_indices,
    dfl_mean_face,
)
from nodes.face.warp_templates import template_points

# InsightFace's ArcFace template for a 112 px crop: the subject's right eye (image left), left eye,
# nose tip, right and left mouth corners.
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
# Mouth width over eye distance in that template: places the mouth corners from BlazeFace's mouth centre.
_MOUTH_TO_EYES = float(
    np.linalg.norm(ARCFACE_TEMPLATE_112[4] - ARCFACE_TEMPLATE_112[3])
    / np.linalg.norm(ARCFACE_TEMPLATE_112[1] - ARCFACE_TEMPLATE_112[0])
)
# DeepFaceLive's FaceAligner always moves the crop this many face units up (more forehead), and in head
# mode adds one face unit of coverage and moves it up half a unit more (FaceAligner.py, on_tick).
DFL_OFFSET_Y = -0.08
HEAD_COVERAGE, HEAD_OFFSET_Y = 1.0, -0.5


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) taking the
    points `src` (N x D) onto `dst` (N x D), as a (D+1) x (D+1) homogeneous matrix (Umeyama 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 2:
        raise ValueError(
            f"umeyama needs two N x D point sets of the same shape, N >= 2; got {src.shape} and {dst.shape}"
        )
    n, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / n
    if src_var <= 0:
        raise ValueError("umeyama: the source points all coincide, so no transform is defined")
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / n)
    signs = np.ones(dim)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        signs[-1] = -1.0  # the best orthogonal map would mirror: flip the weakest axis instead
    rotation = u @ np.diag(signs) @ vt
    scale = (singular * signs).sum() / src_var if estimate_scale else 1.0
    matrix = np.eye(dim + 1)
    matrix[:dim, :dim] = scale * rotation
    matrix[:dim, dim] = dst_mean - scale * rotation @ src_mean
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """N x 2 points through a 2x3 or 3x3 affine."""
    matrix = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64)[:, :2] @ matrix[:2, :2].T + matrix[:2, 2]


def arcface_template(size: int) -> np.ndarray:
    """The ArcFace 5 points for a `size` crop, InsightFace's way: sizes that are multiples of 112 scale
    the template; others (inswapper's 128) scale it by size/128 and shift it 8/128 of the size right."""
    if size % 112 == 0:
        return ARCFACE_TEMPLATE_112 * (size / 112)
    ratio = size / 128
    return ARCFACE_TEMPLATE_112 * ratio + np.array([8.0 * ratio, 0.0])


def template_matrix(five_points: np.ndarray, template: str, size: int) -> np.ndarray:
    """2x3 frame -> crop matrix of a size x size crop with the five points fitted (similarity, least
    squares) to one of warp_templates.WARP_TEMPLATES, as FaceFusion's warp_face_by_face_landmark_5."""
    return umeyama(np.asarray(five_points, np.float64), template_points(template, size))[:2]


def five_points_from_landmarks(points468: np.ndarray) -> np.ndarray:
    """The ArcFace 5 points from FaceMesh: eye contour centres, nose tip, mouth corners (5 x 2)."""
    xy = np.asarray(points468, np.float64)[:, :2]
    _check_468(xy)
    return np.stack(
        [
            xy[list(RIGHT_EYE_CONTOUR)].mean(axis=0),
            xy[list(LEFT_EYE_CONTOUR)].mean(axis=0),
            xy[NOSE_TIP],
            xy[MOUTH_RIGHT_CORNER],
            xy[MOUTH_LEFT_CORNER],
        ]
    ).astype(np.float32)


def five_points_from_keypoints(keypoints6: np.ndarray) -> np.ndarray:
    """The ArcFace 5 points from BlazeFace's 6 keypoints. BlazeFace gives only the mouth centre, so
    the corners are put either side of it, parallel to the eye line, as far apart as in the template."""
    kps = np.asarray(keypoints6, np.float64)
    if kps.shape != (6, 2):
        raise InvalidInput(f"BlazeFace keypoints must be 6 x 2, got {kps.shape}")
    half_mouth = (kps[1] - kps[0]) * _MOUTH_TO_EYES / 2
    return np.stack([kps[0], kps[1], kps[2], kps[3] - half_mouth, kps[3] + half_mouth]).astype(np.float32)


def align_5pt(frame: np.ndarray, five_points: np.ndarray, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(size x size crop, 2x3 matrix frame -> crop) with the five points fitted to the ArcFace template."""
    five = np.asarray(five_points, np.float64)
    if five.shape != (5, 2):
        raise InvalidInput(f"align_5pt needs 5 x 2 points, got {five.shape}")
    matrix = umeyama(five, arcface_template(size))[:2]
    crop = cv2.warpAffine(
        frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop, matrix


def face_frame_matrix(
    points468: np.ndarray,
    coverage: float = 2.2,
    resolution: int = 224,
    offset_x: float = 0.0,
    offset_y: float = 0.0,
    head_mode: bool = False,
    freeze_z_rotation: bool = False,
) -> np.ndarray:
    """The 2x3 matrix frame -> crop that `align_face` uses (see there): DeepFaceLive's FaceAligner
    ("from points", moving parts excluded; FaceAligner.py and FLandmarks2D.calc_cut)."""
    xy = np.asarray(points468, np.float64)[:, :2]
    _check_468(xy)
    fitted = list(dfl_fit_indices())
    return unit_square_crop(umeyama(xy[fitted], dfl_mean_face()[fitted]), coverage, resolution, offset_x,
                            offset_y, head_mode, freeze_z_rotation)


def unit_square_crop(
    to_unit: np.ndarray,
    coverage: float,
    resolution: int,
    offset_x: float = 0.0,
    offset_y: float = 0.0,
    head_mode: bool = False,
    freeze_z_rotation: bool = False,
) -> np.ndarray:
    """The 2x3 frame -> crop matrix of DeepFaceLive's crop around a face fitted to its mean face
    (`to_unit`: 3x3 frame -> face units): a square of `coverage` units around the unit square's
    centre, moved by the offsets along the face's axes and DFL_OFFSET_Y up, mapped onto resolution px."""
    if not coverage > 0 or resolution < 1:
        raise InvalidInput(
            f"alignment needs coverage > 0 and resolution >= 1, got {coverage} and {resolution}"
        )
    to_frame = np.linalg.inv(to_unit)
    unit_x, unit_y = to_frame[:2, 0], to_frame[:2, 1]  # one face unit along the face's x and y axes
    if head_mode:
        coverage += HEAD_COVERAGE
        offset_y += HEAD_OFFSET_Y
    offset_y += DFL_OFFSET_Y
    centre = transform_points(np.array([[0.5, 0.5]]), to_frame)[0] + offset_x * unit_x + offset_y * unit_y
    if freeze_z_rotation:
        length = np.hypot(*unit_x)
        unit_x, unit_y = np.array([length, 0.0]), np.array([0.0, length])
    corner = centre - coverage / 2 * (unit_x + unit_y)  # the crop's top-left corner in the frame
    linear = resolution * np.linalg.inv(coverage * np.column_stack([unit_x, unit_y]))
    return np.hstack([linear, (-linear @ corner)[:, None]])


def align_face(
    frame: np.ndarray,
    points468: np.ndarray,
    coverage: float = 2.2,
    resolution: int = 224,
    offset_x: float = 0.0,
    offset_y: float = 0.0,
    head_mode: bool = False,
    freeze_z_rotation: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(resolution x resolution uint8 crop, 2x3 matrix frame -> crop). The crop spans `coverage` face
    units (brow-to-mouth face sizes) around the face's centre, moved by `offset_x`, `offset_y` units
    along the face's own axes; `head_mode` covers one unit more, half a unit higher (the whole head);
    `freeze_z_rotation` keeps it upright in the frame instead of turning it with the head's roll."""
    matrix = face_frame_matrix(
        points468, coverage, resolution, offset_x, offset_y, head_mode, freeze_z_rotation
    )
    crop = cv2.warpAffine(
        frame, matrix, (resolution, resolution), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop, matrix


def hull_mask_in_crop(points468: np.ndarray, matrix: np.ndarray, resolution: int) -> np.ndarray:
    """float32 resolution x resolution mask: 1 inside the convex hull of the landmarks seen through
    `matrix` (frame -> crop), 0 outside, anti-aliased edge."""
    crop_points = transform_points(np.asarray(points468)[:, :2], matrix)
    hull = cv2.convexHull(np.round(crop_points * 16).astype(np.int32))
    mask = np.zeros((resolution, resolution), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _check_468(xy: np.ndarray) -> None:
    if xy.shape[0] != 468:
        raise InvalidInput(f"expected FaceMesh's 468 landmarks, got {xy.shape[0]} points")
