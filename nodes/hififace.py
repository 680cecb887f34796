"""HiFiFaceSwapper: the unofficial HiFiFace 256 as FaceFusion exports it (hififace_unofficial_256), driven by
the portrait's ArcFace embedding through FaceFusion's crossface_hififace converter. The model gives the
swapped face's mask beside the face: the node offers it as a frame-sized `mask` port, for the FaceMerger's
`mask` input, and as the swap mask (`mask` param `model`)."""

from __future__ import annotations

import numpy as np

from nodegraph.types import Mask

from .converted_swap import ConvertedSwapper, converted_swapper_params
from .embedding_swap import MASKS
from .face.crop_masks import add_to_frame_mask
from .face.records import Faces
from .model_fit import face_and_mask_outputs, hififace_fit
from .swap_common import unit


class HiFiFaceSwapper(ConvertedSwapper):
    """Swaps faces with HiFiFace (hififace_unofficial_256) onto the identity of one portrait.

    The crop is FaceFusion's mtcnn_512 template at 256 px, RGB in -1..1; the identity is the portrait's
    arcface_w600k_r50 embedding through crossface_hififace, L2-normalised; the output is RGB in -1..1, and
    the model's mask of each swapped face, put into the frame, is the `mask` output (0 where no face was
    swapped)."""

    outputs = {"faces": Faces, "mask": Mask}
    params = converted_swapper_params("hififace_unofficial_256", [*MASKS, "model"], "the HiFiFace model: "
                                      "hififace_unofficial_256, a file name in the user model folder, or a path",
                                      "crossface_hififace", "HiFiFace")
    cost_ms = 150.0
    template = "mtcnn_512"
    denormalise = True
    fit = staticmethod(hififace_fit)

    def _output_names(self) -> list[str]:
        # both whatever the `mask` param says: the mask port needs the model's mask
        return list(face_and_mask_outputs(self.session, self.size))

    def _source(self, embedding: np.ndarray) -> np.ndarray:
        return unit(self._converted(embedding), self._source_what)

    def setup(self):
        super().setup()
        self._model_masks: list = []  # (the model's mask, the crop's matrix) of each face swapped this frame

    def _mask(self, face, matrix, size, results) -> np.ndarray:
        self._model_masks.append((self._model_mask(results), matrix))
        return super()._mask(face, matrix, size, results)

    def process(self, frame, faces):
        self._model_masks.clear()
        out = super().process(frame, faces)
        mask = np.zeros(frame.shape[:2], np.float32)
        for crop_mask, matrix in self._model_masks:
            add_to_frame_mask(mask, crop_mask, matrix)
        return {**out, "mask": mask}
