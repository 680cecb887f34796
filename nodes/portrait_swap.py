"""UniFaceSwapper and BlendSwapper: FaceFusion's uniface_256 and blendswap_256, whose `source` is a crop of
the portrait's face (not an identity embedding), cut on their own template as FaceFusion's
prepare_source_frame does."""

from __future__ import annotations

import cv2
import numpy as np

from .embedding_swap import MASKS, OneShotSwapper, swapper_params
from .face.align import template_matrix
from .model_fit import blendswap_fit, uniface_fit
from .swap_common import portrait_five_points


class PortraitCropSwapper(OneShotSwapper):
    """Base of the swappers fed the portrait's face crop, RGB 0..1, on `source_template` at `source_size` px."""

    source_template: str  # FaceFusion's warp template for the portrait's crop
    source_size: int

    def _identity_source(self, where: str) -> np.ndarray:
        portrait, five = portrait_five_points(self.identity, where)
        matrix = template_matrix(five, self.source_template, self.source_size)
        # FaceFusion's warp_face_by_face_landmark_5 flags: INTER_AREA (which warpAffine samples as bilinear),
        # edges repeated
        crop = cv2.warpAffine(portrait, matrix, (self.source_size, self.source_size), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)
        return cv2.dnn.blobFromImage(crop, 1 / 255, swapRB=True)


class UniFaceSwapper(PortraitCropSwapper):
    """Swaps faces with UniFace (uniface_256) onto the face of one portrait.

    Driver crop and portrait crop both on FaceFusion's ffhq_512 template at 256 px; the driver's in -1..1,
    the portrait's in 0..1 (RGB); the output is RGB in -1..1."""

    params = swapper_params("uniface_256", MASKS, "the UniFace model: uniface_256, a file name in the user model "
                                                  "folder, or a path", recogniser=False)
    cost_ms = 150.0
    template = "ffhq_512"
    denormalise = True
    fit = staticmethod(uniface_fit)
    source_template, source_size = "ffhq_512", 256


class BlendSwapper(PortraitCropSwapper):
    """Swaps faces with BlendSwap (blendswap_256) onto the face of one portrait.

    The driver's crop is on FaceFusion's ffhq_512 template at 256 px, the portrait's on arcface_112_v2 at
    112 px, both RGB 0..1; the output is RGB 0..1."""

    params = swapper_params("blendswap_256", MASKS, "the BlendSwap model: blendswap_256, a file name in the user "
                                                    "model folder, or a path", recogniser=False)
    cost_ms = 150.0
    template = "ffhq_512"
    fit = staticmethod(blendswap_fit)
    source_template, source_size = "arcface_112_v2", 112

    def _normalisation(self, size: int) -> tuple[tuple, tuple]:
        return (0.0,) * 3, (1.0,) * 3
