"""Where a node's heavy image work runs: OpenCV on the CPU, or the small ONNX graphs of
nodes/image_graphs.py, which onnxruntime runs on the fastest provider that loads (CUDA where there is a
GPU), made and warmed up like a model's session (nodegraph/onnx.py).

`auto` takes onnxruntime only where a GPU provider loads and the graph's session lands on it: on the CPU,
OpenCV's resampling is about 6 times faster than onnxruntime's (`nodegraph bench imagework` measures
both), so without a GPU nothing changes.
"""

from __future__ import annotations

import numpy as np

from nodegraph import onnx as ng_onnx
from nodegraph.errors import InvalidInput
from nodegraph.params import Choice

from .image_graphs import GRAPH_INTERPOLATIONS, paste_graph, remap_graph

IMAGE_WORK = ("auto", "opencv", "onnxruntime")
WARMUP_FACE = 256  # side of the face crop the sessions are warmed up with
WARMUP_REGION = (300, 300)  # frame region (h, w) a face is pasted into, for the warm-up


def image_work_param(what: str, opencv_only: str = "") -> Choice:
    """The `image_work` param of a node whose heavy image work is `what`."""
    only = f" {opencv_only} always run on OpenCV, and onnxruntime refuses them." if opencv_only else ""
    return Choice(list(IMAGE_WORK), default="auto",
                  help=f"where {what} runs: opencv on the CPU; onnxruntime as small ONNX graphs on the "
                       f"fastest provider (CUDA where a GPU loads); auto: onnxruntime where its graph runs on "
                       f"a GPU here, else opencv.{only} The two agree within one level per pixel")


def graph_refusal(interpolation: str, blend: str = "alpha") -> str | None:
    """Why image_work onnxruntime cannot do this work, and what to do; None when it can."""
    if blend != "alpha":
        why = f"blend '{blend}' runs on OpenCV only"
    elif interpolation not in GRAPH_INTERPOLATIONS:
        why = f"interpolation '{interpolation}' runs on OpenCV only; the graphs do {' and '.join(GRAPH_INTERPOLATIONS)}"
    else:
        return None
    return f"onnxruntime cannot do this work ({why}): set image_work to auto or opencv, or change that param"


def chosen_graphs(choice: str, graphs: ImageGraphs, kind: str, interpolation: str, where: str,
                  refusal: str | None = None) -> ImageGraphs | None:
    """`graphs` when the `kind` work (paste or remap) runs on onnxruntime, None for OpenCV. `choice`
    onnxruntime: always, and InvalidInput naming `where` and the param when the graphs cannot do the work
    (`refusal`, from graph_refusal); auto: where they can and their session landed on a GPU provider (the
    timing of `auto` sessions may keep a small graph on the CPU, where OpenCV is faster)."""
    if choice == "opencv":
        return None
    if refusal is not None:
        if choice == "onnxruntime":
            raise InvalidInput(f"{where}, param 'image_work': {refusal}")
        return None
    if choice == "auto" and not ng_onnx.gpu_providers():
        return None
    on_gpu = graphs.on_gpu(kind, interpolation)  # the session is made and warmed up on the first call
    return graphs if on_gpu or choice == "onnxruntime" else None


class ImageGraphs:
    """The image graphs' sessions of one node, each made and warmed up on first use and kept."""

    def __init__(self, label: str, provider: str = "auto"):
        self.label, self.provider = label, provider
        self._sessions: dict[tuple[str, str], object] = {}

    def on_gpu(self, kind: str, interpolation: str) -> bool:
        """Whether the session of `kind` (paste or remap) runs on a GPU provider; made and warmed up now
        if it was not yet."""
        return self._session(kind, interpolation).get_providers()[0] != ng_onnx.PROVIDERS["cpu"]

    def paste(self, region: np.ndarray, face: np.ndarray, mask: np.ndarray, affine: np.ndarray, opacity: float,
              interpolation: str) -> np.ndarray:
        """`region` with `face` warped in by `affine` (region px -> face px) and blended by `mask` * opacity
        (image_graphs.paste_graph)."""
        feeds = {"region": np.ascontiguousarray(region), "face": np.ascontiguousarray(face),
                 "mask": np.ascontiguousarray(mask, np.float32), "affine": np.asarray(affine, np.float32),
                 "opacity": np.array(opacity, np.float32)}
        return self._session("paste", interpolation).run(None, feeds)[0]

    def remap(self, picture: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interpolation: str) -> np.ndarray:
        """cv2.remap(picture, map_x, map_y, interpolation, BORDER_REPLICATE) (image_graphs.remap_graph)."""
        feeds = {"picture": np.ascontiguousarray(picture), "map_x": np.ascontiguousarray(map_x, np.float32),
                 "map_y": np.ascontiguousarray(map_y, np.float32)}
        return self._session("remap", interpolation).run(None, feeds)[0]

    def _session(self, kind: str, interpolation: str):
        key = (kind, interpolation)
        if key not in self._sessions:
            build = paste_graph if kind == "paste" else remap_graph
            # not TensorRT: the region a face is pasted into has a new size on most frames, and TensorRT
            # builds an engine for each new shape
            self._sessions[key] = ng_onnx.create_session(
                build(interpolation), provider=self.provider, warmup=[_warmup_feeds(kind)],
                label=f"{self.label} {kind} ({interpolation})", auto_skips=("tensorrt",))
        return self._sessions[key]


def _warmup_feeds(kind: str) -> dict[str, np.ndarray]:
    face = np.full((WARMUP_FACE, WARMUP_FACE, 3), 128, np.uint8)
    if kind == "remap":
        grid = np.indices((WARMUP_FACE, WARMUP_FACE), dtype=np.float32)
        return {"picture": face, "map_x": grid[1], "map_y": grid[0]}
    return {"region": np.full((*WARMUP_REGION, 3), 64, np.uint8), "face": face,
            "mask": np.ones((WARMUP_FACE, WARMUP_FACE), np.float32),
            "affine": np.array([[1.0, 0.0, 20.0], [0.0, 1.0, 20.0]], np.float32),
            "opacity": np.array(1.0, np.float32)}
