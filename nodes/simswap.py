"""SimSwapper: SimSwap 256 and the unofficial 512 as FaceFusion exports them, driven by the portrait's
ArcFace embedding through FaceFusion's CrossFace converter."""

from __future__ import annotations

import numpy as np

from nodegraph.onnx import create_session
from nodegraph.params import Model

from .embedding_swap import MASKS, EmbeddingSwapper, swapper_params
from .model_fit import checked_model, converter_fit, simswap_fit
from .onnx_models import IMAGENET_MEAN, IMAGENET_STD, loading, resolve_model
from .swap_common import unit


class SimSwapper(EmbeddingSwapper):
    """Swaps faces with SimSwap (simswap_256, simswap_unofficial_512) onto the identity of one portrait.

    The crop is FaceFusion's arcface_112_v1 template at the model's size, RGB 0..1, ImageNet-normalised
    for simswap_256; the identity is the portrait's arcface_w600k_r50 embedding through crossface_simswap,
    L2-normalised; the output is RGB 0..1."""

    params = {
        **swapper_params("simswap_256", MASKS, "the SimSwap model: simswap_256, simswap_unofficial_512, a file "
                                               "name in the user model folder, or a path"),
        "converter": Model("crossface_simswap",
                           help="the embedding converter from ArcFace to SimSwap's identity space"),
    }
    cost_ms = 120.0
    template = "arcface_112_v1"
    fit = staticmethod(simswap_fit)

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        checked_model(problems, "converter", params["converter"], base_dir, converter_fit)
        return problems

    def _load_models(self):
        super()._load_models()
        path = resolve_model(self.converter, self.base_dir, f"{self.where}, param 'converter'")
        with loading(f"{self.where}, param 'converter'"):
            converter = create_session(path, provider=self.provider, label=f"{self.id} (converter)")
            converter_fit(path, converter)
        self.converter_session, self.converter_path = converter, path

    def _normalisation(self, size: int) -> tuple[tuple, tuple]:
        # FaceFusion: simswap_256 takes ImageNet-normalised RGB, simswap_unofficial_512 plain 0..1
        return (IMAGENET_MEAN, IMAGENET_STD) if size == 256 else ((0.0,) * 3, (1.0,) * 3)

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        converted = self.converter_session.run(None, {"input": embedding.reshape(1, -1)})[0]
        return unit(converted, f"node '{self.id}': {self.converter_path} "
                               f"(of the embedding by {self.recogniser_model.path})")
