"""HiFiFaceSwapper: the unofficial HiFiFace 256 as FaceFusion exports it (hififace_unofficial_256), driven by
the portrait's ArcFace embedding through FaceFusion's crossface_hififace converter."""

from __future__ import annotations

import numpy as np

from .converted_swap import ConvertedSwapper, converted_swapper_params
from .embedding_swap import MASKS
from .model_fit import hififace_fit
from .swap_common import unit


class HiFiFaceSwapper(ConvertedSwapper):
    """Swaps faces with HiFiFace (hififace_unofficial_256) onto the identity of one portrait.

    The crop is FaceFusion's mtcnn_512 template at 256 px, RGB in -1..1; the identity is the portrait's
    arcface_w600k_r50 embedding through crossface_hififace, L2-normalised; the output is RGB in -1..1."""

    params = converted_swapper_params("hififace_unofficial_256", MASKS, "the HiFiFace model: "
                                      "hififace_unofficial_256, a file name in the user model folder, or a path",
                                      "crossface_hififace", "HiFiFace")
    cost_ms = 150.0
    template = "mtcnn_512"
    denormalise = True
    fit = staticmethod(hififace_fit)
    image_output = "output"

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        return unit(self._converted(embedding), self._source_what)
