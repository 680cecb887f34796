"""FaceDetector: MediaPipe BlazeFace every N-th frame, the faces followed by optical flow in between."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from nodegraph.errors import InvalidInput, Problem, ProblemError
from nodegraph.node import Node
from nodegraph.onnx import create_session
from nodegraph.params import Bool, Choice, Float, Int
from nodegraph.types import Frame

from .face.blazeface import SORT_ORDERS, BlazeFace, iou_one_to_many, sort_faces
from .face.detect_passes import ANGLE_CHOICES, MIN_TILE, detect_faces, parse_angles, tiles
from .face.draw import draw_boxes
from .face.records import Faces, updated
from .face.smoothing import OneEuroFilter, frame_time
from .model_fit import checked_model
from .onnx_models import PROVIDER_CHOICES, loading, resolve_model

log = logging.getLogger("nodegraph")

MATCH_IOU = 0.3  # a detection continues a track when their boxes overlap at least this much
TRACK_SIDE = 640  # optical flow runs on the frame halved until its long side is below this
_FLOW_WINDOW = (15, 15)
_FLOW_LEVELS = 2
_MIN_FLOW_POINTS = 6
# A point followed to the next frame and back that misses its start by more, in flow-image px, was not
# followed (Kalal's forward-backward error): after a scene cut or over a hand it lands anywhere
_MAX_ROUND_TRIP = 1.0
# The followed box's grey patch must correlate at least this well with the last detected face's: a box
# that slid off the face (a cut, an occlusion, slow drift) looks different
MIN_LIKENESS = 0.5
_PATCH_SIDE = 24  # px of the grey patches compared
# A picture whose grey-level histogram moved further than this (Bhattacharyya distance) since the model last
# ran is another shot, or one fading into another, and its faces are not followed: shot-boundary detection
# finds a gradual transition by the change summed since its start, as each frame's own change is small
# (Zhang et al.'s twin comparison). Steady footage with the face moving across moves it at most 0.06 over 60
# frames of the demo clips; a 30-frame cross-fade between two portraits, 0.3 to 0.46 within 12 frames
MAX_SCENE_CHANGE = 0.1
_HISTOGRAM_BINS = 32
# A model run and a frame's optical flow at 640x480, ms: FaceDetector's cost_ms with its defaults
_MODEL_MS, _FLOW_MS = 8.0, 1.0


def check_frame(frame: np.ndarray, where: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InvalidInput(f"{where}: input 'frame' must be a BGR uint8 H x W x 3 image, got {got}")


def flow_image(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """(grey image for optical flow, its scale): the frame halved until its long side is below TRACK_SIDE."""
    scale = 1.0
    while max(frame.shape[:2]) * scale >= TRACK_SIDE:
        scale /= 2
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        h, w = grey.shape
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey, scale


def grey_patch(grey: np.ndarray, scale: float, box) -> np.ndarray:
    """The box's content in a flow image, shrunk to a small square grey patch."""
    x0, y0, x1, y1 = np.asarray(box, np.float64) * scale
    sx, sy = _PATCH_SIDE / max(x1 - x0, 1e-3), _PATCH_SIDE / max(y1 - y0, 1e-3)
    to_patch = np.float32([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]])
    return cv2.warpAffine(grey, to_patch, (_PATCH_SIDE, _PATCH_SIDE), flags=cv2.INTER_LINEAR)


def grey_histogram(grey: np.ndarray) -> np.ndarray:
    """The grey image's histogram of _HISTOGRAM_BINS levels, as shares of its pixels."""
    histogram = cv2.calcHist([grey], [0], None, [_HISTOGRAM_BINS], [0, 256])
    return histogram / histogram.sum()


