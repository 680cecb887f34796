"""SimSwapper: SimSwap 256 and the unofficial 512 as FaceFusion exports them, driven by the portrait's
ArcFace embedding through FaceFusion's CrossFace converter."""

from __future__ import annotations

import numpy as np

from .converted_swap import ConvertedSwapper, converted_swapper_params
from .embedding_swap import MASKS
from .model_fit import simswap_fit
from .onnx_models import IMAGENET_MEAN, IMAGENET_STD
from .swap_common import unit


class SimSwapper(ConvertedSwapper):
    """Swaps faces with SimSwap (simswap_256, simswap_unofficial_512) onto the identity of one portrait.

    The crop is FaceFusion's arcface_112_v1 template at the model's size, RGB 0..1, ImageNet-normalised
    for simswap_256; the identity is the portrait's arcface_w600k_r50 embedding through crossface_simswap,
    L2-normalised; the output is RGB 0..1."""

    params = converted_swapper_params("simswap_256", MASKS, "the SimSwap model: simswap_256, "
                                      "simswap_unofficial_512, a file name in the user model folder, or a path",
                                      "crossface_simswap", "SimSwap")
    cost_ms = 120.0
    template = "arcface_112_v1"
    fit = staticmethod(simswap_fit)

    def _normalisation(self, size: int) -> tuple[tuple, tuple]:
        # FaceFusion: simswap_256 takes ImageNet-normalised RGB, simswap_unofficial_512 plain 0..1
        return (IMAGENET_MEAN, IMAGENET_STD) if size == 256 else ((0.0,) * 3, (1.0,) * 3)

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        return unit(self._converted(embedding), self._source_what)
