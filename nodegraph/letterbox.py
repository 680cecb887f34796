"""A picture fitted into another size whole: scaled with its aspect kept and centred on bars of one colour
(letterboxed or pillarboxed), never stretched. For a stream of one frame size and for the editor's views."""

from __future__ import annotations

import cv2
import numpy as np


def letterbox(image: np.ndarray, width: int, height: int, colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """`image` (uint8, BGR) scaled to fit `width` x `height` whole and centred on `colour` (BGR)."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    inner_w, inner_h = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    inner = cv2.resize(image, (inner_w, inner_h), interpolation=interpolation)
    top, left = (height - inner_h) // 2, (width - inner_w) // 2
    return cv2.copyMakeBorder(inner, top, height - inner_h - top, left, width - inner_w - left,
                              cv2.BORDER_CONSTANT, value=colour)
