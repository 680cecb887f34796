"""FaceMarker: MediaPipe FaceMesh's 468 landmarks and the head pose of every face, smoothed over time."""

from __future__ import annotations

import numpy as np

from nodegraph.node import Node
from nodegraph.onnx import create_session
from nodegraph.params import Bool, Choice, Float
from nodegraph.types import Frame

from .detect import check_frame
from .face.draw import draw_landmarks
from .face.facemesh import CROP_MARGIN, FaceMesh, head_pose
from .face.records import Faces, updated
from .face.smoothing import OneEuroFilter, frame_time
from .model_fit import checked_model
from .onnx_models import PROVIDER_CHOICES, loading, resolve_model


def widened(box, coverage: float) -> np.ndarray:
    """The box scaled about its centre so that FaceMesh's crop (CROP_MARGIN x the box) spans `coverage`
    x the original box."""
    box = np.asarray(box, np.float64)
    centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2 * (coverage / CROP_MARGIN)
    return np.concatenate([centre - half, centre + half])


class FaceMarker(Node):
    """468 FaceMesh landmarks and the head pose of every face, smoothed over time.

    Sets `landmarks` (x, y, z in frame pixels) and `pose` (yaw, pitch, roll in degrees), and drops the
    faces FaceMesh does not see as faces. The crop FaceMesh sees is a square around the face's box,
    turned so the eyes are level. Landmarks are smoothed per track id with a One-Euro filter on the
    frame's time (in a video file, its time in the video): a still face does not jitter, a moving one
    does not lag much (raise `beta` for less lag, lower `min_cutoff` for less jitter).
    """

    category = "Landmarks"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    params = {
        "coverage": Float(1.0, 3.0, default=CROP_MARGIN, step=0.05,
                          help="the crop FaceMesh sees, as a multiple of the face box's long side"),
        "min_presence": Float(0.0, 1.0, default=0.5, step=0.05,
                              help="drop faces whose FaceMesh face score is below this"),
        "smoothing": Bool(True, help="smooth the landmarks over time (One-Euro filter)"),
        "min_cutoff": Float(0.01, 20.0, default=1.0, step=0.05,
                            help="smoothing of a still face, Hz: lower is steadier"),
        "beta": Float(0.0, 100.0, default=5.0, step=0.5,
                      help="how fast smoothing gives way to motion: higher lags less"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the model"),
    }
    heavy = True
    cost_ms = 4.0

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        checked_model(problems, None, "facemesh", base_dir, lambda _, tensors: FaceMesh(tensors))
        return problems

    def setup(self):
        self._load()
        self._filters: dict[int, OneEuroFilter] = {}
        self._shown: tuple[np.ndarray, list[dict]] | None = None

    def param_changed(self, name):
        if name == "provider":
            self._load()
        elif name in ("min_cutoff", "beta", "smoothing"):
            self._filters = {}

    def _load(self):
        what = f"node '{self.id}' (FaceMarker)"
        path = resolve_model("facemesh", self.base_dir, what)
        with loading(what):
            self.facemesh = FaceMesh(create_session(path, provider=self.provider, label=self.id))

    def process(self, frame, faces):
        check_frame(frame, f"node '{self.id}' (FaceMarker)")
        filters, out = {}, []
        for index, face in enumerate(faces):
            points, presence = self.facemesh.landmarks(frame, widened(face["box"], self.coverage),
                                                       face.get("keypoints"))
            if presence < self.min_presence:
                continue
            if self.smoothing:
                track = face.get("track_id", -1 - index)
                filters[track] = self._filters.get(track) or OneEuroFilter(self.min_cutoff, self.beta)
                points = filters[track](points, frame_time(self))
            out.append(updated(face, landmarks=points, pose=np.array(head_pose(points), np.float32)))
        self._filters = filters
        self._shown = (frame, out)
        return {"faces": out}

    def preview(self, outputs):
        if self._shown is None:
            return None
        return draw_landmarks(*self._shown)
