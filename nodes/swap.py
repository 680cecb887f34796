"""Face swappers run through onnxruntime: DeepFaceLive's .dfm models and InsightFace's inswapper.

Each swapper aligns the driver face its model's way, runs the model and sets the record's `swap`,
`swap_matrix` (frame -> swap) and `swap_mask`; the FaceMerger pastes the swap back. Every model's
contract (tensors, crop, value range, masks), with its sources, is in docs/models.md; a model whose
tensors differ is refused by the check hook (validate, a run's start) and at setup, with the expected and
found names and shapes.
"""

from __future__ import annotations

import cv2
import numpy as np

from nodegraph.node import Node
from nodegraph.onnx import create_session
from nodegraph.params import Choice, Float, Int, Model, Path
from nodegraph.types import Frame

from .face.align import arcface_template, face_frame_matrix, umeyama, unit_square_crop
from .face.facemesh import keypoints_from_landmarks
from .face.landmarks_data import dfl_mean_face
from .face.records import Faces, updated
from .media import IMAGE_EXTENSIONS
from .model_fit import arcface_fit, checked_boost, checked_model, dfm_fit, inswapper_fit
from .onnx_models import PROVIDER_CHOICES, last_initializer, loading, resolve_model
from .pixel_boost import boost_param, boost_size
from .swap_common import (
    Recogniser,
    chosen_faces,
    crop_geometry,
    swap_chosen_faces,
    swap_mask,
    swap_preview,
    unit,
)

DFL_COVERAGE = 2.2  # DeepFaceLive's face coverage for .dfm models
PRESHARPEN_SIGMA = 1.0  # DeepFaceLive's FaceSwapDFM sharpens at this sigma whatever the resolution


# -- DeepFaceLive .dfm -------------------------------------------------------------------------

# DeepFaceLive's mean face at the eyes, nose tip and mouth centre: where a face without FaceMesh
# landmarks (detector keypoints only) is fitted for the .dfm crop.
_KEYPOINT_TEMPLATE = keypoints_from_landmarks(dfl_mean_face())[:4].astype(np.float64)


def dfl_matrix(face: dict, resolution: int, coverage: float = DFL_COVERAGE) -> np.ndarray | None:
    """2x3 frame -> crop matrix of DeepFaceLive's alignment (see face.align.face_frame_matrix), from the
    face's 468 landmarks, else its 6 BlazeFace or 5 ArcFace keypoints; None when it has none."""
    landmarks = face.get("landmarks")
    if landmarks is not None and len(landmarks) == 468:
        return face_frame_matrix(landmarks, coverage, resolution)
    keypoints = face.get("keypoints")
    if keypoints is None:
        return None
    keypoints = np.asarray(keypoints, np.float64)[:, :2]
    if len(keypoints) == 5:  # eyes, nose, mouth corners: their mouth centre stands for BlazeFace's
        keypoints = np.vstack([keypoints[:3], keypoints[3:5].mean(axis=0, keepdims=True)])
    return unit_square_crop(umeyama(keypoints[:4], _KEYPOINT_TEMPLATE), coverage, resolution)


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    """`image` at size x size, bilinear as DeepFaceLive resizes between its aligner and its model."""
    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


