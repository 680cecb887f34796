"""Where a node's heavy image work runs: OpenCV on the CPU, or the small ONNX graphs of
nodes/image_graphs.py, which onnxruntime runs on the fastest provider that loads (CUDA where there is a
GPU), made and warmed up like a model's session (nodegraph/onnx.py).

`auto` takes onnxruntime only where a GPU provider loads and the graph, timed on its warm-up inputs when
the node is set up, beats OpenCV on the same inputs (said in one line). On the CPU, OpenCV's resampling is
about 6 times faster than onnxruntime's (`nodegraph bench imagework` measures both), so without a GPU
nothing changes and no graph is even built.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from nodegraph import onnx as ng_onnx
from nodegraph.errors import InvalidInput
from nodegraph.params import Choice

from .image_graphs import GRAPH_INTERPOLATIONS, opencv_conventions, paste_graph, remap_graph

IMAGE_WORK = ("auto", "opencv", "onnxruntime")
WARMUP_FACE = 256  # side of the face crop the sessions are warmed up with
WARMUP_REGION = (300, 300)  # frame region (h, w) a face is pasted into, for the warm-up
TIMED_RUNS = 7  # calls timed on each side when auto compares a graph with OpenCV (the median counts)
CV2_INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}

log = logging.getLogger("nodegraph")


def image_work_param(what: str, opencv_only: str = "") -> Choice:
    """The `image_work` param of a node whose heavy image work is `what`."""
    only = f" {opencv_only} always run on OpenCV, and onnxruntime refuses them." if opencv_only else ""
    return Choice(list(IMAGE_WORK), default="auto",
                  help=f"where {what} runs: opencv on the CPU; onnxruntime as small ONNX graphs on the "
                       f"fastest provider (CUDA where a GPU loads); auto: onnxruntime where a GPU loads and "
                       f"the graph, timed at set-up, beats OpenCV, else opencv.{only} The two agree within one "
                       f"level per pixel")


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
    (`refusal`, from graph_refusal); auto: where they can, a GPU provider loads and the graph is faster
    than OpenCV here (ImageGraphs.faster_than_opencv). The session is made and warmed up here."""
    if choice == "opencv":
        return None
    if refusal is not None:
        if choice == "onnxruntime":
            raise InvalidInput(f"{where}, param 'image_work': {refusal}")
        return None
    if choice == "onnxruntime":
        graphs.prepare(kind, interpolation)
        return graphs
    return graphs if ng_onnx.gpu_providers() and graphs.faster_than_opencv(kind, interpolation) else None


class ImageGraphs:
    """The image graphs' sessions of one node, each made and warmed up on first use and kept."""

    def __init__(self, label: str, provider: str = "auto"):
        self.label, self.provider = label, provider
        self._sessions: dict[tuple[str, str], object] = {}
        self._verdicts: dict[tuple[str, str], bool] = {}

    def prepare(self, kind: str, interpolation: str) -> None:
        """Make and warm up the session of `kind` (paste or remap) now, before a frame needs it."""
        self._session(kind, interpolation)

    def faster_than_opencv(self, kind: str, interpolation: str) -> bool:
        """Whether the graph of `kind`, as a node calls it (inputs copied to its device and the result
        back), takes less time than OpenCV on the warm-up inputs: the medians of TIMED_RUNS calls each,
        measured once and said in one line."""
        key = (kind, interpolation)
        if key not in self._verdicts:
            session, feeds = self._session(kind, interpolation), _warmup_feeds(kind)
            graph_ms = _median_ms(lambda: session.run(None, feeds))
            opencv_ms = _median_ms(_opencv_work(kind, interpolation, feeds))
            self._verdicts[key] = graph_ms < opencv_ms
            provider = session.get_providers()[0].removesuffix("ExecutionProvider")
            log.info("image work: %s %s (%s): OpenCV %.2f ms, onnxruntime %s %.2f ms -> %s", self.label, kind,
                     interpolation, opencv_ms, provider, graph_ms,
                     "onnxruntime" if self._verdicts[key] else "OpenCV")
        return self._verdicts[key]

    def paste(self, region: np.ndarray, face: np.ndarray, mask: np.ndarray, affine: np.ndarray, opacity: float,
              interpolation: str) -> np.ndarray:
        """`region` with `face` warped in by `affine` (region px -> face px) and blended by `mask` * opacity
        (image_graphs.paste_graph)."""
        feeds = {"region": np.ascontiguousarray(region), "face": np.ascontiguousarray(face),
                 "mask": np.ascontiguousarray(mask, np.float32), "affine": np.asarray(affine, np.float64),
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
            conventions = opencv_conventions(interpolation)  # so that the graph samples where OpenCV does
            graph = (paste_graph(interpolation, conventions["fixed_point"]) if kind == "paste"
                     else remap_graph(interpolation, conventions["rounded_maps"]))
            # not TensorRT: the region a face is pasted into has a new size on most frames, and TensorRT
            # builds an engine for each new shape
            self._sessions[key] = ng_onnx.create_session(
                graph, provider=self.provider, warmup=[_warmup_feeds(kind)],
                label=f"{self.label} {kind} ({interpolation})", auto_skips=("tensorrt",))
        return self._sessions[key]


def _median_ms(call: Callable[[], object]) -> float:
    call()
    runs = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        call()
        runs.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(runs)


def _opencv_work(kind: str, interpolation: str, feeds: dict[str, np.ndarray]) -> Callable[[], np.ndarray]:
    """OpenCV's way of the graph's work on `feeds`, as paste_back and MeshWarpSwapper do it."""
    flag = CV2_INTERPOLATIONS[interpolation]
    if kind == "remap":
        return lambda: cv2.remap(feeds["picture"], feeds["map_x"], feeds["map_y"], flag,
                                 borderMode=cv2.BORDER_REPLICATE)
    region, affine = feeds["region"], feeds["affine"]
    size, inverse = (region.shape[1], region.shape[0]), cv2.WARP_INVERSE_MAP

    def paste():
        alpha = cv2.warpAffine(feeds["mask"], affine, size, flags=cv2.INTER_LINEAR | inverse,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        face = cv2.warpAffine(feeds["face"], affine, size, flags=flag | inverse, borderMode=cv2.BORDER_REPLICATE)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        return cv2.blendLinear(face, region, alpha, 1.0 - alpha)

    return paste


def _warmup_feeds(kind: str) -> dict[str, np.ndarray]:
    face = np.full((WARMUP_FACE, WARMUP_FACE, 3), 128, np.uint8)
    if kind == "remap":
        grid = np.indices((WARMUP_FACE, WARMUP_FACE), dtype=np.float32)
        return {"picture": face, "map_x": grid[1], "map_y": grid[0]}
    return {"region": np.full((*WARMUP_REGION, 3), 64, np.uint8), "face": face,
            "mask": np.ones((WARMUP_FACE, WARMUP_FACE), np.float32),
            "affine": np.array([[1.0, 0.0, 20.0], [0.0, 1.0, 20.0]], np.float64),
            "opacity": np.array(1.0, np.float32)}
