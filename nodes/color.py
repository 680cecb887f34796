"""Colour transfer: recolour each swapped face so it matches the driver's skin and light.

Under a flatter driver (in shade) the linear modes also shrink the portrait's fine skin detail with its
shading; `detail` gives that share back (face.color_transfer.transfer's `detail`)."""

from __future__ import annotations

import numpy as np

from nodegraph.node import Node
from nodegraph.params import Choice, Float
from nodegraph.types import Frame

from .face.blend import landmark_hull
from .face.color_transfer import MODES, transfer
from .face.records import Faces, updated
from .swap_common import crop_geometry, swap_preview

# Colour statistics come from every STATS_STEP-th row and column of the crops: a quarter of the pixels
# still samples a face crop (upscaled from the frame) densely, and the driver's pixels are resampled
# only there, which is most of this node's cost.
STATS_STEP = 2
MODE_HELP = ("rct: mean and spread per L*a*b* channel; lct: mean and covariance; mkl: Monge-Kantorovich "
             "linear map; idt: iterative distribution transfer; sot: sliced optimal transport; none: off")


def transfer_mask(face: dict, size: int) -> np.ndarray | None:
    """Where the colours are compared, in the swap's geometry: the swap mask, times the landmark hull
    when the face has FaceMesh landmarks (so hair and background at the crop's edge do not count)."""
    mask = face.get("swap_mask")
    landmarks = face.get("landmarks")
    if landmarks is not None and len(landmarks) == 468:
        hull = landmark_hull(face, (size, size))
        mask = hull if mask is None else mask * hull
    return mask


class ColorTransfer(Node):
    """Matches each swapped face's colours to the driver's pixels under the same mask."""

    category = "Colour"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    params = {
        "mode": Choice(list(MODES), default="rct", help=MODE_HELP),
        "strength": Float(0.0, 1.0, default=1.0, step=0.05,
                          help="0 keeps the swap's colours, 1 matches fully"),
        "detail": Float(0.0, 1.0, default=0.5, step=0.05,
                        help="rct, lct, mkl: how much of the portrait's fine skin detail to keep where the "
                             "driver's lower lightness contrast (shade) would flatten it; 0 flattens it"),
    }
    cost_ms = 3.0

    def process(self, frame, faces):
        out, rows = [], []
        for face in faces:
            swap, matrix = face.get("swap"), face.get("swap_matrix")
            if swap is None or matrix is None or self.mode == "none":
                out.append(face)
                continue
            size = swap.shape[0]
            # the crop at every STATS_STEP-th pixel: the same samples as the whole crop's [::step, ::step]
            driver = crop_geometry(frame, np.asarray(matrix, np.float64) / STATS_STEP, -(-size // STATS_STEP))
            mask = transfer_mask(face, size)
            recoloured = transfer(swap, driver, mask, self.mode, self.strength, step=STATS_STEP, detail=self.detail)
            out.append(updated(face, swap=recoloured))
            rows.append((driver, recoloured, np.ones((size, size), np.float32) if mask is None else mask))
        self._preview_rows = rows
        return {"faces": out}

    def preview(self, outputs):
        """Per face: the driver's pixels | the recoloured swap | the mask the colours were measured under."""
        return swap_preview(getattr(self, "_preview_rows", []))