def scene_change(before: np.ndarray, grey: np.ndarray) -> float:
    """How far the grey image's histogram is from the histogram `before`, 0 (alike) to 1 (nothing shared)."""
    return float(cv2.compareHist(before, grey_histogram(grey), cv2.HISTCMP_BHATTACHARYYA))


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two patches of one size, -1 to 1 (0 when either is flat)."""
    return float(cv2.matchTemplate(a, b, cv2.TM_CCOEFF_NORMED)[0, 0])


def follow(previous: np.ndarray, current: np.ndarray, scale: float, face: dict) -> dict | None:
    """The face moved from the `previous` grey image to the `current` one, or None when it is lost.

    A 4x4 grid over the middle of the box and the eyes, nose and mouth are tracked with pyramidal
    Lucas-Kanade, forward and back: a point that does not come back to its start is dropped. A similarity
    (least median of squares, so up to half the points may fail) fitted to the others moves the keypoints
    and the box centre and scales the box."""
    x0, y0, x1, y1 = np.asarray(face["box"], np.float64) * scale
    xs = np.linspace(x0 + 0.2 * (x1 - x0), x1 - 0.2 * (x1 - x0), 4)
    ys = np.linspace(y0 + 0.2 * (y1 - y0), y1 - 0.2 * (y1 - y0), 4)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    points = np.vstack([grid, np.asarray(face["keypoints"], np.float64)[:4] * scale]).astype(np.float32)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, points[:, None], None,
                                                winSize=_FLOW_WINDOW, maxLevel=_FLOW_LEVELS)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(current, previous, moved, None,
                                                    winSize=_FLOW_WINDOW, maxLevel=_FLOW_LEVELS)
    round_trip = np.linalg.norm(back[:, 0] - points, axis=1)
    good = (status.ravel() == 1) & (back_status.ravel() == 1) & (round_trip <= _MAX_ROUND_TRIP)
    if good.sum() < _MIN_FLOW_POINTS:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(points[good], moved[good, 0], method=cv2.LMEDS)
    if matrix is None:
        return None
    matrix[:, 2] /= scale  # the same motion in frame pixels
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    box = np.asarray(face["box"], np.float64)
    centre = matrix[:, :2] @ ((box[:2] + box[2:]) / 2) + matrix[:, 2]
    half = (box[2:] - box[:2]) / 2 * zoom
    h, w = current.shape[0] / scale, current.shape[1] / scale
    if not (0 <= centre[0] < w and 0 <= centre[1] < h) or not 0.5 < zoom < 2.0:
        return None
    keypoints = np.asarray(face["keypoints"], np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return updated(face, box=np.concatenate([centre - half, centre + half]).astype(np.float32),
                   keypoints=keypoints.astype(np.float32))


def continue_tracks(detections: list[dict], tracks: list[dict], next_id: int) -> tuple[list[dict], int]:
    """The detections with track ids: each takes the id of the tracked face it overlaps most (greedy by
    overlap, at least MATCH_IOU); the others get new ids from `next_id`. Returns them and the next id."""
    pairs = []
    if tracks:
        track_boxes = np.array([t["box"] for t in tracks], np.float32)
        for i, face in enumerate(detections):
            for j, overlap in enumerate(iou_one_to_many(face["box"], track_boxes)):
                if overlap >= MATCH_IOU:
                    pairs.append((float(overlap), i, j))
    ids: dict[int, int] = {}
    taken: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in ids and j not in taken:
            ids[i] = tracks[j]["track_id"]
            taken.add(j)
    out = []
    for i, face in enumerate(detections):
        if i not in ids:
            ids[i] = next_id
            next_id += 1
        out.append(updated(face, track_id=ids[i]))
    return out, next_id


class FaceDetector(Node):
    """Finds faces with MediaPipe BlazeFace: per face a box, a score, six keypoints and a track id.

    With `detect_every` N > 1 (the default: 2) the model runs on every N-th frame only. In between, each
    face is followed by sparse optical flow from the previous frame (about 1 ms at 640x480, against 6 ms
    for the full-range model), so its box and keypoints move with it. A face that cannot be followed
    makes the model run on that frame: its points must come back to where they started when followed
    back (not so after a scene cut or a fast exit), and its box must still look like the face the model
    last found (not so once a hand covers it), so an old face's box is never carried onto another shot.
    Nor is it carried through a cross-fade into another shot, where each frame changes little and the
    fading face's box still passes both checks: once the picture's grey levels have moved further from
    those of the frame the model last ran on than steady footage moves them, the model runs.
    A FaceMarker's landmarks hardly change with it (on the demo clip, N = 2 moves them 0.13 px on
    average per coordinate against the model on every frame), and a new face waits at most N - 1 frames
    to be found. Each detection takes the track id of the face it overlaps, so ids stay
    stable while a face is in view. A FaceMarker downstream crops from these boxes, so its landmarks
    follow the face on tracking frames too.
    The model was trained on upright faces of a frame shrunk to its 192 px input, so it misses faces
    on their side or upside down (`angles` also tries the frame turned by right angles: a face found
    turned is mapped back exactly, keypoints included, and FaceMarker and FaceAligner turn their crops
    by its eye line) and faces under about a 12th of the frame's long side (`tile_size` also runs it on
    overlapping tiles at full resolution, SAHI-style: a 40 px face in 1080p, a face in a 32:9 frame).
    Each extra pass costs one more model run on the frames the model runs on; the passes' faces are
    merged by NMS, a face seen by several keeping its best reading. A face that only an extra pass found
    must score 0.1 over the threshold, or, found on a tile, be found again by a second look at its
    surroundings (one more run): more looks at a frame are more chances to read texture as a face.
    The defaults run the model once, and once more for each face it reads under 20 of its 192 input px
    (a face under 200 px in 1080p), where its box is loose or off-centre: a second look at the face's
    surroundings gives the box and keypoints (a face it does not find again is dropped). A face found on
    the turned frame gets the same second look, turned.
    Keypoints: right eye, left eye, nose tip, mouth centre, right ear, left ear (the subject's sides).
    """

    category = "Detect"
    inputs = {"frame": Frame}
    outputs = {"faces": Faces}
    params = {
        "model": Choice(["blazeface_full", "blazeface_short"], default="blazeface_full",
                        help="full range: faces up to about 5 m away; short range: within about 2 m, faster"),
        "threshold": Float(0.05, 0.99, default=0.5, step=0.01,
                           help="lowest face score kept (a face only the extra angles or tiles find needs 0.1 "
                                "more, or a tile's second look)"),
        "max_faces": Int(0, 64, default=0, help="keep at most this many faces, the first in `sort` order; "
                                                "0 keeps all"),
        "min_size": Int(0, 4096, default=0, help="drop faces whose box is narrower or lower than this, px"),
        "sort": Choice(list(SORT_ORDERS), default="largest", help="the order of the faces in the output"),
        "angles": Choice(list(ANGLE_CHOICES), default="0",
                         help="also look for faces turned by these angles, clockwise: 90 and 270 for a phone "
                              "held sideways or a person lying down, 180 for upside down; each angle is one "
                              "more model run on every detection"),
        "tile_size": Int(0, 4096, default=0,
                         help="also look in overlapping square tiles of this side, px, for faces too small "
                              "for the whole frame (the full range model finds faces down to about a 12th of "
                              "the side it sees: 160 px in a 1920 px wide frame, 40 px in a 480 px tile); "
                              "each tile is one more model run on every detection; 0: the whole frame only"),
        "detect_every": Int(1, 60, default=2,
                            help="run the model on every N-th frame and follow the faces in between; a face "
                                 "that cannot be followed (a scene cut or a cross-fade, a hand over it) makes "
                                 "it run at once"),
        "smoothing": Bool(True, help="steady the boxes and keypoints over time (One-Euro filter)"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the model"),
    }
    heavy = True
    cost_ms = 4.5  # the mean with the defaults: the model on every other frame, the flow on the others

    @classmethod
    def estimated_cost_ms(cls, params):
        """One model run per angle and per tile of a 640x480 frame on the frames the model runs on, the
        optical flow on the others (a tile-only face's second look, run on few, is left out)."""
        runs = len(parse_angles(params["angles"])) + (len(tiles(640, 480, params["tile_size"]))
                                                       if params["tile_size"] else 0)
        every = params["detect_every"]
        return (_MODEL_MS * runs + _FLOW_MS * (every - 1)) / every

    @classmethod
    def check_param(cls, node_id, name, value):
        value = super().check_param(node_id, name, value)
        if name == "tile_size" and 0 < value < MIN_TILE:
            raise ProblemError(Problem(
                f"a {value} px tile is smaller than the models' input ({MIN_TILE} px or more), so it would "
                f"cost many model runs and find nothing more: use 0 (the whole frame only) or at least "
                f"{MIN_TILE}, e.g. 480 for 40 px faces", node=node_id, node_type=cls.type_name(), param=name))
        return value

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        kind = params["model"].removeprefix("blazeface_")
        checked_model(problems, "model", params["model"], base_dir, lambda _, tensors: BlazeFace(tensors, kind))
        return problems

    def setup(self):
        self._load()
        self._tracks: list[dict] = []  # the last frame's faces, unsmoothed, with track ids
        self._next_id = 0
        self._countdown = 0  # tracking frames left before the model runs again
        self._flow: tuple[np.ndarray, float] | None = None
        self._patches: dict[int, np.ndarray] = {}  # per track id, the last detected face's grey patch
        self._histogram: np.ndarray | None = None  # the grey histogram of the frame the model last ran on
        self._filters: dict[int, OneEuroFilter] = {}
        self._shown: tuple[np.ndarray, list[dict]] | None = None
        self._frames = self._frames_with_faces = 0  # for the word at close when it never found one

    def param_changed(self, name):
        if name in ("model", "provider"):
            self._load()
        if name in ("model", "threshold", "max_faces", "min_size", "detect_every", "angles", "tile_size"):
            self._countdown = 0  # the model runs on the next frame, so the edit shows at once

    def _load(self):
        what = f"node '{self.id}' (FaceDetector), param 'model'"
        path = resolve_model(self.model, self.base_dir, what)
        with loading(what):
            self.blazeface = BlazeFace(create_session(path, provider=self.provider, label=self.id),
                                       model=self.model.removeprefix("blazeface_"))

    def process(self, frame):
        check_frame(frame, f"node '{self.id}' (FaceDetector)")
        flow = flow_image(frame) if self.detect_every > 1 else None
        faces = None
        tracking = self._countdown > 0 and self._tracks and self._flow is not None and flow is not None
        if tracking and self._flow[0].shape == flow[0].shape:
            followed = self._follow(flow)
            if followed is not None:
                faces = sort_faces(followed, self.sort, frame.shape)
                self._countdown -= 1
        if faces is None:
            faces = self._detect(frame)
            self._countdown = self.detect_every - 1
            self._patches = {face["track_id"]: grey_patch(*flow, face["box"]) for face in faces} if flow else {}
            self._histogram = grey_histogram(flow[0]) if flow else None
        self._flow = flow  # kept for the next frame: flow_image made it, it is not a view of the input
        self._tracks = faces
        shown = self._smooth(faces) if self.smoothing else faces
        self._shown = (frame, shown)
        self._frames += 1
        self._frames_with_faces += bool(shown)
        return {"faces": shown}

    def _follow(self, flow: tuple[np.ndarray, float]) -> list[dict] | None:
        """Every tracked face followed into this frame, or None when the picture changed too much since the
        model last ran, or a face is lost or no longer looks like the face the model last found there: the
        model then runs on this frame."""
        grey, scale = flow
        if scene_change(self._histogram, grey) > MAX_SCENE_CHANGE:
            return None
        followed = []
        for face in self._tracks:
            moved = follow(self._flow[0], grey, scale, face)
            if moved is None:
                return None
            if likeness(grey_patch(grey, scale, moved["box"]), self._patches[face["track_id"]]) < MIN_LIKENESS:
                return None
            followed.append(moved)
        return followed

    def _detect(self, frame: np.ndarray) -> list[dict]:
        found = detect_faces(self.blazeface, frame, self.threshold, self.min_size,
                             angles=parse_angles(self.angles), tile_side=self.tile_size)
        found, self._next_id = continue_tracks(found, self._tracks, self._next_id)
        found = sort_faces(found, self.sort, frame.shape)
        return found[: self.max_faces] if self.max_faces else found

    def _smooth(self, faces: list[dict]) -> list[dict]:
        """Faces with box corners and keypoints smoothed per track over the frames' times."""
        filters = {}
        out = []
        for face in faces:
            track = face["track_id"]
            filters[track] = self._filters.get(track) or OneEuroFilter()
            points = np.vstack([np.asarray(face["box"]).reshape(2, 2), face["keypoints"]])
            smooth = filters[track](points, frame_time(self))
            out.append(updated(face, box=smooth[:2].reshape(4), keypoints=smooth[2:]))
        self._filters = filters
        return out

    def preview(self, outputs):
        if self._shown is None:
            return None
        frame, faces = self._shown
        return draw_boxes(frame, faces)

    def close(self):
        self._flow = None
        if getattr(self, "_frames", 0) and not self._frames_with_faces:
            log.warning("node '%s' (FaceDetector): no face found in any of the %d frames, so the faces nodes "
                        "after it had nothing to work on; for faces near the camera try model blazeface_short, "
                        "for small or faint ones a lower threshold", self.id, self._frames)
