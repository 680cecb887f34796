"""FaceDetector's tracking between model runs, for `nodegraph bench detect`: on clips made from the two
public-domain portraits in presets/media, how often a box goes out where the model finds no face, how
often the model finds a face and no box goes out, and how often the model runs.

Each clip is 640x480 with a camera's noise (sigma 2 grey levels), so that no two frames are alike:
a steady shot of one portrait; a 30-frame cross-fade from one to the other; a cut from one to the
other; and a steady shot whose brightness drifts as a webcam's auto-exposure does (a gain ramp of +-20%
over 90 frames). The model run on every frame of a clip is the reference: a box counts as stale when
it overlaps none of the model's faces on that frame by the model's NMS IoU (0.3), and a face as missed
when the model finds it and no box overlaps it so.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from nodes.detect import FaceDetector
from nodes.face.blazeface import iou_one_to_many

MEDIA = Path(__file__).resolve().parents[1] / "presets" / "media"
SIZE = (480, 640)  # h, w
FACE_SIDE = 170  # px, the face's box in the clips
NOISE = 2.0  # grey levels, a camera's noise
SAME_FACE_IOU = 0.3
EVERY = (1, 12)


def filling(name: str, face_x: float) -> np.ndarray:
    """A 640x480 frame filled by the portrait (its edges stretched where it ends), the face's box (as the
    model finds it in the portrait) FACE_SIDE px wide and centred at (face_x, 200)."""
    image = cv2.imread(str(MEDIA / name))
    if image is None:
        raise FileNotFoundError(f"cannot read the benchmark portrait {MEDIA / name}")
    [face] = detections([image])[0][0]
    x0, y0, x1, y1 = face["box"]
    scale = FACE_SIDE / (x1 - x0)
    matrix = np.float32([[scale, 0, face_x - scale * (x0 + x1) / 2], [0, scale, 200 - scale * (y0 + y1) / 2]])
    return cv2.warpAffine(image, matrix, SIZE[::-1], flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def noisy(frames, seed: int = 0) -> list[np.ndarray]:
    """Each (frame, gain) pair's frame times its gain, with a camera's noise, as uint8."""
    rng = np.random.default_rng(seed)
    return [np.clip(frame.astype(np.float32) * gain + rng.normal(0, NOISE, frame.shape), 0, 255).astype(np.uint8)
            for frame, gain in frames]


def clips() -> dict[str, list[np.ndarray]]:
    """clip name -> its frames."""
    astronaut, hopper = filling("astronaut.png", 180), filling("grace_hopper.jpg", 460)
    fade = [i / 31 for i in range(1, 31)]
    return {
        "steady": noisy((astronaut, 1.0) for _ in range(60)),
        "cross_fade": noisy((cv2.addWeighted(astronaut, 1 - w, hopper, w, 0), 1.0)
                            for w in [0.0] * 10 + fade + [1.0] * 20),
        "cut": noisy([(astronaut, 1.0)] * 30 + [(hopper, 1.0)] * 30),
        "exposure_drift": noisy((astronaut, 1 + 0.2 * np.sin(2 * np.pi * i / 90)) for i in range(90)),
    }


def detections(frames: list[np.ndarray], detect_every: int = 1) -> tuple[list[list[dict]], int]:
    """The faces a fresh FaceDetector gives for each frame (unsmoothed), and how often its model ran."""
    node = FaceDetector("tracked", {"detect_every": detect_every, "smoothing": False})
    node.setup()
    out, runs = [], 0
    for frame in frames:
        out.append(node.process(frame)["faces"])
        runs += node._countdown == detect_every - 1  # the model ran: the countdown starts again
    return out, runs


def boxes(faces: list[dict]) -> np.ndarray:
    return np.array([f["box"] for f in faces], np.float32).reshape(-1, 4)


def unmatched(these: np.ndarray, those: np.ndarray) -> int:
    """How many of the boxes `these` overlap none of `those` by SAME_FACE_IOU."""
    return sum(iou_one_to_many(box, those).max(initial=0.0) < SAME_FACE_IOU for box in these)


def tracking(every=EVERY, only=None) -> dict:
    """clip (those named in `only`, or all) -> its frames and, per detect_every, frames with a stale box,
    frames with a missed face, and model runs per 100 frames."""
    result = {}
    for name, frames in clips().items():
        if only is not None and name not in only:
            continue
        reference = [boxes(faces) for faces in detections(frames)[0]]
        row = {"frames": len(frames)}
        for n in every:
            given, runs = detections(frames, n)
            given = [boxes(faces) for faces in given]
            row[f"stale_{n}"] = sum(unmatched(g, r) > 0 for g, r in zip(given, reference, strict=True))
            row[f"missed_{n}"] = sum(unmatched(r, g) > 0 for g, r in zip(given, reference, strict=True))
            row[f"runs_per_100_{n}"] = round(100 * runs / len(frames), 1)
        result[name] = row
    return result


def tracking_lines(result: dict, every=EVERY) -> list[str]:
    lines = ["FaceDetector's tracking, 640x480 clips of the portraits, against the model on every frame "
             "(frames with a box where the model finds no face / with a face the model finds and no box / "
             "model runs per 100 frames):"]
    for name, row in result.items():
        cells = "; ".join(f"detect_every {n}: {row[f'stale_{n}']} / {row[f'missed_{n}']} / "
                          f"{row[f'runs_per_100_{n}']:g}" for n in every)
        lines.append(f"  {name:14s} {row['frames']} frames; {cells}")
    return lines
