"""FaceDetector's hard cases (`nodegraph bench detect`): the recall of each extra pass where the default
misses faces, and what it costs, in one run.

The cases are made from the two public-domain portraits in presets/media: each turned by 90, 180 and
270 degrees (a phone held sideways, a person lying down); each scaled so its face is 40 px tall in a
1920x1080 frame; and each with a 130 px face in a 3840x1080 (32:9) frame. Recall: the share of these
faces found with a box on the face, by the default detector and by the mode meant for the case. Cost: ms
per detection (the model on every frame, one thread) of each mode on its frame, and its ratio to the
default on the same frame; the modes run interleaved, so a busy machine slows them alike.

Layouts: each portrait with its face 24, 40, 64 and 128 px tall at 18 places of a 1920x1080 frame (144
layouts; a 24 px face is below what 480 px tiles find), with `tile_size` 480: the faces found, and the
false detections (boxes off the face) by default and with the tiles, each extra pass being one more
chance to read texture as a face. The same layouts with the portraits turned by 90, 180 and 270 degrees,
with every angle tried: the faces found, the false detections and how well the boxes fit.

Tracking (detect_track_bench): on clips of the portraits (steady, a cross-fade, a cut, an exposure
drift), the frames with a box where the model finds no face, with a face the model finds and no box,
and the model's runs per 100 frames, at detect_every 1 and 12.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
import numpy as np

from nodes.chain_bench import set_thread_budget
from nodes.detect import FaceDetector
from nodes.detect_track_bench import tracking, tracking_lines
from nodes.face.blazeface import iou_one_to_many
from nodes.face.detect_passes import ROTATE_CODES, turned_box

MEDIA = Path(__file__).resolve().parents[1] / "presets" / "media"
PORTRAITS = ("astronaut.png", "grace_hopper.jpg")
ROUNDS = 10
ALL_ANGLES = "0,90,180,270"
LAYOUT_HEIGHTS = (24, 40, 64, 128)
LAYOUT_PLACES = tuple((x, y) for y in (0.1, 0.4, 0.7) for x in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8))
LAYOUT_MODE = {"tile_size": 480}
# case -> (the mode meant for it, the frame size its cost is measured on)
MODES = {
    "turned": ({"angles": ALL_ANGLES}, (1080, 1920)),
    "sideways": ({"angles": "0,90,270"}, (1080, 1920)),
    "small_1080p": ({"tile_size": 480}, (1080, 1920)),
    "wide_32_9": ({"tile_size": 1080}, (1080, 3840)),
}


def detect(frame: np.ndarray, **params) -> list[dict]:
    """The faces a fresh FaceDetector finds in one frame (the model runs: it is its first frame)."""
    node = FaceDetector("d", {"smoothing": False, **params})
    node.setup()
    return node.process(frame)["faces"]


def placed(image: np.ndarray, face_height: float, size=(1080, 1920), at=None) -> tuple[np.ndarray, np.ndarray]:
    """`image` scaled so its face's box is `face_height` px tall, its top-left corner `at` (x, y; None:
    45% across, 30% down) on a grey frame of `size` (h, w); and where the face's box then is (the box the
    model finds in the whole image, scaled and moved with it)."""
    [reference] = detect(image)
    scale = face_height / (reference["box"][3] - reference["box"][1])
    x, y = at or (size[1] * 0.45, size[0] * 0.3)
    matrix = np.float32([[scale, 0, x], [0, scale, y]])
    frame = np.full((*size, 3), 100, np.uint8)
    cv2.warpAffine(image, matrix, size[::-1], dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
    return frame, reference["box"] * scale + np.float32([x, y, x, y])


def on_face(box: np.ndarray, where: np.ndarray) -> bool:
    """The box is centred on the face (within 15% of its side) and about its size (the model reads a
    face of 12 to 16 input px a little small)."""
    side = where[2] - where[0]
    centre, expected = (box[:2] + box[2:]) / 2, (where[:2] + where[2:]) / 2
    return bool(np.hypot(*(centre - expected)) < 0.15 * side and 0.75 < (box[2] - box[0]) / side < 1.25)


def cases() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """case -> its (frame, where the face is) pairs."""
    out: dict[str, list] = {"turned": [], "sideways": [], "small_1080p": [], "wide_32_9": []}
    for name in PORTRAITS:
        image = cv2.imread(str(MEDIA / name))
        [upright] = detect(image)
        for angle, code in ROTATE_CODES.items():
            pair = (cv2.rotate(image, code), turned_box(upright["box"], angle, image.shape))
            out["turned"].append(pair)
            if angle != 180:
                out["sideways"].append(pair)
        out["small_1080p"].append(placed(image, 40))
        out["wide_32_9"].append(placed(image, 130, size=(1080, 3840)))
    return out


def off_face(box: np.ndarray, where: np.ndarray) -> bool:
    """The box is a false detection: it hardly overlaps the face (IoU under 0.3, the model's NMS's)."""
    return bool(iou_one_to_many(box, where[None])[0] < 0.3)


def layouts(heights=LAYOUT_HEIGHTS, places=LAYOUT_PLACES) -> dict:
    """The small faces found and the false detections over the portraits placed at each of `heights`
    and `places` (x, y: shares of the frame) of a 1080p frame, by default and with LAYOUT_MODE."""
    counts = {"layouts": 0, "found_default": 0, "found_mode": 0, "false_default": 0, "false_mode": 0}
    for name in PORTRAITS:
        image = cv2.imread(str(MEDIA / name))
        for height, (x, y) in itertools.product(heights, places):
            frame, where = placed(image, height, at=(1920 * x, 1080 * y))
            counts["layouts"] += 1
            for kind, params in (("default", {}), ("mode", LAYOUT_MODE)):
                boxes = [f["box"] for f in detect(frame, **params)]
                counts[f"found_{kind}"] += any(on_face(box, where) for box in boxes)
                counts[f"false_{kind}"] += sum(off_face(box, where) for box in boxes)
    return counts


def turned_layouts(heights=LAYOUT_HEIGHTS, places=LAYOUT_PLACES, angles=(90, 180, 270)) -> dict:
    """The portraits turned by each of `angles`, placed as layouts() places them, with every angle tried:
    the faces found, the false detections, and the mean IoU of the boxes on a face with its box."""
    counts = {"layouts": 0, "found": 0, "false": 0}
    overlaps = []
    for name, angle in itertools.product(PORTRAITS, angles):
        image = cv2.imread(str(MEDIA / name))
        [upright] = detect(image)
        turned, box = cv2.rotate(image, ROTATE_CODES[angle]), turned_box(upright["box"], angle, image.shape)
        for height, (x, y) in itertools.product(heights, places):
            scale, at = height / (box[3] - box[1]), np.float32([1920 * x, 1080 * y])
            frame = np.full((1080, 1920, 3), 100, np.uint8)
            matrix = np.float32([[scale, 0, at[0]], [0, scale, at[1]]])
            cv2.warpAffine(turned, matrix, (1920, 1080), dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
            where = box * scale + np.tile(at, 2)
            boxes = [f["box"] for f in detect(frame, angles=ALL_ANGLES)]
            counts["layouts"] += 1
            counts["found"] += any(on_face(b, where) for b in boxes)
            counts["false"] += sum(off_face(b, where) for b in boxes)
            overlaps += [float(iou_one_to_many(b, where[None])[0]) for b in boxes if not off_face(b, where)]
    return {**counts, "boxes_on_face": len(overlaps), "mean_iou": round(float(np.mean(overlaps or [0.0])), 3)}


def recall(pairs, **params) -> float:
    return sum(any(on_face(f["box"], where) for f in detect(frame, **params)) for frame, where in pairs) / len(pairs)


def run(frames: int | None = None) -> dict:
    rounds = frames or ROUNDS
    set_thread_budget(1)
    result = {}
    for case, pairs in cases().items():
        params, size = MODES[case]
        result[case] = {"faces": len(pairs), "mode": params, "recall_default": recall(pairs),
                        "recall_mode": recall(pairs, **params)}
    for case, (params, size) in MODES.items():
        frame = placed(cv2.imread(str(MEDIA / PORTRAITS[0])), 40, size=size)[0]
        nodes = [FaceDetector("default", {"detect_every": 1}), FaceDetector("mode", {"detect_every": 1, **params})]
        times: list[list[float]] = [[], []]
        for node in nodes:
            node.setup()
        for _ in range(rounds + 1):  # the first round warms up and is dropped
            for node, spent in zip(nodes, times, strict=True):
                start = time.perf_counter()
                node.process(frame)
                spent.append((time.perf_counter() - start) * 1000.0)
        default_ms, mode_ms = (float(np.median(t[1:])) for t in times)
        result[case].update(frame=f"{size[1]}x{size[0]}", ms_default=round(default_ms, 2),
                            ms_mode=round(mode_ms, 2), cost_ratio=round(mode_ms / default_ms, 2))
    result["layouts"] = {"mode": LAYOUT_MODE, **layouts()}
    result["turned_layouts"] = turned_layouts()
    result["tracking"] = tracking()
    result["threads"], result["rounds"] = 1, rounds
    return result


def summary(result: dict) -> str:
    lines = [f"FaceDetector's hard cases, one thread, the model on every frame, median of {result['rounds']} "
             "rounds:"]
    for case, row in result.items():
        if case in MODES:
            mode = ", ".join(f"{k} {v}" for k, v in row["mode"].items())
            lines.append(f"  {case:12s} {row['faces']} faces found {row['recall_default']:.0%} by default, "
                         f"{row['recall_mode']:.0%} with {mode}; at {row['frame']} {row['ms_mode']:.1f} ms a "
                         f"detection against {row['ms_default']:.1f} ({row['cost_ratio']}x)")
    row = result["layouts"]
    lines.append(f"  layouts      {row['layouts']} faces (24 to 128 px) at 18 places of 1920x1080: found "
                 f"{row['found_default']} by default, {row['found_mode']} with tile_size 480; false detections "
                 f"{row['false_default']} by default, {row['false_mode']} with tile_size 480")
    row = result["turned_layouts"]
    lines.append(f"  layouts, turned {row['layouts']} faces (24 to 128 px) turned by 90, 180 and 270 degrees at "
                 f"the same places, with angles {ALL_ANGLES}: found {row['found']}, false detections {row['false']}, "
                 f"mean IoU {row['mean_iou']:.2f} of the {row['boxes_on_face']} boxes on a face")
    return "\n".join(lines + tracking_lines(result["tracking"]))
