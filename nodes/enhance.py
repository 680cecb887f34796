"""FaceEnhancer: restores the faces of a frame (usually the merged swap, which a 128 px model leaves soft)
with GFPGAN 1.4, CodeFormer, GPEN-BFR 256 or 512, or RestoreFormer++, FaceFusion's way (face_enhancer).

Each face is cut with its five points fitted to the model's template at the model's size (FaceFusion's
`ffhq_512`, `arcface_128` for GPEN-BFR 256), restored, and pasted back under FaceFusion's box mask, times
a FaceMask's mask when one is fed; `blend` mixes the restored frame with the one that came in.
Contracts: docs/models.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from nodegraph import modelhub
from nodegraph.node import Node
from nodegraph.onnx import create_session
from nodegraph.params import Choice, Float, Model
from nodegraph.types import Frame, Mask

from .face.align import template_matrix
from .face.blend import paste_back
from .face.crop_masks import box_mask, check_frame_mask, frame_mask_in_crop
from .face.records import Faces
from .face.warp_templates import WARP_TEMPLATES
from .image_work import ImageGraphs, chosen_graphs, image_work_param
from .model_fit import checked_model, enhancer_fit
from .onnx_models import PROVIDER_CHOICES, loading, resolve_model
from .swap_common import five_points, swap_preview

DEFAULT_TEMPLATE = "ffhq_512"


def model_template(value: str, path) -> str:
    """The crop template a model was trained on: its catalogue entry's `crop_template` (by name, or by
    the file's name), else FaceFusion's enhancer default ffhq_512."""
    try:
        manifest = modelhub.load_manifest()
    except modelhub.ModelError:
        return DEFAULT_TEMPLATE
    entry = manifest.entries.get(value) or manifest.by_file(path.name)
    template = entry.record.get("crop_template") if entry is not None else None
    return template if template in WARP_TEMPLATES else DEFAULT_TEMPLATE


class FaceEnhancer(Node):
    """Restores every face of the frame with a face enhancer model and blends it back."""

    category = "Enhance"
    inputs = {"frame": Frame, "faces": Faces, "mask": Mask}
    optional_inputs = frozenset({"mask"})
    outputs = {"frame": Frame}
    params = {
        "model": Model("gfpgan_1.4",
                       help="gfpgan_1.4, codeformer, gpen_bfr_256, gpen_bfr_512, restoreformer_plus_plus, or a file"),
        "blend": Float(0.0, 1.0, default=0.8, step=0.05,
                       help="how much of the restored face shows (FaceFusion's default 80%)"),
        "weight": Float(0.0, 1.0, default=0.5, step=0.05,
                        help="CodeFormer's fidelity: 0 restores most, 1 keeps the face most (other models: unused)"),
        "mask_blur": Float(0.0, 1.0, default=0.3, step=0.05,
                           help="softness of the pasted crop's edge, a share of its side (FaceFusion's 0.3)"),
        "template": Choice(["auto", *WARP_TEMPLATES], default="auto",
                           help="the crop the model was trained on; auto: the catalogue's, else ffhq_512"),
        "provider": Choice(PROVIDER_CHOICES, default="auto", help="where onnxruntime runs the model"),
        "image_work": image_work_param("the restored face's paste-back (a linear warp and blend; its graphs use the "
                                       "node's provider)"),
    }
    heavy = True
    cost_ms = 120.0

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        checked_model(problems, "model", params["model"], base_dir, enhancer_fit)
        return problems

    def setup(self):
        self._load()
        self._rows: list = []
        self._make_graphs()

    def _make_graphs(self):
        """The paste-back's graphs run where the model runs: `provider` cpu keeps the node off the GPU."""
        self._graphs = ImageGraphs(self.id, provider=self.provider)
        self._image_graphs()  # its session made and warmed up before the first frame

    def _image_graphs(self) -> ImageGraphs | None:
        """The onnxruntime graphs when the paste-back runs there, else None (OpenCV)."""
        return chosen_graphs(self.image_work, self._graphs, "paste", "linear", f"node '{self.id}' (FaceEnhancer)")

    def param_changed(self, name):
        if name in ("model", "provider"):
            self._load()
            if name == "provider":
                self._make_graphs()
        elif name in ("template", "mask_blur"):
            self._set_crop()

    def _load(self):
        what = f"node '{self.id}' (FaceEnhancer), param 'model'"
        path = resolve_model(self.model, self.base_dir, what)
        with loading(what):
            session = create_session(path, provider=self.provider, label=self.id)
            self.size, has_weight = enhancer_fit(path, session)
        weight_type = next((t.type for t in session.get_inputs() if t.name == "weight"), None) if has_weight else None
        self.weight_dtype = np.float64 if weight_type == "tensor(double)" else np.float32
        self.has_weight = has_weight
        self.session, self.model_path = session, path
        self._set_crop()

    def _set_crop(self):
        self.crop_template = model_template(self.model, self.model_path) if self.template == "auto" else self.template
        self.box = box_mask(self.size, self.mask_blur)

    def restore(self, crop: np.ndarray) -> np.ndarray:
        """The model on one crop: RGB -1..1 NCHW in, the first output clipped to -1..1 and back to BGR uint8."""
        blob = cv2.dnn.blobFromImage(crop, 1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
        feed = {"input": blob}
        if self.has_weight:
            feed["weight"] = np.array([self.weight], self.weight_dtype)
        out = np.clip(self.session.run(None, feed)[0][0], -1.0, 1.0)
        rgb = np.round((out.transpose(1, 2, 0) + 1.0) * 127.5).astype(np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def process(self, frame, faces, mask=None):
        if mask is not None:
            mask = check_frame_mask(mask, frame, f"node '{self.id}' (FaceEnhancer), input 'mask'")
        out, rows, graphs = frame, [], self._image_graphs()
        for face in faces:
            five = five_points(face)
            if five is None:
                continue
            matrix = template_matrix(five, self.crop_template, self.size)
            crop = cv2.warpAffine(out, matrix, (self.size, self.size), flags=cv2.INTER_AREA,
                                  borderMode=cv2.BORDER_REPLICATE)
            restored = self.restore(crop)
            crop_mask = self.box if mask is None else np.minimum(self.box, frame_mask_in_crop(mask, matrix, self.size))
            out = paste_back(out, restored, crop_mask, matrix, opacity=self.blend, graphs=graphs)
            rows.append((crop, restored, crop_mask))
        self._rows = rows
        return {"frame": out}

    def preview(self, outputs):
        """One row per face: the crop, the restored crop, the mask it is pasted under."""
        return swap_preview(getattr(self, "_rows", []))
