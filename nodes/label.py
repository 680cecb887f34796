"""A visible label that tells viewers the picture is synthetic."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from nodegraph.node import Node
from nodegraph.params import Choice, Colour, Float, Text
from nodegraph.types import Frame

CORNERS = ["bottom_right", "bottom_left", "top_right", "top_left"]
FONT = cv2.FONT_HERSHEY_SIMPLEX
DEFAULT_TEXT = "AI-generated"


class LabelLayout(NamedTuple):
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the background, frame pixels
    origin: tuple[int, int]  # the text's baseline start, for cv2.putText
    scale: float
    thickness: int


def layout(frame_shape, text: str, corner: str, size: float) -> LabelLayout:
    """Where the label goes. `size` is the text height as a fraction of the frame's shorter side."""
    h, w = frame_shape[:2]
    scale = max(8.0, size * min(h, w)) / 22.0  # FONT's cap height is about 22 px at scale 1
    thickness = max(1, round(scale * 2))
    (tw, th), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(3, round(th * 0.4))
    bw, bh = min(w, tw + 2 * pad), min(h, th + baseline + 2 * pad)
    margin = max(2, round(min(h, w) * 0.02))
    x0 = margin if corner.endswith("left") else max(0, w - margin - bw)
    y0 = margin if corner.startswith("top") else max(0, h - margin - bh)
    return LabelLayout((x0, y0, x0 + bw, y0 + bh), (x0 + pad, y0 + bh - pad - baseline), scale, thickness)


class SyntheticLabel(Node):
    """Draws a visible "AI-generated" label in a corner of every frame."""

    category = "Output"
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {
        "text": Text(DEFAULT_TEXT, help="the words shown (empty shows the default)"),
        "corner": Choice(CORNERS, default="bottom_right", help="where the label sits"),
        "size": Float(0.02, 0.3, default=0.05, step=0.01,
                      help="text height, as a fraction of the frame's shorter side"),
        "opacity": Float(0.1, 1.0, default=0.8, step=0.05,
                         help="of the label's dark background (the text is always solid)"),
        "colour": Colour((255, 255, 255), help="text colour"),
    }
    cost_ms = 0.3

    def process(self, frame):
        text = self.text.strip() or DEFAULT_TEXT  # an empty label would hide the disclosure
        spot = layout(frame.shape, text, self.corner, self.size)
        x0, y0, x1, y1 = spot.box
        out = frame.copy()
        region = out[y0:y1, x0:x1]
        region[:] = (region * np.float32(1.0 - self.opacity)).astype(np.uint8)
        r, g, b = self.colour
        cv2.putText(out, text, spot.origin, FONT, spot.scale, (b, g, r), spot.thickness, cv2.LINE_AA)
        return {"frame": out}
