"""BlazeFace run more than once on a frame: on the frame turned by right angles (faces on their side or
upside down, which the model, trained on upright faces, misses) and on overlapping tiles at full
resolution (faces too small to survive the shrink of a whole frame to the model's 192 px, SAHI-style).
Every pass's faces are mapped back to frame pixels and merged by NMS.

Each extra pass is one more chance for texture to pass for a face: a visor read as a face on its side,
a suit's folds read as a face in a tile at full resolution, scoring just over the threshold. So a face
that only an extra pass found (no reading of the upright whole frame overlaps it) needs more than the
threshold, as more looks at the same frame need a stricter bar to keep the false detections of one look.
Such a face scoring under EXTRA_LOOK_MARGIN over the threshold is dropped, unless a tile found it and a
second look confirms it: the model on the face's surroundings, framed anew (a true small face is found
again; texture that looked like one at a tile's framing is not).

The whole frame's pass, the default's one model run, boxes a face it sees at under REREAD_BELOW of its
input px badly (loose, small or off-centre, or a head and shoulders read as one face): such a face is read
again by the same second look, which gives its box and keypoints. So is one the turned frame's pass found,
its second look turned as that pass was (the model misses it upright)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .blazeface import BlazeFace, shrunk

# cv2.rotate's codes for turning the frame clockwise by 90, 180 and 270 degrees
ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
NMS_IOU = 0.3  # BlazeFace's own
MIN_TILE = 128  # the short-range model's input side: a smaller tile only adds model runs
TILE_OVERLAP = 0.25  # of a tile's side: a face up to this size lies whole in at least one tile
# Two boxes of which the smaller lies this much inside the other are one face read twice: a piece of the
# face cut by a tile's edge, or a loose box around a face too small for the whole frame; plain IoU misses
# both, one box being small beside the other (SAHI's intersection over the smaller).
_INSIDE_SHARE = 0.6
# A face only an extra pass found must score this much over the threshold, or be confirmed by a second look
EXTRA_LOOK_MARGIN = 0.1
# The second look's square is this many times the face's side: the face a third of it, where the model,
# on a tile's small faces and its false ones alike, told them apart best (every true one found again)
SECOND_LOOK_SPAN = 3.0
# A face the whole frame's pass reads under this many of the model's input px a side gets a second look,
# whose reading it takes: the model's box for a face it sees at 10 to 16 px is loose, small or off-centre
# (IoU 0.55 to 0.8 with the face's box at full size, 0.9 or more from the second look), and at the edge of
# what it sees it reads a head and shoulders as one face (a box 3.6 times a 24 px face in 1080p). A face
# the second look does not find again was no face the model can see there, and is dropped. The turned
# passes read as loosely (IoU 0.67 over bench detect's turned layouts, 0.90 from a turned second look)
REREAD_BELOW = 20

# FaceDetector's `angles` choices: the frame's turns tried, the upright frame always first
ANGLE_CHOICES = ("0", "0,180", "0,90,270", "0,90,180,270")


def parse_angles(text: str) -> tuple[int, ...]:
    """'0,90,270' -> (0, 90, 270)."""
    return tuple(int(part) for part in text.split(","))


def rotation_matrix(angle: int, width: int, height: int) -> np.ndarray:
    """2x3 matrix from frame pixels to pixels of the frame turned clockwise by `angle` (0, 90, 180, 270)
    as cv2.rotate turns it (pixel edges at whole numbers, so the mapping is exact)."""
    return {
        0: np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        90: np.array([[0.0, -1.0, height], [1.0, 0.0, 0.0]]),
        180: np.array([[-1.0, 0.0, width], [0.0, -1.0, height]]),
        270: np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width]]),
    }[angle]


def _points_through(matrix: np.ndarray, points) -> np.ndarray:
    return cv2.transform(np.asarray(points, np.float64).reshape(-1, 1, 2), matrix).reshape(-1, 2)


def _box_through(matrix: np.ndarray, box) -> np.ndarray:
    """An axis-aligned box through a matrix of right-angle turns and shifts: still one."""
    corners = _points_through(matrix, np.reshape(box, (2, 2)))
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)]).astype(np.float32)


def turned_points(points, angle: int, shape) -> np.ndarray:
    """Where N x 2 points of a frame of `shape` are once the frame is turned clockwise by `angle`."""
    return _points_through(rotation_matrix(angle, shape[1], shape[0]), points)


def turned_box(box, angle: int, shape) -> np.ndarray:
    """Where a box of a frame of `shape` is once the frame is turned clockwise by `angle`."""
    return _box_through(rotation_matrix(angle, shape[1], shape[0]), box)


def tile_origins(length: int, side: int) -> list[int]:
    """Where tiles of `side` px start along a `length` px edge: evenly spread, overlapping by at least
    TILE_OVERLAP of a side, the first at 0 and the last at the end."""
    if length <= side:
        return [0]
    count = math.ceil((length - side) / (side * (1 - TILE_OVERLAP))) + 1
    return [round(x) for x in np.linspace(0, length - side, count)]


def tiles(width: int, height: int, side: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of the overlapping tiles of `side` px that cover a width x height frame."""
    return [(x, y, min(side, width), min(side, height))
            for y in tile_origins(height, side) for x in tile_origins(width, side)]


