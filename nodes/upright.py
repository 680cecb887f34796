"""A video frame turned upright as players show it, from its display matrix (a phone's portrait clip)."""

from __future__ import annotations

import av
import cv2
import numpy as np
from av.sidedata.sidedata import Type as SideDataType


def display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    """The frame's display matrix (3x3, row by row), or None: it has none, or side data of a type newer than
    PyAV (FFmpeg 8's EXIF on camera JPEGs) hides it."""
    try:
        matrix = frame.side_data.get(SideDataType.DISPLAYMATRIX)
    except ValueError:
        return None
    return None if matrix is None else np.frombuffer(bytes(matrix), np.int32)


def upright(image: np.ndarray, rotation: float, matrix: np.ndarray | None) -> np.ndarray:
    """The picture as players show it. A phone stores a portrait clip as landscape pictures and a display
    matrix (a rotation, maybe a mirror); this applies it as FFmpeg's autorotate does, so faces are found
    upright too. `rotation`: the frame's, which stands alone where the matrix could not be read."""
    clockwise = -round(rotation) % 360
    if matrix is None:
        return _turned(image, clockwise)
    m = matrix  # m[0] m[1] / m[3] m[4] turn the picture
    if clockwise % 90:  # VideoReader says so once
        return image
    if clockwise == 90:
        return cv2.transpose(image) if m[3] > 0 else cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if clockwise == 270:
        return cv2.flip(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), 0) if m[3] < 0 else \
            cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    mirror = {(True, True): -1, (True, False): 1, (False, True): 0}.get((clockwise == 180 and m[0] < 0, m[4] < 0))
    return image if mirror is None else cv2.flip(image, mirror)


def _turned(image: np.ndarray, clockwise: int) -> np.ndarray:
    """The picture turned `clockwise` degrees, a quarter turn (another angle leaves it as stored)."""
    turn = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(clockwise)
    return image if turn is None else cv2.rotate(image, turn)
