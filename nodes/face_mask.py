"""FaceMask: where on each face a swap may be painted, from up to three sources, as one frame-sized Mask
that the FaceMerger and the FaceEnhancer take.

- occluder: an XSeg model (FaceFusion's xseg_1, xseg_2, xseg_3): 0 where a hand, a microphone or hair
  covers the face;
- parser: a BiSeNet face parser (bisenet_resnet_18, bisenet_resnet_34) and the regions to keep;
- landmarks: FaceMesh regions, no model at all (works offline).

Each source is cut, run and softened FaceFusion's way (face_masker.py) in the crop of the five points fitted
to FaceFusion's `arcface_128` template, the swappers' crop; the sources on are combined by intersection
(FaceFusion's minimum) or union, and each face's mask is put into the frame. Contracts: docs/models.md.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from nodegraph.errors import Problem
from nodegraph.node import Node
from nodegraph.onnx import create_session
from nodegraph.params import Choice, Model
from nodegraph.types import Frame, Mask

from .face.align import template_matrix
from .face.crop_masks import add_to_frame_mask, soften
from .face.draw import tile_crops
from .face.records import Faces
from .face.regions import (
    LANDMARK_DEFAULT,
    LANDMARK_REGIONS,
    PARSER_CLASSES,
    PARSER_DEFAULT,
    RegionNames,
    landmark_mask,
    parser_class_ids,
    split_names,
)
from .model_fit import checked_model, occluder_fit, parser_fit
from .onnx_models import IMAGENET_MEAN, IMAGENET_STD, PROVIDER_CHOICES, loading, resolve_model
from .swap_common import five_points

log = logging.getLogger("nodegraph")

MASK_SIZE = 256  # side of the crop every source's mask is combined in
TEMPLATE = "arcface_128"


def cut(frame: np.ndarray, five: np.ndarray, size: int) -> np.ndarray:
    """The face's size x size crop in the template (area sampling, replicated border, as FaceFusion)."""
    matrix = template_matrix(five, TEMPLATE, size)
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _to_mask_size(mask: np.ndarray) -> np.ndarray:
    if mask.shape[0] == MASK_SIZE:
        return mask
    return cv2.resize(mask, (MASK_SIZE, MASK_SIZE), interpolation=cv2.INTER_LINEAR)


