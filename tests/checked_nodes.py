"""A node with a check hook, importable by stage processes and installable as a node package."""

from __future__ import annotations

import cv2

from nodegraph.errors import Problem
from nodegraph.node import Node
from nodegraph.params import Int
from nodegraph.types import Frame


class BandPass(Node):
    """White where every channel lies in [low, high], black elsewhere. Each param is valid alone; that
    low stays below high is a rule between them, which the check hook enforces before a run."""

    category = "Colour"
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"low": Int(0, 255, default=64), "high": Int(0, 255, default=192)}

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        if params["low"] >= params["high"]:
            problems.append(Problem(f"must be above low ({params['low']}), got {params['high']}: "
                                    "no pixel would pass", param="high"))
        return problems

    def process(self, frame):
        band = cv2.inRange(frame, (self.low,) * 3, (self.high,) * 3)
        return {"frame": cv2.cvtColor(band, cv2.COLOR_GRAY2BGR)}
