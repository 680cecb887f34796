"""The merger: pastes every swapped face back into the frame."""

from __future__ import annotations

import numpy as np

from nodegraph.errors import Problem
from nodegraph.node import Node
from nodegraph.params import Choice, Float, Int
from nodegraph.types import Frame, Mask

from .face.blend import BLEND_MODES, INTERPOLATIONS, landmark_hull, paste_back, refine_mask, shown_face_map
from .face.crop_masks import check_frame_mask, frame_mask_in_crop
from .face.records import Faces
from .image_work import ImageGraphs, chosen_graphs, graph_refusal, image_work_param

MASK_SOURCES = ["both", "swap", "hull"]


def merge_mask(face: dict, source: str) -> np.ndarray | None:
    """The face's mask in its swap's geometry before erode and blur: the swapper's mask, the landmark
    hull, or their product; None when the face has no swap. Without landmarks the hull is skipped."""
    swap = face.get("swap")
    if swap is None or face.get("swap_matrix") is None:
        return None
    size = swap.shape[:2]
    swap_mask = face.get("swap_mask")
    if swap_mask is None:
        swap_mask = np.ones(size, np.float32)
    if source == "swap":
        return swap_mask
    landmarks = face.get("landmarks")
    if landmarks is None or len(landmarks) < 3:
        return swap_mask
    hull = landmark_hull(face, size)
    return hull if source == "hull" else swap_mask * hull


class FaceMerger(Node):
    """Blends each swapped face back into the frame; with no swapped face the frame goes out unchanged.

    An optional `mask` (a FaceMask's, frame-sized) limits every face further: it multiplies the face's
    mask after erode and blur, so an occluder's edge stays as sharp as the FaceMask made it (FaceFusion
    takes the minimum of its box and occlusion masks the same way)."""

    category = "Merge"
    inputs = {"frame": Frame, "faces": Faces, "mask": Mask}
    optional_inputs = frozenset({"mask"})
    outputs = {"frame": Frame}
    params = {
        "mask": Choice(MASK_SOURCES, default="swap",
                       help="swap: the swapper's mask (DeepFaceLive's default); hull: the landmark hull; "
                            "both: their product"),
        "erode": Int(-400, 400, default=5,
                     help="shrink the mask by erode // 2 px of the swapped crop (<0 grows it), as DeepFaceLive"),
        "blur": Int(0, 400, default=25,
                    help="soften the mask's edge: a Gaussian of sigma blur / 4 px of the swapped crop, after "
                         "clearing blur // 2 px at its edge, as DeepFaceLive"),
        "face_scale": Float(0.5, 1.5, default=1.0, step=0.01, help="resize the pasted face about its centre"),
        "offset_x": Float(-0.25, 0.25, default=0.0, step=0.005,
                          help="move the pasted face right, in face-crop widths"),
        "offset_y": Float(-0.25, 0.25, default=0.0, step=0.005,
                          help="move the pasted face down, in face-crop heights"),
        "opacity": Float(0.0, 1.0, default=1.0, step=0.05, help="0 shows the driver, 1 the swap"),
        "blend": Choice(list(BLEND_MODES), default="alpha",
                        help="alpha: mask-weighted mix; poisson: clone the swap's gradients first (slower)"),
        "interpolation": Choice(list(INTERPOLATIONS), default="cubic", help="how the face is resampled"),
        "image_work": image_work_param("the face's warp and blend",
                                       "blend poisson and interpolation nearest or lanczos"),
    }
    cost_ms = 3.5

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        if params.get("image_work") == "onnxruntime":
            refusal = graph_refusal(params.get("interpolation", "cubic"), params.get("blend", "alpha"))
            if refusal is not None:
                problems.append(Problem(refusal, param="image_work"))
        return problems

    def setup(self):
        self._image_graphs()  # its sessions made and warmed up before the first frame

    def _image_graphs(self) -> ImageGraphs | None:
        """The onnxruntime graphs when this frame's warp and blend run there, else None (OpenCV)."""
        if getattr(self, "_graphs", None) is None:
            self._graphs = ImageGraphs(self.id)
        return chosen_graphs(self.image_work, self._graphs, "paste", self.interpolation,
                             f"node '{self.id}' (FaceMerger)", graph_refusal(self.interpolation, self.blend))

    def process(self, frame, faces, mask=None):
        out = frame
        graphs = self._image_graphs()
        if mask is not None:
            mask = check_frame_mask(mask, frame, f"node '{self.id}' (FaceMerger), input 'mask'")
        for face in faces:
            face_mask = merge_mask(face, self.mask)
            if face_mask is None:
                continue
            face_mask = refine_mask(face_mask, self.erode, self.blur)
            if mask is not None:  # seen where the face is pasted, so face_scale and offsets leave it in place
                shown_at = shown_face_map(np.asarray(face["swap_matrix"], np.float64), face_mask.shape,
                                          self.face_scale, self.offset_x, self.offset_y)[:2]
                face_mask *= frame_mask_in_crop(mask, shown_at, face_mask.shape[0])
            out = paste_back(out, face["swap"], face_mask, face["swap_matrix"], scale=self.face_scale,
                             offset_x=self.offset_x, offset_y=self.offset_y, opacity=self.opacity,
                             mode=self.blend, interpolation=self.interpolation, graphs=graphs)
        return {"frame": out}

    def preview(self, outputs):
        """The merged frame."""
        return outputs.get("frame")
