"""Face regions by name: the face parser's 19 classes and the FaceMesh landmark regions, as the mask
params a user writes ("skin, nose, lips" or "face, -mouth-inside"), and the landmark masks drawn from them.

The parser's classes are CelebAMask-HQ's, in the order the BiSeNet models FaceFusion ships were trained
on (yakhyo/face-parsing); FaceFusion names ten of them (`face_mask_region_set`), the others are added
here under the dataset's own names. A landmark region is a FaceMesh polygon; `-name` cuts it out.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from nodegraph.params import ParamError, Text

from .align import transform_points
from .landmarks_data import (
    FACE_OVAL,
    LEFT_EYE_CONTOUR,
    LEFT_EYEBROW,
    LIPS_INNER,
    LIPS_OUTER,
    NOSE_TIP,
    RIGHT_EYE_CONTOUR,
    RIGHT_EYEBROW,
)

PARSER_CLASSES = {
    "skin": (1,), "left-eyebrow": (2,), "right-eyebrow": (3,), "left-eye": (4,), "right-eye": (5,),
    "glasses": (6,), "left-ear": (7,), "right-ear": (8,), "earring": (9,), "nose": (10,), "mouth": (11,),
    "upper-lip": (12,), "lower-lip": (13,), "neck": (14,), "necklace": (15,), "cloth": (16,), "hair": (17,),
    "hat": (18,),
    # groups
    "brows": (2, 3), "eyes": (4, 5), "ears": (7, 8), "lips": (12, 13),
}
# FaceFusion's default regions: all ten it names (the driver's glasses are painted over; leave
# `glasses` out to keep them, issue 19).
PARSER_DEFAULT = "skin, left-eyebrow, right-eyebrow, left-eye, right-eye, glasses, nose, mouth, upper-lip, lower-lip"

# The nose: bridge, tip, alae and nostrils (FaceMesh numbering), filled as their hull.
_NOSE = (168, 6, 197, 195, 5, 4, NOSE_TIP, 19, 94, 2, 98, 327, 129, 358, 64, 294, 48, 278, 115, 344, 220, 440)
_HALF = len(RIGHT_EYEBROW) // 2  # each brow is its lower line then its upper line, outer end first


def _brow_loop(brow: tuple[int, ...]) -> tuple[int, ...]:
    return brow[:_HALF] + brow[_HALF:][::-1]


# name -> polygons (each an ordered loop of landmark indices, filled); `upper-face` and `lower-face` are
# the face cut at the line through the nostrils' base, square to the face's own vertical axis.
LANDMARK_REGIONS = {
    "face": (FACE_OVAL,),
    "upper-face": (FACE_OVAL,),
    "lower-face": (FACE_OVAL,),
    "eyes": (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR),
    "brows": (_brow_loop(RIGHT_EYEBROW), _brow_loop(LEFT_EYEBROW)),
    "nose": (_NOSE,),
    "mouth": (LIPS_OUTER,),
    "mouth-inside": (LIPS_INNER,),
}
LANDMARK_DEFAULT = "face, -mouth-inside"
_NOSE_BASE, _BROW_MIDDLE, _CHIN = 2, 9, 152


def split_names(text: str) -> list[str]:
    return [name for name in re.split(r"[\s,]+", text.strip().lower()) if name]


class RegionNames(Text):
    """A list of region names (comma or space separated) from a fixed set; `-name` cuts one out when
    `subtract` is allowed. An unknown name is refused with the known ones."""

    def __init__(self, known: dict, default: str, subtract: bool, help: str = ""):
        super().__init__(default, help)
        self.known, self.subtract = known, subtract

    def validate(self, value) -> str:
        text = super().validate(value)
        for name in split_names(text):
            bare = name[1:] if self.subtract and name.startswith("-") else name
            if bare not in self.known:
                minus = " (put - before a name to cut it out)" if self.subtract else ""
                raise ParamError(f"unknown region '{name}': the regions are {', '.join(self.known)}{minus}")
        names = split_names(text)
        if names and all(name.startswith("-") for name in names):  # cuts from nothing: an empty mask
            raise ParamError(f"'{text}' only cuts regions out of nothing, which masks the whole face away: name "
                             f"a region to keep first, such as 'face, {names[0]}'")
        return ", ".join(split_names(text))


def parser_class_ids(text: str) -> list[int]:
    return sorted({i for name in split_names(text) for i in PARSER_CLASSES[name]})


def landmark_mask(landmarks: np.ndarray, matrix: np.ndarray, size: int, regions: str) -> np.ndarray:
    """float32 size x size mask in the crop `matrix` (frame -> crop) cuts: the named FaceMesh regions
    filled, those written `-name` cut out (anti-aliased edges)."""
    points = transform_points(np.asarray(landmarks)[:, :2], matrix)
    keep = np.zeros((size, size), np.uint8)
    cut = np.zeros((size, size), np.uint8)
    for name in split_names(regions):
        target, name = (cut, name[1:]) if name.startswith("-") else (keep, name)
        region = np.zeros((size, size), np.uint8)
        for loop in LANDMARK_REGIONS[name]:
            polygon = points[list(loop)]
            if name == "nose":
                polygon = cv2.convexHull(polygon.astype(np.float32))[:, 0]
            cv2.fillPoly(region, [np.round(polygon * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        if name in ("upper-face", "lower-face"):
            region = np.minimum(region, _half_plane(points, size, upper=name == "upper-face"))
        np.maximum(target, region, out=target)
    return (keep.astype(np.float32) * (1.0 - cut.astype(np.float32) / 255.0)) / 255.0


def _half_plane(points: np.ndarray, size: int, upper: bool) -> np.ndarray:
    """255 on one side of the line through the nostrils' base, square to the brows-to-chin axis."""
    down = points[_CHIN] - points[_BROW_MIDDLE]
    down /= max(np.linalg.norm(down), 1e-6)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    depth = (xs - points[_NOSE_BASE][0]) * down[0] + (ys - points[_NOSE_BASE][1]) * down[1]
    side = depth < 0 if upper else depth >= 0
    return side.astype(np.uint8) * 255