def _moved(faces: list[dict], matrix: np.ndarray) -> list[dict]:
    """The faces with boxes and keypoints taken through the 2x3 `matrix` (right angles and shifts)."""
    return [{**face, "box": _box_through(matrix, face["box"]),
             "keypoints": _points_through(matrix, face["keypoints"]).astype(np.float32)} for face in faces]


def _turned_faces(model: BlazeFace, frame: np.ndarray, angles: tuple[int, ...], threshold: float) -> list[dict]:
    """The model on the frame turned by each angle. The frame is shrunk to the model's input once and
    the small image turned: the same pixels the model would see from turning the whole frame first
    (a right-angle turn commutes with the resize), at a fraction of the cost at 1080p."""
    small = shrunk(frame, model.size)
    (h, w), (sh, sw) = frame.shape[:2], small.shape[:2]
    to_frame = np.diag([w / sw, h / sh])
    found = []
    for angle in angles:
        turned = small if angle == 0 else cv2.rotate(small, ROTATE_CODES[angle])
        back = to_frame @ cv2.invertAffineTransform(rotation_matrix(angle, sw, sh))
        found += [{**face, "look": "upright" if angle == 0 else "turned", "angle": angle}
                  for face in _moved(model.detect(turned, threshold=threshold), back)]
    return found


def _tile_faces(model: BlazeFace, frame: np.ndarray, side: int, threshold: float) -> list[dict]:
    h, w = frame.shape[:2]
    found = []
    for x, y, tw, th in tiles(w, h, side):
        shift = np.array([[1.0, 0.0, x], [0.0, 1.0, y]])
        found += [{**face, "look": "tile"}
                  for face in _moved(model.detect(frame[y:y + th, x:x + tw], threshold=threshold), shift)]
    return found


