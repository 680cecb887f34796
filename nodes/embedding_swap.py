"""What FaceFusion's one-shot swappers share (OneShotSwapper): the params, the identity portrait, the
aligned crop on the model's warp template, the model's input normalisation, pixel boost, and the swap
record the FaceMerger pastes back; and what those driven by an ArcFace embedding add (EmbeddingSwapper:
HyperSwap, SimSwap, GHOST, HiFiFace): the recogniser.

A subclass names its model kind, warp template, tensor check (nodes.model_fit) and how the portrait
becomes the model's `source`; every contract is written down in docs/models.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from nodegraph.node import Node
from nodegraph.onnx import create_session
from nodegraph.params import Choice, Int, Model, Path
from nodegraph.types import Frame

from .face.records import Faces
from .face.warp_templates import template_points
from .media import IMAGE_EXTENSIONS
from .model_fit import arcface_fit, checked_boost, checked_model
from .onnx_models import PROVIDER_CHOICES, loading, resolve_model
from .pixel_boost import boost_param, boost_size
from .swap_common import Recogniser, chosen_faces, swap_chosen_faces, swap_mask, swap_preview

MASKS = ["ellipse", "square", "hull"]


def swapper_params(model: str, masks: list[str], model_help: str, *, recogniser: bool = True) -> dict:
    identity = {
        "identity": Path(role="input", extensions=list(IMAGE_EXTENSIONS),
                         help="a portrait of the person whose face is put in (its largest face is used)"),
        "model": Model(model, help=model_help),
    }
    if recogniser:
        identity["recogniser"] = Model("arcface_w600k_r50",
                                       help="the ArcFace recogniser that turns the portrait into an identity embedding")
    return {
        **identity,
        "pixel_boost": boost_param(),
        "mask": Choice(masks, default="ellipse",
                       help="the swap mask: a soft ellipse or square, or the landmark hull (with landmarks)"
                            + (", or the mask the model outputs" if "model" in masks else "")),
        "swap": Choice(["all", "one"], default="all", help="swap every face, or only the one at face_index"),
        "face_index": Int(0, 63, default=0, help="which face (in the faces input's order) when swap is one"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the models"),
    }


class OneShotSwapper(Node):
    """Base of the FaceFusion-style swappers; subclasses fill in the class attributes and `_identity_source`."""

    category = "Swap"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    heavy = True
    template = "arcface_128"  # FaceFusion's warp template name (face.warp_templates)
    denormalise = False  # the output is in the input's normalisation, not 0..1
    fit = None  # model_fit function: (path, tensors) -> crop size
    image_output = None  # the face's output by name, where the family's fit pins it; None: the first

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        size = checked_model(problems, "model", params["model"], base_dir, cls.fit)
        if size:
            checked_boost(problems, params["pixel_boost"], size)
        return problems

    def setup(self):
        self._load_models()
        self._load_identity()
        self._preview_rows: list = []

    def param_changed(self, name):
        if name in ("model", "recogniser", "provider", "converter"):
            self._load_models()
            self._load_identity()
        elif name == "identity":
            self._load_identity()
        elif name == "pixel_boost":  # no reload: the crop size is all it changes
            self.crop_size = boost_size(self.pixel_boost, self.size, f"{self.where}, param 'pixel_boost'")
        elif name == "mask":
            self.output_names = self._output_names()

    @property
    def where(self) -> str:
        return f"node '{self.id}' ({type(self).__name__})"

    def _load_models(self):
        path = resolve_model(self.model, self.base_dir, f"{self.where}, param 'model'")
        with loading(f"{self.where}, param 'model'"):
            session = create_session(path, provider=self.provider, label=f"{self.id} (swapper)")
            self.size = type(self).fit(path, session)
        self.session, self.model_path = session, path
        self.crop_size = boost_size(self.pixel_boost, self.size, f"{self.where}, param 'pixel_boost'")
        self.mean, self.std = (np.float32(v) for v in self._normalisation(self.size))
        self.output_names = self._output_names()

    def _output_names(self) -> list[str]:
        image = self.image_output or self.session.get_outputs()[0].name
        return [image] + (["mask"] if self.mask == "model" else [])

    def _load_identity(self):
        self.source = self._identity_source(f"{self.where}, param 'identity'")

    def _identity_source(self, where: str) -> np.ndarray:
        """The model's `source` input for the portrait at self.identity (`where` names it in errors)."""
        raise NotImplementedError

    def _normalisation(self, size: int) -> tuple[tuple, tuple]:
        """(mean, std) per RGB channel of the model's input, whose pixels are 0..1 before them."""
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)

    def _swap_tile(self, tile: np.ndarray) -> tuple[np.ndarray, ...]:
        rgb = cv2.cvtColor(tile, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1 / 255)
        target = ((rgb - self.mean) / self.std).transpose(2, 0, 1)[None]
        results = self.session.run(self.output_names, {"source": self.source, "target": target})
        image = results[0][0].transpose(1, 2, 0)
        if self.denormalise:
            image = image * self.std + self.mean
        return (image, *(r[0].transpose(1, 2, 0) for r in results[1:]))

    def process(self, frame, faces):
        out, self._preview_rows = swap_chosen_faces(
            frame, faces, chosen_faces(faces, self.swap, self.face_index),
            lambda size: template_points(self.template, size), self.crop_size, self.size, self._swap_tile,
            self._mask)
        return {"faces": out}

    def _mask(self, face, matrix, size, results) -> np.ndarray:
        if self.mask == "model":
            return self._model_mask(results)
        return swap_mask(self.mask, face, matrix, size)

    @staticmethod
    def _model_mask(results) -> np.ndarray:
        """The mask the model gives beside the face (its second output), in 0..1."""
        return np.clip(results[1][:, :, 0], 0.0, 1.0).astype(np.float32)

    def preview(self, outputs):
        return swap_preview(getattr(self, "_preview_rows", []))


class EmbeddingSwapper(OneShotSwapper):
    """A swapper whose `source` comes from the portrait's ArcFace embedding; subclasses fill in `_source`."""

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        checked_model(problems, "recogniser", params["recogniser"], base_dir, arcface_fit, 512)
        return problems

    def _load_models(self):
        super()._load_models()
        recogniser_path = resolve_model(self.recogniser, self.base_dir, f"{self.where}, param 'recogniser'")
        with loading(f"{self.where}, param 'recogniser'"):
            self.recogniser_model = Recogniser(recogniser_path, self.provider, f"{self.id} (recogniser)")

    def _identity_source(self, where: str) -> np.ndarray:
        return self._source(self.recogniser_model.portrait_embedding(self.identity, where))

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        raise NotImplementedError