class FaceMask(Node):
    """A mask of every face from an occluder model, a face parser and landmark regions, combined."""

    category = "Mask"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"mask": Mask}
    params = {
        "occluder": Model("", optional=True,
                          help="an XSeg occluder (xseg_1, xseg_2, xseg_3, or a file): the face minus what covers "
                               "it; empty: off"),
        "parser": Model("", optional=True,
                        help="a BiSeNet face parser (bisenet_resnet_18, bisenet_resnet_34, or a file); empty: off"),
        "parser_regions": RegionNames(PARSER_CLASSES, PARSER_DEFAULT, subtract=False,
                                      help="the parser's regions to keep: " + ", ".join(PARSER_CLASSES)
                                           + "; leave glasses out to keep the driver's glasses"),
        "landmark_regions": RegionNames(LANDMARK_REGIONS, LANDMARK_DEFAULT, subtract=True,
                                        help="FaceMesh regions to keep, -name to cut one out ("
                                             + ", ".join(LANDMARK_REGIONS) + "); empty: off"),
        "combine": Choice(["intersection", "union"], default="intersection",
                          help="intersection: every source must keep a pixel (FaceFusion's way); union: any"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the models"),
    }
    heavy = True
    cost_ms = 15.0

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        if not (params["occluder"] or params["parser"] or split_names(params["landmark_regions"])):
            problems.append(Problem("no mask source is on: set occluder, parser or landmark_regions",
                                    param="landmark_regions"))
        if params["occluder"]:
            checked_model(problems, "occluder", params["occluder"], base_dir, occluder_fit)
        if params["parser"]:
            checked_model(problems, "parser", params["parser"], base_dir, parser_fit)
        return problems

    def setup(self):
        self._load()
        self._shown: tuple = (None, [])
        self._warned = False

    def param_changed(self, name):
        if name in ("occluder", "parser", "provider"):
            self._load()
        elif name == "parser_regions":
            self.class_ids = parser_class_ids(self.parser_regions)

    def _load(self):
        where = f"node '{self.id}' (FaceMask)"
        self.occluder_session = self.parser_session = None
        if self.occluder:
            path = resolve_model(self.occluder, self.base_dir, f"{where}, param 'occluder'")
            with loading(f"{where}, param 'occluder'"):
                self.occluder_session = create_session(path, provider=self.provider, label=f"{self.id} (occluder)")
                self.occluder_size = occluder_fit(path, self.occluder_session)
        if self.parser:
            path = resolve_model(self.parser, self.base_dir, f"{where}, param 'parser'")
            with loading(f"{where}, param 'parser'"):
                self.parser_session = create_session(path, provider=self.provider, label=f"{self.id} (parser)")
                self.parser_size = parser_fit(path, self.parser_session)
        self.class_ids = parser_class_ids(self.parser_regions)

    def occlusion(self, frame: np.ndarray, five: np.ndarray) -> np.ndarray:
        """XSeg: the crop BGR 0..1 NHWC in, [1, S, S, 1] out, 1 where the face shows."""
        crop = cut(frame, five, self.occluder_size)
        blob = crop[None].astype(np.float32) * np.float32(1 / 255)
        out = self.occluder_session.run(None, {"input": blob})[0][0]
        return _to_mask_size(np.clip(out.reshape(crop.shape[:2]), 0.0, 1.0).astype(np.float32))

    def regions(self, frame: np.ndarray, five: np.ndarray) -> np.ndarray:
        """BiSeNet: the crop RGB, ImageNet-normalised, NCHW in; the chosen classes of the argmax out."""
        crop = cut(frame, five, self.parser_size)
        rgb = (crop[..., ::-1].astype(np.float32) * np.float32(1 / 255) - IMAGENET_MEAN) / IMAGENET_STD
        scores = self.parser_session.run(None, {"input": rgb.transpose(2, 0, 1)[None]})[0][0]
        chosen = np.isin(scores.argmax(axis=0), self.class_ids).astype(np.float32)
        return _to_mask_size(chosen)

    def face_mask(self, frame: np.ndarray, face: dict, five: np.ndarray) -> np.ndarray:
        """The face's combined mask in its MASK_SIZE crop; all ones (the face not limited) when no source
        could see it (landmark regions only, and the face has no landmarks)."""
        masks = []
        if self.occluder_session is not None:
            masks.append(soften(self.occlusion(frame, five)))
        if self.parser_session is not None:
            masks.append(soften(self.regions(frame, five)))
        if split_names(self.landmark_regions):
            landmarks = face.get("landmarks")
            if landmarks is not None and len(landmarks) == 468:
                matrix = template_matrix(five, TEMPLATE, MASK_SIZE)
                masks.append(soften(landmark_mask(landmarks, matrix, MASK_SIZE, self.landmark_regions)))
            else:
                self._warn_once()
        if not masks:
            return np.ones((MASK_SIZE, MASK_SIZE), np.float32)
        combine = np.minimum.reduce if self.combine == "intersection" else np.maximum.reduce
        return combine(masks)

    def process(self, frame, faces):
        mask = np.zeros(frame.shape[:2], np.float32)
        shown = []
        for face in faces:
            five = five_points(face)
            if five is None:
                continue
            crop_mask = self.face_mask(frame, face, five)
            add_to_frame_mask(mask, crop_mask, template_matrix(five, TEMPLATE, MASK_SIZE))
            shown.append((five, crop_mask))
        self._shown = (frame, shown)  # the crops are cut only when a preview is due
        return {"mask": mask}

    def _warn_once(self):
        if not self._warned:
            self._warned = True
            log.warning("node '%s' (FaceMask): a face has no FaceMesh landmarks, so landmark_regions skip it; "
                        "put a FaceMarker before this node", self.id)

    def preview(self, outputs):
        """Each face's crop, and beside it the crop dimmed outside its mask."""
        frame, shown = self._shown
        return tile_crops([(cut(frame, five, MASK_SIZE), crop_mask) for five, crop_mask in shown])
