"""Two frames into one: blended, or side by side for a before/after view."""

from __future__ import annotations

import cv2
import numpy as np

from nodegraph.node import Node
from nodegraph.params import Choice, Float
from nodegraph.types import Frame


class FrameCompose(Node):
    """Blends `second_frame` over `frame`, or puts them side by side (left/right or top/bottom).
    The second frame is scaled to the first one's size (blend) or height/width (side by side)."""

    category = "Merge"
    inputs = {"frame": Frame, "second_frame": Frame}
    outputs = {"frame": Frame}
    params = {
        "layout": Choice(["blend", "side_by_side", "top_bottom"], default="side_by_side",
                         help="blend: second over first; side_by_side: first left; top_bottom: first above"),
        "opacity": Float(0.0, 1.0, default=0.5, help="blend only: how much of the second frame shows"),
    }

    def process(self, frame, second_frame):
        a, b = frame, second_frame
        ha, wa = a.shape[:2]
        hb, wb = b.shape[:2]
        if self.layout == "blend":
            if (hb, wb) != (ha, wa):
                b = cv2.resize(b, (wa, ha), interpolation=cv2.INTER_AREA)
            return {"frame": cv2.addWeighted(a, 1.0 - self.opacity, b, self.opacity, 0.0)}
        if self.layout == "side_by_side":
            if hb != ha:
                b = cv2.resize(b, (max(1, round(wb * ha / hb)), ha), interpolation=cv2.INTER_AREA)
            return {"frame": np.hstack([a, b])}
        if wb != wa:
            b = cv2.resize(b, (wa, max(1, round(hb * wa / wb))), interpolation=cv2.INTER_AREA)
        return {"frame": np.vstack([a, b])}
