"""Merge maths: face masks, and pasting a (swapped) face crop back into the frame it was aligned from."""

import cv2
import numpy as np

from nodes.face.align import transform_points

BLEND_MODES = ("alpha", "poisson")
INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
# Mask values below this (1/255: invisible after rounding) are outside the region poisson mode clones.
CLONE_THRESHOLD = 1.0 / 255.0
# Pixels of frame border added around the region handed to cv2.seamlessClone, which needs its mask to
# keep clear of the image edge.
CLONE_PADDING = 2
_CROSS = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))  # the 3 x 3 "ellipse" is a cross


def refine_mask(mask: np.ndarray, erode: int, blur: int) -> np.ndarray:
    """DeepFaceLive's FaceMerger mask (ImageProcessor.erode_blur): ``mask`` (float HxW in [0, 1]) eroded
    by ``erode`` // 2 passes (at least one) of a 3 x 3 cross, dilated for a negative ``erode``; then, for
    ``blur`` > 0, blurred with a Gaussian of sigma ``blur`` / 4. Outside the image counts as 0.

    Before the blur the mask is cleared within 3 sigma of the image's edge (DeepFaceLive clears
    ``blur`` // 2 px, which leaves up to 2% of the mask at the crop's edge: a faint line once pasted
    back), so a mask that fills the crop fades to (nearly) 0 at its edge. Returns a new float32 mask.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"refine_mask: mask must be a 2-D HxW array, got shape {mask.shape}")
    if int(erode) != erode or int(blur) != blur or blur < 0:
        raise ValueError(f"refine_mask: erode must be an integer and blur an integer >= 0, got {erode}, {blur}")
    refined = np.clip(mask.astype(np.float32), 0.0, 1.0)
    if erode != 0:
        morph = cv2.erode if erode > 0 else cv2.dilate
        refined = morph(refined, _CROSS, iterations=max(1, abs(int(erode)) // 2), borderType=cv2.BORDER_CONSTANT,
                        borderValue=0)
    if blur > 0:
        sigma = blur / 4.0
        margin = int(np.ceil(3 * sigma))
        refined[:margin], refined[-margin:], refined[:, :margin], refined[:, -margin:] = 0, 0, 0, 0
        refined = cv2.GaussianBlur(refined, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
    return np.clip(refined, 0.0, 1.0, out=refined)


def hull_mask(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 mask of ``shape[:2]``: 1 inside the convex hull of ``points`` (N x 2, x y in pixels),
    anti-aliased at its edge, 0 elsewhere (all 0 for fewer than three points)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ValueError(f"hull_mask: points must be a finite N x 2 array of x, y, got shape {points.shape}")
    height, width = int(shape[0]), int(shape[1])
    canvas = np.zeros((height, width), np.uint8)
    if len(points) >= 3:
        # 4 fractional bits keep sub-pixel landmark positions.
        hull = cv2.convexHull(np.rint(points * 16).astype(np.int32))
        cv2.fillConvexPoly(canvas, hull, 255, lineType=cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) * np.float32(1 / 255)


def landmark_hull(face: dict, shape: tuple[int, int]) -> np.ndarray:
    """``hull_mask`` of a face record's landmarks in its swap's geometry (``swap_matrix``), of ``shape``.
    When the aligner cut this very geometry (the same ``matrix`` and size) its ``crop_mask`` is that hull,
    so it is taken instead of drawn again."""
    crop_mask, matrix, swap_matrix = face.get("crop_mask"), face.get("matrix"), face["swap_matrix"]
    if (crop_mask is not None and matrix is not None and crop_mask.shape == tuple(shape[:2])
            and np.array_equal(matrix, swap_matrix)):
        return crop_mask
    return hull_mask(transform_points(np.asarray(face["landmarks"])[:, :2], swap_matrix), shape)


def paste_back(
    frame_bgr: np.ndarray,
    face_bgr: np.ndarray,
    mask: np.ndarray,
    matrix: np.ndarray,
    *,
    scale: float = 1.0,
    offset_x: float = 0.0,
    offset_y: float = 0.0,
    opacity: float = 1.0,
    mode: str = "alpha",
    interpolation: str = "linear",
    graphs=None,
) -> np.ndarray:
    """Return a copy of ``frame_bgr`` with ``face_bgr`` (an h x w crop) pasted back where it was cropped.

    ``matrix`` is the 2x3 frame -> crop affine the crop was aligned with (as from
    cv2.estimateAffinePartial2D or an Umeyama fit). ``mask`` (float h x w in [0, 1]) says how much of each
    crop pixel to use. ``scale`` resizes the face about the crop's centre and ``offset_x``/``offset_y``
    move it by fractions of the crop's width/height, both in crop space. ``mode``: ``alpha`` blends
    ``frame * (1 - a) + face * a`` with ``a = mask * opacity``; ``poisson`` first clones the face's
    gradients into the frame (cv2.seamlessClone over the mask's support), then blends the same way.
    ``interpolation`` (nearest, linear, cubic, lanczos) resamples the face; the mask is always linear.

    Only the bounding box of the warped mask is computed; every pixel where the warped mask is 0 keeps
    the frame's exact bytes. In alpha mode ``graphs`` (a nodes.image_work.ImageGraphs) runs the warps
    and the blend as one onnxruntime graph instead of OpenCV (within one level of it); poisson mode
    always runs on OpenCV.
    """
    _check_paste_inputs(frame_bgr, face_bgr, mask, matrix, scale, opacity, mode, interpolation)
    mask = np.asarray(mask, dtype=np.float32)
    frame_to_face = shown_face_map(np.asarray(matrix, np.float64), face_bgr.shape, scale, offset_x, offset_y)
    box = _warped_support(mask, frame_to_face, frame_bgr.shape)
    result = frame_bgr.copy()
    if box is None or opacity == 0.0:
        return result
    x0, y0, x1, y1 = box
    size = (x1 - x0, y1 - y0)
    roi_to_face = (frame_to_face @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]]))[:2]
    region = result[y0:y1, x0:x1]
    if graphs is not None and mode == "alpha":
        region[...] = graphs.paste(region, face_bgr, mask, roi_to_face, opacity, interpolation)
        return result
    inverse = cv2.WARP_INVERSE_MAP
    alpha = cv2.warpAffine(mask, roi_to_face, size, flags=cv2.INTER_LINEAR | inverse,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    face = cv2.warpAffine(face_bgr, roi_to_face, size, flags=INTERPOLATIONS[interpolation] | inverse,
                          borderMode=cv2.BORDER_REPLICATE)
    if mode == "poisson":
        face = _poisson_clone(face, region, alpha >= CLONE_THRESHOLD)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    if opacity != 1.0:
        alpha *= np.float32(opacity)
    # (face * a + frame * (1 - a)) / (a + (1 - a)), rounded: where a is 0 the frame's bytes come back.
    region[...] = cv2.blendLinear(face, region, alpha, 1.0 - alpha)
    return result


def _check_paste_inputs(frame_bgr, face_bgr, mask, matrix, scale, opacity, mode, interpolation) -> None:
    for name, image in (("frame_bgr", frame_bgr), ("face_bgr", face_bgr)):
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                and image.shape[2] == 3 and image.size > 0):
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"paste_back: {name} must be a uint8 HxWx3 BGR image, got {got}")
    if np.shape(mask) != face_bgr.shape[:2]:
        raise ValueError(f"paste_back: mask shape {np.shape(mask)} must equal the face's HxW {face_bgr.shape[:2]}")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 3) or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:, :2])) < 1e-12:
        raise ValueError(f"paste_back: matrix must be a finite, invertible 2x3 affine, got {matrix.tolist()}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"paste_back: scale must be > 0, got {scale}")
    if not (np.isfinite(opacity) and 0.0 <= opacity <= 1.0):
        raise ValueError(f"paste_back: opacity must be between 0 and 1, got {opacity}")
    if mode not in BLEND_MODES:
        raise ValueError(f"paste_back: unknown mode {mode!r}; choose one of {', '.join(BLEND_MODES)}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"paste_back: unknown interpolation {interpolation!r}; choose one of {', '.join(INTERPOLATIONS)}"
        )


def shown_face_map(matrix: np.ndarray, face_shape, scale: float, offset_x: float, offset_y: float):
    """3x3 map from frame pixels to the face pixel shown there: the crop point ``p`` the matrix gives,
    less the offset, unscaled about the crop's centre."""
    height, width = face_shape[:2]
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    shift = centre + np.array([offset_x * width, offset_y * height])
    display_to_face = np.array([[1 / scale, 0.0, centre[0] - shift[0] / scale],
                                [0.0, 1 / scale, centre[1] - shift[1] / scale],
                                [0.0, 0.0, 1.0]])
    return display_to_face @ np.vstack([matrix, [0.0, 0.0, 1.0]])


def _warped_support(mask: np.ndarray, frame_to_face: np.ndarray, frame_shape) -> tuple | None:
    """Frame box (x0, y0, x1, y1) that holds every pixel the warped mask touches, or None if none."""
    left, top, w, h = cv2.boundingRect((mask > 0).view(np.uint8))
    if w == 0:
        return None
    right, bottom = left + w - 1, top + h - 1
    # Bilinear sampling reaches one pixel beyond the last non-zero one.
    corners = np.array([[left - 1, top - 1, 1.0], [right + 1, top - 1, 1.0],
                        [left - 1, bottom + 1, 1.0], [right + 1, bottom + 1, 1.0]])
    in_frame = corners @ np.linalg.inv(frame_to_face).T
    height, width = frame_shape[:2]
    x0 = max(int(np.floor(in_frame[:, 0].min())), 0)
    y0 = max(int(np.floor(in_frame[:, 1].min())), 0)
    x1 = min(int(np.ceil(in_frame[:, 0].max())) + 1, width)
    y1 = min(int(np.ceil(in_frame[:, 1].max())) + 1, height)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _poisson_clone(face: np.ndarray, region: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``region`` with ``face``'s gradients cloned in over ``inside`` (cv2.seamlessClone, normal clone).

    Both are padded with their own edge pixels first, so a mask that reaches the frame's edge stays
    clear of the image border seamlessClone needs. A region under 3 px across (seamlessClone fails on
    it) has no inside to solve for: its boundary, the frame, is the answer."""
    pad = CLONE_PADDING
    padded_mask = cv2.copyMakeBorder(inside.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                     value=0)
    x, y, w, h = cv2.boundingRect(padded_mask)
    if w < 3 or h < 3:
        return region.copy()
    padded_face = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    padded_region = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # seamlessClone centres the mask's bounding box on this point (integer halves, as it computes them).
    cloned = cv2.seamlessClone(padded_face, padded_region, padded_mask, (x + w // 2, y + h // 2),
                               cv2.NORMAL_CLONE)
    return cloned[pad:-pad, pad:-pad]
