"""HyperSwapper: FaceFusion's HyperSwap 1a, 1b and 1c (256 px), driven by the portrait's ArcFace embedding."""

from __future__ import annotations

import numpy as np

from .embedding_swap import MASKS, EmbeddingSwapper, swapper_params
from .model_fit import hyperswap_fit
from .swap_common import unit


class HyperSwapper(EmbeddingSwapper):
    """Swaps faces with HyperSwap (hyperswap_1a_256, _1b_, _1c_) onto the identity of one portrait.

    The crop is FaceFusion's arcface_128 template at 256 px, RGB in -1..1; the identity is the portrait's
    arcface_w600k_r50 embedding, L2-normalised; the output is RGB in -1..1 with the model's own mask."""

    params = swapper_params("hyperswap_1a_256", [*MASKS, "model"],
                            "the HyperSwap model: hyperswap_1a_256, hyperswap_1b_256, hyperswap_1c_256, "
                            "a file name in the user model folder, or a path")
    cost_ms = 150.0
    template = "arcface_128"
    denormalise = True
    fit = staticmethod(hyperswap_fit)
    image_output = "output"

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        return unit(embedding, f"node '{self.id}': the recogniser {self.recogniser_model.path}")
