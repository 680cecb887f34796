"""FaceAligner: an aligned crop of every face, DeepFaceLive's way, with its matrix and landmark mask."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from nodegraph.node import Node
from nodegraph.params import Bool, Float, Int
from nodegraph.types import Frame

from .detect import check_frame
from .face.align import face_frame_matrix, hull_mask_in_crop
from .face.draw import tile_crops
from .face.records import Faces, updated

log = logging.getLogger("nodegraph")


class FaceAligner(Node):
    """An aligned square crop of every face, with its matrix and landmark mask (needs a FaceMarker).

    Sets `crop`, `matrix` (frame -> crop) and `crop_mask` (the landmarks' hull in the crop). The crop is
    DeepFaceLive's, so a .dfm model gets the face placed as in its training crops: 152 stable landmarks
    (not the lips, eyelids or brows, which move when a person talks or blinks) are fitted to its mean
    face, and the crop spans `coverage` face sizes (brows to mouth) around the fitted face's centre,
    0.08 face sizes higher (docs/models.md). Faces without landmarks pass through without a crop.
    """

    category = "Align"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    params = {
        "coverage": Float(0.5, 6.0, default=2.2, step=0.05,
                          help="how much around the face the crop shows, in face sizes (DeepFaceLive: 2.2)"),
        "resolution": Int(16, 1024, default=224, help="the crop's side, px (a .dfm model's resolution)"),
        "offset_x": Float(-1.0, 1.0, default=0.0, step=0.01,
                          help="move the crop along the face's own x axis, in face sizes"),
        "offset_y": Float(-1.0, 1.0, default=0.0, step=0.01,
                          help="move the crop along the face's own y axis, in face sizes"),
        "head_mode": Bool(False, help="crop the whole head: one face size more coverage, centred half a face "
                                      "size higher (for DeepFaceLive head models)"),
        "freeze_z_rotation": Bool(False,
                                  help="keep the crop upright instead of turning it with the head's roll"),
    }
    cost_ms = 1.2

    def setup(self):
        self._shown: list[tuple[np.ndarray, np.ndarray]] = []
        self._warned = False

    def process(self, frame, faces):
        check_frame(frame, f"node '{self.id}' (FaceAligner)")
        out, shown = [], []
        size = self.resolution
        for face in faces:
            landmarks = face.get("landmarks")
            if landmarks is None or len(landmarks) != 468:
                self._warn_once()
                out.append(face)
                continue
            matrix = face_frame_matrix(landmarks, self.coverage, size, self.offset_x, self.offset_y,
                                       self.head_mode, self.freeze_z_rotation).astype(np.float32)
            # the crop is cut with the record's float32 matrix, so crop and matrix agree exactly
            crop = cv2.warpAffine(frame, matrix.astype(np.float64), (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
            mask = hull_mask_in_crop(landmarks, matrix, size)
            out.append(updated(face, crop=crop, matrix=matrix, crop_mask=mask))
            shown.append((crop, mask))
        self._shown = shown
        return {"faces": out}

    def _warn_once(self):
        if not self._warned:
            self._warned = True
            log.warning("node '%s' (FaceAligner): a face has no FaceMesh landmarks, so it gets no crop; "
                        "put a FaceMarker between the FaceDetector and this node", self.id)

    def preview(self, outputs):
        return tile_crops(self._shown)