class DFMSwapper(Node):
    """Swaps faces with a DeepFaceLive .dfm model (a DeepFaceLab model exported to ONNX)."""

    category = "Swap"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    params = {
        "model": Model(extensions=[".dfm", ".onnx"],
                      help="the .dfm file, or its file name in the user model folder"),
        "morph_factor": Float(0.0, 1.0, default=0.75, step=0.01,
                              help="for models with a morph input (AMP): 1 is fully the model's face"),
        "presharpen": Float(0.0, 10.0, default=0.0, step=0.1,
                            help="sharpen the driver crop before the model sees it (0: off; DeepFaceLive's amount)"),
        "gamma_in": Float(0.1, 4.0, default=1.0, step=0.05,
                          help="gamma of the crop fed to the model (>1 brightens)"),
        "gamma_out": Float(0.1, 4.0, default=1.0, step=0.05, help="gamma of the swapped face (>1 brightens)"),
        "swap": Choice(["all", "one"], default="all", help="swap every face, or only the one at face_index"),
        "face_index": Int(0, 63, default=0, help="which face (in the faces input's order) when swap is one"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the model"),
    }
    heavy = True
    cost_ms = 60.0

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        checked_model(problems, "model", params["model"], base_dir, dfm_fit)
        return problems

    def setup(self):
        self._load()

    def param_changed(self, name):
        if name in ("model", "provider"):
            self._load()

    def _load(self):
        what = f"node '{self.id}' (DFMSwapper), param 'model'"
        path = resolve_model(self.model, self.base_dir, what)
        with loading(what):
            session = create_session(path, provider=self.provider, label=self.id)
            resolution, self.has_morph = dfm_fit(path, session)
        self.session, self.resolution, self.model_path = session, resolution, path
        self._preview_rows: list = []

    def _driver(self, frame: np.ndarray, face: dict) -> tuple[np.ndarray, np.ndarray] | None:
        """(crop, matrix): the FaceAligner's at whatever resolution it cut, as DeepFaceLive takes it, else
        DeepFaceLive's default crop cut here at the model's resolution."""
        crop, matrix = face.get("crop"), face.get("matrix")
        if crop is not None and matrix is not None:
            return crop, np.asarray(matrix, np.float32)
        matrix = dfl_matrix(face, self.resolution)
        if matrix is None:
            return None
        matrix = matrix.astype(np.float32)  # the record's precision, so the crop is exactly what it says
        return crop_geometry(frame, matrix, self.resolution), matrix

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        """The model's input: BGR 0..1, sharpened and gamma-corrected at the crop's resolution, then resized
        to the model's (DeepFaceLive's FaceSwapDFM and DFMModel.convert)."""
        image = crop.astype(np.float32) * np.float32(1 / 255)
        if self.presharpen > 0:
            blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=PRESHARPEN_SIGMA)
            image = np.clip(image * (1 + self.presharpen) - blurred * self.presharpen, 0.0, 1.0)
        if self.gamma_in != 1.0:
            image = np.power(image, np.float32(1 / self.gamma_in))
        return _resized(image, self.resolution)[None]

    def process(self, frame, faces):
        out, rows = [], []
        chosen = chosen_faces(faces, self.swap, self.face_index)
        for i, face in enumerate(faces):
            driver = self._driver(frame, face) if i in chosen else None
            if driver is None:
                out.append(face)
                continue
            crop, matrix = driver
            feed = {"in_face:0": self._prepare(crop)}
            if self.has_morph:
                feed["morph_value:0"] = np.array([self.morph_factor], np.float32)
            face_mask, celeb, celeb_mask = (_resized(result[0], crop.shape[0]) for result in self.session.run(
                ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"], feed))
            celeb = np.clip(celeb, 0.0, 1.0)
            if self.gamma_out != 1.0:
                celeb = np.power(celeb, np.float32(1 / self.gamma_out))
            swap = (celeb * 255.0 + 0.5).astype(np.uint8)
            mask = np.clip(face_mask.reshape(crop.shape[:2]) * celeb_mask.reshape(crop.shape[:2]), 0.0, 1.0)
            out.append(updated(face, swap=swap, swap_matrix=matrix, swap_mask=mask.astype(np.float32)))
            rows.append((crop, swap, mask))
        self._preview_rows = rows
        return {"faces": out}

    def preview(self, outputs):
        return swap_preview(getattr(self, "_preview_rows", []))


# -- InsightFace inswapper -------------------------------------------------------------------------

class InSwapper(Node):
    """Swaps faces with InsightFace's inswapper_128 onto the identity of one portrait."""

    category = "Swap"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    params = {
        "identity": Path(role="input", extensions=list(IMAGE_EXTENSIONS),
                         help="a portrait of the person whose face is put in (its largest face is used)"),
        "model": Model("inswapper_128",
                      help="the inswapper model: a model name, file name in the user model folder, or path"),
        "recogniser": Model("arcface_w600k_r50",
                           help="the ArcFace recogniser that turns the portrait into an identity embedding "
                                "(the one HyperSwap and SimSwap use; buffalo_l's w600k_r50 works too)"),
        "pixel_boost": boost_param(),
        "mask": Choice(["ellipse", "square", "hull"], default="ellipse",
                       help="the swap mask: a soft ellipse or square, or the landmark hull (with landmarks)"),
        "swap": Choice(["all", "one"], default="all", help="swap every face, or only the one at face_index"),
        "face_index": Int(0, 63, default=0, help="which face (in the faces input's order) when swap is one"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the models"),
    }
    heavy = True
    cost_ms = 80.0

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        fitted = checked_model(problems, "model", params["model"], base_dir, inswapper_fit)
        checked_model(problems, "recogniser", params["recogniser"], base_dir, arcface_fit,
                      fitted[1] if fitted else None)
        if fitted:
            checked_boost(problems, params["pixel_boost"], fitted[0])
        return problems

    def setup(self):
        self._load_models()
        self._load_identity()
        self._preview_rows: list = []

    def param_changed(self, name):
        if name in ("model", "recogniser", "provider"):
            self._load_models()
            self._load_identity()
        elif name == "identity":
            self._load_identity()
        elif name == "pixel_boost":  # no reload: the crop size is all it changes
            self.crop_size = boost_size(self.pixel_boost, self.size, f"node '{self.id}' (InSwapper), "
                                        "param 'pixel_boost'")

    def _load_models(self):
        where = f"node '{self.id}' (InSwapper)"
        swapper_path = resolve_model(self.model, self.base_dir, f"{where}, param 'model'")
        recogniser_path = resolve_model(self.recogniser, self.base_dir, f"{where}, param 'recogniser'")
        with loading(f"{where}, param 'model'"):
            swapper = create_session(swapper_path, provider=self.provider, label=f"{self.id} (swapper)")
            size, dim = inswapper_fit(swapper_path, swapper)
            self.emap = last_initializer(swapper_path).astype(np.float32)
        with loading(f"{where}, param 'recogniser'"):
            self.recogniser_model = Recogniser(recogniser_path, self.provider, f"{self.id} (recogniser)", dim)
        self.swapper = swapper
        self.size = size
        self.crop_size = boost_size(self.pixel_boost, size, f"{where}, param 'pixel_boost'")
        self.model_path, self.recogniser_path = swapper_path, recogniser_path

    def _load_identity(self):
        """The identity latent: the portrait's largest face, aligned for ArcFace, embedded, mapped by emap."""
        embedding = self.recogniser_model.portrait_embedding(
            self.identity, f"node '{self.id}' (InSwapper), param 'identity'")
        self.latent = unit(embedding @ self.emap,
                           f"node '{self.id}': {self.recogniser_path} and the emap of {self.model_path}")

    def _swap_tile(self, tile: np.ndarray) -> tuple[np.ndarray]:
        target = cv2.dnn.blobFromImage(tile, 1 / 255.0, swapRB=True)
        return (self.swapper.run(["output"], {"target": target, "source": self.latent})[0][0].transpose(1, 2, 0),)

    def process(self, frame, faces):
        out, self._preview_rows = swap_chosen_faces(
            frame, faces, chosen_faces(faces, self.swap, self.face_index), arcface_template,  # align_5pt's fit
            self.crop_size, self.size, self._swap_tile,
            lambda face, matrix, size, results: swap_mask(self.mask, face, matrix, size))
        return {"faces": out}

    def preview(self, outputs):
        return swap_preview(getattr(self, "_preview_rows", []))
