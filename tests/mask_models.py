"""Small ONNX models with the exact tensors of FaceFusion's occluders (XSeg), face parsers (BiSeNet) and face
enhancers (GFPGAN, GPEN-BFR, RestoreFormer++, CodeFormer), built with the `onnx` helper API. Each answers
in a known way, so a test can work the expected output out on its own and a broken contract (channel
order, layout, range, normalisation, crop) changes the numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _weights(**arrays):
    return [numpy_helper.from_array(np.asarray(v, np.float64 if k.startswith("f64") else np.float32), k)
            for k, v in arrays.items()]


def occluder_model(path: Path, channel_weights=(0.0, 0.0, 1.0), size: int = 256, input_shape=None) -> Path:
    """An XSeg-like occluder: its one output [N, S, S, 1] is the input pixels' weighted sum over the last
    (channel) axis, so with the default weights the mask is the input's third channel (R of BGR)."""
    shape = input_shape or [1, size, size, 3]
    nodes = [helper.make_node("Mul", ["input", "channel_weights"], ["weighted"]),
             helper.make_node("ReduceSum", ["weighted", "last_axis"], ["out_mask"], keepdims=1)]
    weights = _weights(channel_weights=np.reshape(channel_weights, (1, 1, 1, 3)))
    weights.append(numpy_helper.from_array(np.int64([3]), "last_axis"))
    graph = helper.make_graph(nodes, "xseg", [_value("input", shape)], [_value("out_mask", [1, size, size, 1])],
                              weights)
    return _save(graph, path)


def parser_model(path: Path, scores: np.ndarray, size: int = 512) -> Path:
    """A BiSeNet-like parser: a 1x1 convolution from the normalised RGB input to 19 class scores
    (`scores`, 19 x 3, one row per class), so each pixel's class is argmax(scores @ rgb); plus BiSeNet's two
    auxiliary outputs, which the node must not take for the first."""
    nodes = [helper.make_node("Conv", ["input", "w"], ["output"], kernel_shape=[1, 1]),
             helper.make_node("Identity", ["output"], ["0"]),
             helper.make_node("Identity", ["output"], ["1"])]
    weights = _weights(w=np.asarray(scores, np.float32).reshape(19, 3, 1, 1))
    outputs = [_value(name, [1, 19, size, size]) for name in ("output", "0", "1")]
    graph = helper.make_graph(nodes, "bisenet", [_value("input", [1, 3, size, size])], outputs, weights)
    return _save(graph, path)


def enhancer_model(path: Path, size: int = 512, gain=(1.0, 0.5, 0.25), weight: bool = False,
                   input_name: str = "input") -> Path:
    """An enhancer-like model: output = input * gain per RGB channel (-1..1 in and out); with `weight`
    (CodeFormer's fidelity, a double [1]) the output is scaled by (1 - weight) too."""
    nodes = [helper.make_node("Mul", [input_name, "gain"], ["scaled"])]
    inputs = [_value(input_name, [1, 3, size, size])]
    weights = _weights(gain=np.reshape(gain, (1, 3, 1, 1)), one=[1.0])
    if weight:
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
        nodes += [helper.make_node("Cast", ["weight"], ["weight32"], to=TensorProto.FLOAT),
                  helper.make_node("Sub", ["one", "weight32"], ["keep"]),
                  helper.make_node("Mul", ["scaled", "keep"], ["output"])]
    else:
        nodes.append(helper.make_node("Identity", ["scaled"], ["output"]))
    graph = helper.make_graph(nodes, "enhancer", inputs, [_value("output", [1, 3, size, size])], weights)
    return _save(graph, path)
