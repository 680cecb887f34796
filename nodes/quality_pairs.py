"""Driver clips and identity portraits for the swap quality benchmark, made from the bundled
public-domain portraits (presets/media), so the swap is measured on faces it was not tuned on.

- `demo`: the demo clip (Grace Hopper, animated) driving the astronaut, as presets/video_swap.json.
- `grey`: the astronaut's portrait animated here (another pose: her head is turned and tilted; mouth
  opening and closing, the view rolling and zooming) driving Grace Hopper's portrait in black and white.
- `sidelight`: the demo clip under other lighting (a warm light from the frame's left, the right half
  in shade) driving the astronaut's portrait mirrored (her head turned the other way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nodegraph.paths import data_dir

from .face.align import umeyama
from .face.landmarks_data import LIPS_INNER, mean_face
from .face.meshwarp import mesh_warp
from .quality_measures import LandmarkPass

FRAME_SIZE = (640, 480)  # width, height
MOUTH_PERIOD = 37  # frames per open-and-close of the animated portrait
MOUTH_OPENING = 0.06  # mean-face units (outer brow to outer brow = 1)


@dataclass(frozen=True)
class Pair:
    name: str
    how: str
    identity: Path  # the portrait file the swapper loads
    frames: list[np.ndarray]  # every frame of the driver clip: the chain's trackers see them all


def media(name: str) -> Path:
    return data_dir("presets") / "media" / name


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    """The clip's first `count` frames (fewer if it is shorter)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise RuntimeError(f"bench quality: {path}: no frame could be read; rerun scripts/make_demo_media.py")
    return frames


def _jaw_weights() -> np.ndarray:
    """How far each landmark moves as the mouth opens (0..1): below the lips' line fully, easing in."""
    face = mean_face()[:, :2].astype(np.float64)
    line = face[list(LIPS_INNER), 1].mean()
    return np.clip((face[:, 1] - line) / 0.04 + 0.5, 0.0, 1.0)


def talking(portrait: np.ndarray, count: int) -> Iterator[np.ndarray]:
    """FRAME_SIZE frames of `portrait` opening and closing its mouth (darkened inside), the view rolling
    by up to 10 degrees and zooming."""
    found = LandmarkPass()(portrait)
    if found is None:
        raise RuntimeError("bench quality: no face in the portrait to animate")
    points = found[1]
    down = umeyama(mean_face()[:, :2], points)[:2, :2] @ np.array([0.0, 1.0])
    weights = _jaw_weights()
    width, height = FRAME_SIZE
    scale = height / portrait.shape[0]
    for i in range(count):
        opening = 0.5 - 0.5 * np.cos(2 * np.pi * i / MOUTH_PERIOD)
        moved = points + (opening * MOUTH_OPENING * weights)[:, None] * down[None, :]
        warped = mesh_warp(portrait, points, moved, portrait.shape[:2], fallback=np.eye(3)[:2])
        inside = np.zeros(portrait.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(moved[list(LIPS_INNER)] * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        shade = 1.0 - 0.6 * cv2.GaussianBlur(inside, (0, 0), 2).astype(np.float32)[..., None] / 255
        warped = (warped * shade).astype(np.uint8)
        centre = points.mean(axis=0)
        view = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 10.0 * np.sin(2 * np.pi * i / 50),
                                       scale * (1.0 + 0.08 * np.sin(2 * np.pi * i / 70)))
        view[:, 2] += np.array([width / 2, height / 2]) - centre
        yield cv2.warpAffine(warped, view, FRAME_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def relit(frame: np.ndarray) -> np.ndarray:
    """The frame lit warm from its left, its right half in shade."""
    width = frame.shape[1]
    light = np.interp(np.arange(width), [0, width * 0.35, width], [1.2, 1.0, 0.45]).astype(np.float32)
    tint = np.array([0.85, 0.97, 1.12], np.float32)  # BGR: warmer
    return np.clip(frame * light[None, :, None] * tint, 0, 255).astype(np.uint8)


def make_pairs(folder: Path, count: int) -> list[Pair]:
    """The three pairs, `count` driver frames each; the identities the benchmark derives are written
    into `folder`."""
    demo = clip_frames(media("demo.mp4"), count)
    astronaut = cv2.imread(str(media("astronaut.png")))
    grey = folder / "grace_hopper_grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(cv2.imread(str(media("grace_hopper.jpg")), cv2.IMREAD_GRAYSCALE),
                                        cv2.COLOR_GRAY2BGR))
    mirrored = folder / "astronaut_mirrored.png"
    cv2.imwrite(str(mirrored), cv2.flip(astronaut, 1))
    return [
        Pair("demo", "demo.mp4 (Grace Hopper, animated) -> astronaut.png", media("astronaut.png"), demo),
        Pair("grey", "astronaut.png animated (turned head, mouth, roll, zoom) -> grace_hopper.jpg in grey",
             grey, list(talking(astronaut, len(demo)))),
        Pair("sidelight", "demo.mp4 lit warm from the left, right half shaded -> astronaut.png mirrored",
             mirrored, [relit(frame) for frame in demo]),
    ]
