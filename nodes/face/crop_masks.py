"""Masks between a face crop and its frame: FaceFusion's box mask and edge softening, and a crop's mask
put into a frame-sized mask (and back), so the FaceMask node, the merger and the enhancer share one
frame-sized `Mask` whatever crop each of them cuts."""

from __future__ import annotations

import cv2
import numpy as np

SOFTEN_SIGMA = 5.0  # px of the crop: FaceFusion's blur of every model and landmark mask


def soften(mask: np.ndarray) -> np.ndarray:
    """FaceFusion's finish of an occlusion, region or area mask: a Gaussian of sigma 5 px, then
    values below 0.5 to 0 and 0.5..1 stretched to 0..1 (a soft edge inside the hard one)."""
    blurred = cv2.GaussianBlur(np.clip(mask, 0.0, 1.0).astype(np.float32), (0, 0), SOFTEN_SIGMA)
    return (np.clip(blurred, 0.5, 1.0) - 0.5) * 2.0


def box_mask(size: int, blur: float) -> np.ndarray:
    """FaceFusion's box mask (create_box_mask, no padding): ones with a `blur * size / 4` px border of
    zeros, then a Gaussian of sigma `blur * size / 8` px; `blur` 0.3 is FaceFusion's default."""
    amount = int(size * 0.5 * blur)
    border = max(amount // 2, 1)
    mask = np.ones((size, size), np.float32)
    mask[:border], mask[-border:], mask[:, :border], mask[:, -border:] = 0, 0, 0, 0
    if amount > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), amount * 0.25)
    return mask


def add_to_frame_mask(frame_mask: np.ndarray, crop_mask: np.ndarray, matrix: np.ndarray) -> None:
    """Put `crop_mask` (the crop `matrix`, frame -> crop, cut) into `frame_mask` in place, keeping the
    larger value where faces overlap. Only the crop's bounding box in the frame is warped."""
    size = crop_mask.shape[0]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    height, width = frame_mask.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 0, [width, height])
    if x0 >= x1 or y0 >= y1:
        return
    to_roi = inverse.copy()
    to_roi[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(crop_mask, to_roi, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = frame_mask[y0:y1, x0:x1]
    np.maximum(region, warped, out=region)


def frame_mask_in_crop(frame_mask: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The frame-sized mask seen through `matrix` (frame -> crop) in a size x size crop (0 outside)."""
    return cv2.warpAffine(np.asarray(frame_mask, np.float32), np.asarray(matrix, np.float64), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def check_frame_mask(mask: np.ndarray, frame: np.ndarray, what: str) -> np.ndarray:
    """`mask` as a float32 H x W of the frame's size; a ValueError naming `what` otherwise."""
    mask = np.asarray(mask)
    if mask.shape != frame.shape[:2]:
        raise ValueError(f"{what}: the mask is {mask.shape}, the frame {frame.shape[:2]}; feed the mask a "
                         "FaceMask made from this frame")
    return mask.astype(np.float32, copy=False)
