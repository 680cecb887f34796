"""Generic frame filters."""

from __future__ import annotations

import cv2

from nodegraph.node import Node
from nodegraph.params import Int
from nodegraph.types import Frame


class FrameAdjuster(Node):
    """Median blur, resolution degradation and brightness, to clean or stress a feed."""

    category = "Sources"
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {
        "median_blur": Int(0, 31, default=0, help="median filter size in px (0: off; even sizes round up)"),
        "degrade": Int(0, 95, default=0, help="lose this percent of resolution (down- then up-scale)"),
        "brightness": Int(-255, 255, default=0, help="added to every channel"),
    }

    def process(self, frame):
        out = frame
        if self.median_blur > 1:
            out = cv2.medianBlur(out, self.median_blur | 1)
        if self.degrade:
            h, w = out.shape[:2]
            keep = 1.0 - self.degrade / 100.0
            small = cv2.resize(out, (max(1, int(w * keep)), max(1, int(h * keep))), interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.brightness:
            out = cv2.convertScaleAbs(out, alpha=1.0, beta=self.brightness)  # saturates at 0 and 255
        return {"frame": out}
