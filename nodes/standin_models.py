"""Stand-in models for benchmarks where the real weights cannot be shipped: the exact tensors of the real
model and its compute, with random weights.

`inswapper_standin` has inswapper_128's tensors (`target` [1, 3, 128, 128], `source` [1, 512], `output`
[1, 3, 128, 128], a 512x512 `emap` as the graph's last initializer) and its layers as the public
reimplementation ReSwapper describes them: an encoder to 1024 channels at 32x32, six style blocks of two
3x3 convolutions each modulated by the source (AdaIN), and a decoder back to 128x128. That is about 138
million weights (the real file holds 554 MB of float32) and 174 billion multiply-adds per face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nodegraph.errors import InvalidInput

INSWAPPER_SIZE, LATENT = 128, 512
STYLE_CHANNELS, STYLE_BLOCKS = 1024, 6


def _onnx():
    try:
        import onnx
    except ImportError:
        raise InvalidInput("building the stand-in models needs the onnx package: pip install onnx") from None
    return onnx


class _Builder:
    """Collects nodes and random initialisers (He-scaled, so activations stay in range) for one graph."""

    def __init__(self, seed: int):
        self.onnx = _onnx()
        self.rng = np.random.default_rng(seed)
        self.nodes, self.weights = [], []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def weight(self, array: np.ndarray, prefix: str, dtype=np.float32, exact_name: bool = False) -> str:
        name = prefix if exact_name else self.name(prefix)
        self.weights.append(self.onnx.numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def normal(self, scale: float, shape: tuple) -> np.ndarray:
        """Random float32 weights around 0, drawn as float32: a third of the time of float64 draws, which
        counts for inswapper's 138 M weights."""
        return self.rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    def op(self, kind: str, inputs: list[str], **attributes) -> str:
        out = self.name(kind.lower())
        self.nodes.append(self.onnx.helper.make_node(kind, inputs, [out], **attributes))
        return out

    def conv(self, x: str, c_in: int, c_out: int, kernel: int, stride: int = 1, reflect: bool = False) -> str:
        fan_in = c_in * kernel * kernel
        w = self.weight(self.normal(np.sqrt(2.0 / fan_in), (c_out, c_in, kernel, kernel)), "w")
        b = self.weight(np.zeros(c_out), "b")
        pad = kernel // 2
        if reflect:
            pads = self.weight([0, 0, pad, pad, 0, 0, pad, pad], "pads", np.int64)
            x = self.op("Pad", [x, pads], mode="reflect")
            pad = 0
        return self.op("Conv", [x, w, b], kernel_shape=[kernel, kernel], strides=[stride, stride],
                       pads=[pad, pad, pad, pad])

    def leaky(self, x: str) -> str:
        return self.op("LeakyRelu", [x], alpha=0.2)

    def up(self, x: str) -> str:
        scales = self.weight([1.0, 1.0, 2.0, 2.0], "scales")
        return self.op("Resize", [x, "", scales], mode="linear")

    def adain(self, x: str, latent: str, channels: int) -> str:
        """Instance-normalise x, then scale and shift it per channel by a linear map of the latent."""
        ones, zeros = self.weight(np.ones(channels), "one"), self.weight(np.zeros(channels), "zero")
        normed = self.op("InstanceNormalization", [x, ones, zeros], epsilon=1e-6)
        style_w = self.weight(self.normal(0.02, (LATENT, 2 * channels)), "style_w")
        style_b = self.weight(np.concatenate([np.ones(channels), np.zeros(channels)]), "style_b")
        style = self.op("Gemm", [latent, style_w, style_b])
        shape = self.weight([1, 2 * channels, 1, 1], "shape", np.int64)
        style = self.op("Reshape", [style, shape])
        gamma, beta = self.name("gamma"), self.name("beta")
        self.nodes.append(self.onnx.helper.make_node("Split", [style], [gamma, beta], axis=1))
        return self.op("Add", [self.op("Mul", [normed, gamma]), beta])

    def save(self, graph_name: str, inputs, outputs, path: Path) -> Path:
        helper = self.onnx.helper
        model = helper.make_model(helper.make_graph(self.nodes, graph_name, inputs, outputs, self.weights),
                                  opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        self.onnx.save(model, str(path))
        return path


def inswapper_standin(path: Path, seed: int = 0) -> Path:
    """inswapper_128's tensors and compute with random weights (see the module's doc)."""
    b = _Builder(seed)
    x = b.leaky(b.conv("target", 3, 128, 7, reflect=True))
    x = b.leaky(b.conv(x, 128, 256, 3))
    x = b.leaky(b.conv(x, 256, 512, 3, stride=2))
    x = b.leaky(b.conv(x, 512, STYLE_CHANNELS, 3, stride=2))
    for _ in range(STYLE_BLOCKS):
        y = b.op("Relu", [b.adain(b.conv(x, STYLE_CHANNELS, STYLE_CHANNELS, 3), "source", STYLE_CHANNELS)])
        y = b.adain(b.conv(y, STYLE_CHANNELS, STYLE_CHANNELS, 3), "source", STYLE_CHANNELS)
        x = b.op("Add", [x, y])
    x = b.leaky(b.conv(b.up(x), STYLE_CHANNELS, 512, 3))
    x = b.leaky(b.conv(b.up(x), 512, 256, 3))
    x = b.leaky(b.conv(x, 256, 128, 3))
    x = b.op("Tanh", [b.conv(x, 128, 3, 7, reflect=True)])
    half = b.weight([0.5], "half")
    b.nodes.append(b.onnx.helper.make_node("Add", [b.op("Mul", [x, half]), half], ["output"]))
    b.weight(b.normal(1.0 / np.sqrt(LATENT), (LATENT, LATENT)), "emap", exact_name=True)  # last, as there
    value = b.onnx.helper.make_tensor_value_info
    float32 = b.onnx.TensorProto.FLOAT
    return b.save("inswapper_standin",
                  [value("target", float32, [1, 3, INSWAPPER_SIZE, INSWAPPER_SIZE]),
                   value("source", float32, [1, LATENT])],
                  [value("output", float32, [1, 3, INSWAPPER_SIZE, INSWAPPER_SIZE])], path)


def recogniser_standin(path: Path, seed: int = 1) -> Path:
    """w600k_r50's tensors (`input.1` [N, 3, 112, 112] -> `683` [1, 512]); it runs once per identity, so its
    compute does not matter to a benchmark: the crop's mean colour through a random linear map."""
    b = _Builder(seed)
    pooled = b.op("Flatten", [b.op("GlobalAveragePool", ["input.1"])])
    w = b.weight(b.normal(1.0, (3, LATENT)), "w")
    b.nodes.append(b.onnx.helper.make_node("MatMul", [pooled, w], ["683"]))
    value = b.onnx.helper.make_tensor_value_info
    float32 = b.onnx.TensorProto.FLOAT
    return b.save("recogniser_standin", [value("input.1", float32, ["N", 3, 112, 112])],
                  [value("683", float32, [1, LATENT])], path)
