"""The two bundled portraits, and aligned face crops of them, for colour and merge tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MEDIA = Path(__file__).resolve().parent.parent / "presets" / "media"
CROP = 224
# Face centre (x, y) and the side of the square around it, in the original images' pixels.
FACES = {"astronaut.png": (222.0, 120.0, 170.0), "grace_hopper.jpg": (262.0, 240.0, 280.0)}


def portrait(name: str) -> np.ndarray:
    image = cv2.imread(str(MEDIA / name))
    assert image is not None, f"cannot read {MEDIA / name}"
    return image


def crop_matrix(centre_x: float, centre_y: float, side: float, angle_deg: float = 0.0) -> np.ndarray:
    """Frame -> crop similarity putting the square of ``side`` around the centre into a CROP x CROP crop."""
    scale = CROP / side
    angle = np.deg2rad(angle_deg)
    rotation = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    translation = np.full(2, (CROP - 1) / 2) - rotation @ [centre_x, centre_y]
    return np.hstack([rotation, translation[:, None]])


def face_crop(name: str, angle_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(crop, frame -> crop matrix) of the face in portrait ``name``."""
    matrix = crop_matrix(*FACES[name], angle_deg)
    return cv2.warpAffine(portrait(name), matrix, (CROP, CROP), flags=cv2.INTER_AREA), matrix


def ellipse_mask(size: int = CROP) -> np.ndarray:
    """A float32 face-shaped ellipse, 1 inside."""
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, size // 2), (size * 68 // 224, size * 92 // 224), 0, 0, 360, 1.0, -1)
    return mask
