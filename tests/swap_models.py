"""Small ONNX models with the exact tensors of the real swappers, built with the `onnx` helper API, and
real face records of the demo portrait (BlazeFace + FaceMesh), for the swap, colour and merge tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnx
from conftest import REPO
from onnx import TensorProto, helper, numpy_helper

from nodegraph.node import Node
from nodegraph.registry import Registry, load_registry
from nodegraph.types import Frame
from nodes.face.blazeface import BlazeFace
from nodes.face.facemesh import FaceMesh
from nodes.face.records import Faces

PORTRAIT = REPO / "presets" / "media" / "astronaut.png"
OTHER_PORTRAIT = REPO / "presets" / "media" / "grace_hopper.jpg"
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")


def _value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])  # as DeepFaceLab exports
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def dfm_model(path: Path, res: int = 224, *, gain=(1.0, 1.0, 1.0), bias=(0.0, 0.0, 0.0), morph: bool = False,
              input_name: str = "in_face:0", input_shape=None, outputs=DFM_OUTPUTS, face_mask=None,
              celeb_mask=None, input_type=TensorProto.FLOAT) -> Path:
    """A .dfm-like model: out_celeb_face:0 = in_face:0 * gain + bias (per BGR channel). The masks are
    `face_mask` and `celeb_mask` (res x res arrays; ones when not given), the celeb mask times
    morph_value:0 when `morph`. With another `input_type` (a float16 build), in_face:0 is cast to float."""
    shape = input_shape or ["N", res, res, 3]
    face = input_name if input_type == TensorProto.FLOAT else "face_as_float"
    nodes = [] if face == input_name else [helper.make_node("Cast", [input_name], [face], to=TensorProto.FLOAT)]
    nodes += [
        helper.make_node("Mul", [face, "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], [outputs[1]]),
        helper.make_node("ReduceMean", [face], ["channel_mean"], axes=[3], keepdims=1),
        helper.make_node("Mul", ["channel_mean", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "face_mask"], [outputs[0]]),
        helper.make_node("Add", ["zeros", "celeb_mask"], ["celeb_mask_out"]),
    ]
    inputs = [helper.make_tensor_value_info(input_name, input_type, shape)]
    if morph:
        inputs.append(_value("morph_value:0", [1]))
        nodes.append(helper.make_node("Mul", ["celeb_mask_out", "morph_value:0"], [outputs[2]]))
    else:
        nodes.append(helper.make_node("Identity", ["celeb_mask_out"], [outputs[2]]))
    mask_shape = [*shape[:3], 1]
    declared = [_value(outputs[0], mask_shape), _value(outputs[1], shape), _value(outputs[2], mask_shape)]

    def as_mask(mask):
        return [1.0] if mask is None else np.asarray(mask, np.float32)[None, :, :, None]

    weights = [numpy_helper.from_array(np.asarray(v, np.float32), n) for n, v in
               (("gain", gain), ("bias", bias), ("zero", [0.0]), ("face_mask", as_mask(face_mask)),
                ("celeb_mask", as_mask(celeb_mask)))]
    return _save(helper.make_graph(nodes, "dfm", inputs, declared, weights), path)


def inswapper_model(path: Path, size: int = 128, dim: int = 512, *, gain=(1.0, 1.0, 1.0), emap=None,
                    seed: int = 0) -> Path:
    """An inswapper-like model: output = target * gain (per RGB channel); `source` goes through the emap,
    which is the graph's last initializer, and is added times zero so it is a real input."""
    emap = np.random.default_rng(seed).normal(size=(dim, dim)).astype(np.float32) if emap is None else emap
    nodes = [
        helper.make_node("MatMul", ["source", "emap"], ["mapped"]),
        helper.make_node("ReduceSum", ["mapped"], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Mul", ["target", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "nothing"], ["output"]),
    ]
    weights = [numpy_helper.from_array(np.float32([0.0]), "zero"),
               numpy_helper.from_array(np.asarray(gain, np.float32).reshape(1, 3, 1, 1), "gain"),
               numpy_helper.from_array(emap, "emap")]
    inputs = [_value("target", [1, 3, size, size]), _value("source", [1, dim])]
    graph = helper.make_graph(nodes, "inswapper", inputs, [_value("output", [1, 3, size, size])], weights)
    return _save(graph, path)


def arcface_model(path: Path, size: int = 112, dim: int = 512, seed: int = 1):
    """An ArcFace-like recogniser: the crop's mean R, G, B through a fixed linear map to `dim` numbers.
    Returns (path, weights, bias) so a test can compute the embedding on its own."""
    rng = np.random.default_rng(seed)
    weights, bias = rng.normal(size=(3, dim)).astype(np.float32), rng.normal(size=dim).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["product"]),
        helper.make_node("Add", ["product", "b"], ["683"]),
    ]
    graph = helper.make_graph(nodes, "arcface", [_value("input.1", ["None", 3, size, size])],
                              [_value("683", [1, dim])],
                              [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")])
    return _save(graph, path), weights, bias


def inswapper_source_model(path: Path, colour: np.ndarray, size: int = 128, seed: int = 0) -> Path:
    """An inswapper-like model whose output depends on both inputs in a known way:
    output = 0.5 * target + 0.25 + source @ colour (one number per RGB channel, added to every pixel).
    `colour` is dim x 3; the emap (random, dim x dim) is the graph's last initializer."""
    dim = colour.shape[0]
    emap = np.random.default_rng(seed).normal(size=(dim, dim)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["source", "colour"], ["tint"]),
        helper.make_node("Reshape", ["tint", "tint_shape"], ["tint_nchw"]),
        helper.make_node("Mul", ["target", "half"], ["halved"]),
        helper.make_node("Add", ["halved", "quarter"], ["affine"]),
        helper.make_node("Add", ["affine", "tint_nchw"], ["output"]),
    ]
    weights = [numpy_helper.from_array(np.asarray(colour, np.float32), "colour"),
               numpy_helper.from_array(np.int64([1, 3, 1, 1]), "tint_shape"),
               numpy_helper.from_array(np.float32([0.5]), "half"),
               numpy_helper.from_array(np.float32([0.25]), "quarter"),
               numpy_helper.from_array(emap, "emap")]
    inputs = [_value("target", [1, 3, size, size]), _value("source", [1, dim])]
    graph = helper.make_graph(nodes, "inswapper", inputs, [_value("output", [1, 3, size, size])], weights)
    return _save(graph, path)


def arcface_probe_model(path: Path, probes, patch: int = 6, dim: int = 512, size: int = 112, seed: int = 2,
                        normalise_inside: bool = False):
    """An ArcFace-like recogniser that looks only at `patch` x `patch` squares centred on `probes`
    (x, y integer pixels of its input): their mean R, G, B, through a fixed linear map to `dim` numbers.
    So where the eyes, nose and mouth land in its crop, and which colour is which, change its output.
    With `normalise_inside` the graph starts as InsightFace's self-normalising recognisers do,
    Sub 127.5 then Mul 1/127.5, and takes 0..255 pixels. Returns (path, weights, bias)."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(3 * len(probes), dim)).astype(np.float32)
    bias = rng.normal(size=dim).astype(np.float32)
    source, nodes, inits, means = "input.1", [], [], []
    if normalise_inside:
        nodes += [helper.make_node("Sub", ["input.1", "mean"], ["centred"]),
                  helper.make_node("Mul", ["centred", "inv_std"], ["normalised"])]
        inits += [numpy_helper.from_array(np.float32([127.5]), "mean"),
                  numpy_helper.from_array(np.float32([1 / 127.5]), "inv_std")]
        source = "normalised"
    half = patch // 2
    for i, (x, y) in enumerate(probes):
        inits += [numpy_helper.from_array(np.int64([0, 0, y - half, x - half]), f"start{i}"),
                  numpy_helper.from_array(np.int64([1, 3, y - half + patch, x - half + patch]), f"end{i}")]
        nodes += [helper.make_node("Slice", [source, f"start{i}", f"end{i}"], [f"patch{i}"]),
                  helper.make_node("ReduceMean", [f"patch{i}"], [f"mean{i}"], axes=[2, 3], keepdims=0)]
        means.append(f"mean{i}")
    nodes += [helper.make_node("Concat", means, ["features"], axis=1),
              helper.make_node("MatMul", ["features", "w"], ["product"]),
              helper.make_node("Add", ["product", "b"], ["683"])]
    inits += [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")]
    graph = helper.make_graph(nodes, "arcface", [_value("input.1", ["None", 3, size, size])],
                              [_value("683", [1, dim])], inits)
    return _save(graph, path), weights, bias


@lru_cache(maxsize=4)
def _detected(path: str) -> tuple:
    frame = cv2.imread(path)
    detections = BlazeFace().detect(frame)
    mesh = FaceMesh()
    faces = []
    for d in detections:
        landmarks, _ = mesh.landmarks(frame, d["box"], d["keypoints"])
        faces.append({**d, "landmarks": landmarks})
    return frame, faces


def portrait_faces(path: Path = PORTRAIT) -> tuple[np.ndarray, list[dict]]:
    """(frame, face records with box, score, keypoints and 468 landmarks) from the real built-in models.
    Fresh copies each call, so a test that breaks the no-mutation rule cannot hide it from another."""
    frame, faces = _detected(str(path))
    copies = [{k: v.copy() if isinstance(v, np.ndarray) else v for k, v in f.items()} for f in faces]
    return frame.copy(), copies


class PortraitFaces(Node):
    """Test node: the faces the built-in BlazeFace and FaceMesh find in each frame, with their landmarks."""

    category = "Test"
    inputs = {"frame": Frame}
    outputs = {"faces": Faces}

    def setup(self):
        self.detector, self.mesh = BlazeFace(), FaceMesh()

    def process(self, frame):
        faces = []
        for d in self.detector.detect(frame):
            landmarks, _ = self.mesh.landmarks(frame, d["box"], d["keypoints"])
            faces.append({**d, "landmarks": landmarks})
        return {"faces": faces}


def registry_with_faces() -> Registry:
    registry = load_registry(third_party=False)
    registry.add(PortraitFaces, "tests")
    return registry


def face_region(face: dict, frame_shape, margin: float = 0.1) -> tuple[slice, slice]:
    x0, y0, x1, y1 = face["box"]
    w, h = x1 - x0, y1 - y0
    ys = slice(max(0, int(y0 + margin * h)), min(frame_shape[0], int(y1 - margin * h)))
    xs = slice(max(0, int(x0 + margin * w)), min(frame_shape[1], int(x1 - margin * w)))
    return ys, xs


def hyperswap_model(path: Path, *, bias=None, mask_value: float = 0.75, colour=None) -> Path:
    """A HyperSwap-like model (facefusion-labs' export names): output = target + bias (+ source @ colour,
    one number per RGB channel), in the model's -1..1 space; mask = `mask_value` everywhere. `bias` is a
    [1, 3, 256, 256] array (zeros when not given); `colour` is 512 x 3 (zeros when not given)."""
    bias = np.zeros((1, 3, 256, 256), np.float32) if bias is None else np.asarray(bias, np.float32)
    colour = np.zeros((512, 3), np.float32) if colour is None else np.asarray(colour, np.float32)
    nodes = [
        helper.make_node("MatMul", ["source", "colour"], ["tint"]),
        helper.make_node("Reshape", ["tint", "tint_shape"], ["tint_nchw"]),
        helper.make_node("Add", ["target", "bias"], ["shifted"]),
        helper.make_node("Add", ["shifted", "tint_nchw"], ["output"]),
        helper.make_node("ReduceMean", ["target"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["grey", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "mask_value"], ["mask"]),
    ]
    weights = [numpy_helper.from_array(colour, "colour"), numpy_helper.from_array(np.int64([1, 3, 1, 1]), "tint_shape"),
               numpy_helper.from_array(bias, "bias"), numpy_helper.from_array(np.float32([0.0]), "zero"),
               numpy_helper.from_array(np.float32([mask_value]), "mask_value")]
    inputs = [_value("source", [1, 512]), _value("target", [1, 3, 256, 256])]
    outputs = [_value("output", [1, 3, 256, 256]), _value("mask", [1, 1, 256, 256])]
    return _save(helper.make_graph(nodes, "hyperswap", inputs, outputs, weights), path)


def simswap_model(path: Path, size: int = 256, *, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)) -> Path:
    """A SimSwap-like model (FaceFusion's tensors): output = target * std + mean, so a model given its
    input normalised by (mean, std) gives back the 0..1 crop; `source` is added times zero."""
    nodes = [
        helper.make_node("ReduceSum", ["source"], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Mul", ["target", "std"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mean"], ["shifted"]),
        helper.make_node("Add", ["shifted", "nothing"], ["output"]),
    ]
    weights = [numpy_helper.from_array(np.float32([0.0]), "zero"),
               numpy_helper.from_array(np.asarray(std, np.float32).reshape(1, 3, 1, 1), "std"),
               numpy_helper.from_array(np.asarray(mean, np.float32).reshape(1, 3, 1, 1), "mean")]
    inputs = [_value("source", [1, 512]), _value("target", [1, 3, size, size])]
    graph = helper.make_graph(nodes, "simswap", inputs, [_value("output", [1, 3, size, size])], weights)
    return _save(graph, path)


def converter_model(path: Path, seed: int = 3):
    """A CrossFace-like converter: output = input @ W (512 x 512). Returns (path, W)."""
    weights = np.random.default_rng(seed).normal(size=(512, 512)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["output"])], "crossface",
                              [_value("input", [1, 512])], [_value("output", [1, 512])],
                              [numpy_helper.from_array(weights, "w")])
    return _save(graph, path), weights