def _second_look(model: BlazeFace, frame: np.ndarray, face: dict, threshold: float, angle: int = 0) -> list[dict]:
    """The faces the model finds again where `face` is, on a square SECOND_LOOK_SPAN times its side around
    it (black where it runs off the frame) turned clockwise by `angle`, in frame pixels."""
    box = face["box"]
    side = math.ceil(SECOND_LOOK_SPAN * _side(box))
    x, y = (np.floor((box[:2] + box[2:]) / 2) - side // 2).astype(int)
    inside = frame[max(y, 0):y + side, max(x, 0):x + side]
    square = cv2.copyMakeBorder(inside, max(-y, 0), side - inside.shape[0] - max(-y, 0),
                                max(-x, 0), side - inside.shape[1] - max(-x, 0), cv2.BORDER_CONSTANT)
    turned = square if angle == 0 else cv2.rotate(square, ROTATE_CODES[angle])
    back = cv2.invertAffineTransform(rotation_matrix(angle, side, side)) + np.array([[0.0, 0.0, x], [0.0, 0.0, y]])
    again = _moved(model.detect(turned, threshold=threshold), back)
    return [found for found in again if _same_face(box, found["box"][None])[0]]


def _reread(model: BlazeFace, frame: np.ndarray, faces: list[dict], threshold: float) -> list[dict]:
    """The faces, each the whole frame's pass (upright or turned) read under REREAD_BELOW input px replaced
    by what its second look, turned as that pass was, finds there (nothing: it is dropped)."""
    to_input = model.size / max(frame.shape[:2])
    out = []
    for face in faces:
        if face["look"] in ("upright", "turned") and _side(face["box"]) * to_input < REREAD_BELOW:
            out += [{**again, "look": face["look"]}
                    for again in _second_look(model, frame, face, threshold, face["angle"])]
        else:
            out.append(face)
    return out


def _side(box) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def _merged(faces: list[dict]) -> list[dict]:
    """One face per face seen: plain NMS keeps the best-scored pass's box and keypoints whole (a blend
    of an upright and a sideways reading would mix two sets of keypoints), then pieces of a face that a
    tile cut or a loose box around it are dropped."""
    if not faces:
        return []
    xywh = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in (f["box"] for f in faces)]
    best = cv2.dnn.NMSBoxes(xywh, [f["score"] for f in faces], 0.0, NMS_IOU)
    kept = []
    for face in (faces[i] for i in np.ravel(best)):
        if not kept or not _same_face(face["box"], np.array([f["box"] for f in kept])).any():
            kept.append(face)
    return kept


def _same_face(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per box of `boxes`: whether it and `box` are one face read twice (the smaller lies mostly inside
    the other)."""
    smaller = np.minimum(_areas(box[None]), _areas(boxes))
    return _intersections(box, boxes) >= _INSIDE_SHARE * smaller


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _intersections(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    low, high = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    return np.prod(np.clip(high - low, 0, None), axis=1)


def detect_faces(model: BlazeFace, frame: np.ndarray, threshold: float, min_size_px: float = 0,
                 angles: tuple[int, ...] = (0,), tile_side: int = 0) -> list[dict]:
    """Faces in the frame, best score first: the model on the frame turned by each of `angles`, and
    with `tile_side` > 0 on overlapping tiles of that side too; boxes at least `min_size_px` a side.
    With the defaults it is one model run, as BlazeFace.detect, and one more per face too small for it to
    read well (REREAD_BELOW)."""
    if angles == (0,) and not tile_side:
        seen = [{**face, "look": "upright", "angle": 0} for face in model.detect(frame, threshold=threshold)]
        return _kept(_reread(model, frame, seen, threshold), min_size_px)
    found = _turned_faces(model, frame, angles, threshold)
    if tile_side:
        found += _tile_faces(model, frame, tile_side, threshold)
    upright = np.array([f["box"] for f in found if f["look"] == "upright"], np.float32).reshape(-1, 4)
    faces = []
    for face in _reread(model, frame, _merged(found), threshold):
        sure = face["score"] >= threshold + EXTRA_LOOK_MARGIN or _same_face(face["box"], upright).any()
        if sure or (face["look"] == "tile" and _second_look(model, frame, face, threshold)):
            faces.append(face)
    return _kept(faces, min_size_px)


def _kept(faces: list[dict], min_size_px: float) -> list[dict]:
    """The faces whose box is at least `min_size_px` a side, as box, score and keypoints, best score first."""
    return [{key: face[key] for key in ("box", "score", "keypoints")}
            for face in sorted(faces, key=lambda f: -f["score"])
            if min(face["box"][2] - face["box"][0], face["box"][3] - face["box"][1]) >= min_size_px]
