"""A third-party-style node package: its own port type `Depth` (with its colour, taking `Mask` values
as they are) and nodes that make, read and mask-feed it; the engine knows none of it."""

from typing import ClassVar

import cv2
import numpy as np

from nodegraph.node import Node
from nodegraph.types import Frame, Mask, PortType

DEPTH_COLOUR = (12, 180, 240)
Depth = PortType("Depth", "array", "a float32 depth map in [0, 1] (H x W)", DEPTH_COLOUR, frozenset({"Mask"}))


class DepthGuess(Node):
    """A depth map: brightness as nearness."""

    category = "Depth"
    inputs = {"frame": Frame}
    outputs = {"depth": Depth}

    def process(self, frame):
        return {"depth": cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0}


class Threshold(Node):
    """A mask of the pixels brighter than half."""

    category = "Depth"
    inputs = {"frame": Frame}
    outputs = {"mask": Mask}

    def process(self, frame):
        return {"mask": (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) > 127).astype(np.float32)}


class DepthMean(Node):
    """Keeps the mean of every depth map it gets."""

    category = "Depth"
    inputs = {"depth": Depth}
    means: ClassVar[list[float]] = []

    def process(self, depth):
        DepthMean.means.append(float(depth.mean()))
        return {}


NODES = [DepthGuess, Threshold, DepthMean]
