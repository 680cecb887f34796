"""GhostSwapper: ai-forever's GHOST (ghost_1_256, ghost_2_256, ghost_3_256) as FaceFusion exports it, driven by
the portrait's ArcFace embedding through FaceFusion's crossface_ghost converter."""

from __future__ import annotations

import numpy as np

from .converted_swap import ConvertedSwapper, converted_swapper_params
from .embedding_swap import MASKS
from .model_fit import ghost_fit
from .swap_common import unit


class GhostSwapper(ConvertedSwapper):
    """Swaps faces with GHOST (ghost_1_256, _2_, _3_; by their names the generators with one, two and three
    U-Net blocks) onto the identity of one portrait.

    The crop is FaceFusion's arcface_112_v1 template at 256 px, RGB in -1..1; the identity is the
    portrait's arcface_w600k_r50 embedding through crossface_ghost, NOT normalised (FaceFusion feeds GHOST
    the converter's raw output); the output is RGB in -1..1."""

    params = converted_swapper_params("ghost_1_256", MASKS, "the GHOST model: ghost_1_256, ghost_2_256, "
                                      "ghost_3_256, a file name in the user model folder, or a path",
                                      "crossface_ghost", "GHOST")
    cost_ms = 200.0
    template = "arcface_112_v1"
    denormalise = True
    fit = staticmethod(ghost_fit)

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        converted = self._converted(embedding)
        unit(converted, self._source_what)  # only to refuse an empty vector: GHOST takes it unnormalised
        return converted.astype(np.float32)
