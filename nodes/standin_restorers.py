"""Stand-in models for the mask and enhancer benchmark, where FaceFusion's weights cannot be had here: the
real models' tensors (docs/models.md) and convolution stacks of a stated compute, with random weights.
The multiply-adds of each are counted as it is built and reported beside its time.

- `occluder_standin`: XSeg's tensors (`input` [1, 256, 256, 3] NHWC -> [1, 256, 256, 1]); a U-Net of
  32..256 channels down to 32 px and back.
- `parser_standin`: BiSeNet's (`input` [1, 3, 512, 512] -> `output` [1, 19, 512, 512], `0`, `1`); a
  ResNet-18-like stack (four 3x3 convolutions a stage, 64..512 channels, strides to 16 px): ResNet-18's
  published 1.8 G multiply-adds at 224 px come to about 9.5 G at 512 px.
- `enhancer_standin`: a face enhancer's (`input` [1, 3, S, S] -> `output`); a U-Net of 32..512
  channels, two 3x3 convolutions a level, down to S/16. Its compute is not the real restorers' (not
  measured here); the benchmark says how many multiply-adds it ran.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .standin_models import _Builder


class _Counted(_Builder):
    """A builder that counts the multiply-adds of its convolutions at the spatial size it is told."""

    def __init__(self, seed: int, side: int):
        super().__init__(seed)
        self.side, self.macs = side, 0

    def conv_at(self, x: str, c_in: int, c_out: int, stride: int = 1) -> str:
        self.side //= stride
        self.macs += self.side * self.side * c_in * c_out * 9
        return self.leaky(self.conv(x, c_in, c_out, 3, stride=stride))

    def up_at(self, x: str) -> str:
        self.side *= 2
        return self.up(x)

    def finish(self, name: str, inputs, outputs, path: Path) -> tuple[Path, int]:
        return self.save(name, inputs, outputs, path), self.macs


def _unet(b: _Counted, x: str, channels: list[int], convs: int) -> str:
    skips, c_in = [], channels[0]
    for level, c in enumerate(channels):
        for i in range(convs):
            x = b.conv_at(x, c_in, c, stride=2 if (i == 0 and level > 0) else 1)
            c_in = c
        skips.append(x)
    for c in reversed(channels[:-1]):
        x = b.conv_at(b.up_at(x), c_in, c)
        x = b.op("Add", [x, skips[channels.index(c)]])
        c_in = c
    return x


def _value(b: _Builder, name: str, shape):
    return b.onnx.helper.make_tensor_value_info(name, b.onnx.TensorProto.FLOAT, shape)


def occluder_standin(path: Path, seed: int = 3) -> tuple[Path, int]:
    b = _Counted(seed, 256)
    x = b.op("Transpose", ["input"], perm=[0, 3, 1, 2])
    x = _unet(b, b.conv_at(x, 3, 32), [32, 64, 128, 256], convs=1)
    x = b.op("Sigmoid", [b.conv(x, 32, 1, 3)])
    b.nodes.append(b.onnx.helper.make_node("Transpose", [x], ["mask"], perm=[0, 2, 3, 1]))
    return b.finish("xseg_standin", [_value(b, "input", [1, 256, 256, 3])], [_value(b, "mask", [1, 256, 256, 1])],
                    path)


def parser_standin(path: Path, seed: int = 4) -> tuple[Path, int]:
    b = _Counted(seed, 512)
    x, c_in = "input", 3
    for stage, c in enumerate([64, 64, 128, 256, 512]):
        for i in range(4 if stage else 1):
            x = b.conv_at(x, c_in, c, stride=2 if i == 0 else 1)
            c_in = c
    scores = b.conv(x, 512, 19, 3)
    scales = b.weight([1.0, 1.0, 32.0, 32.0], "scales")
    b.nodes.append(b.onnx.helper.make_node("Resize", [scores, "", scales], ["output"], mode="linear"))
    for aux in ("0", "1"):
        b.nodes.append(b.onnx.helper.make_node("Identity", ["output"], [aux]))
    return b.finish("bisenet_standin", [_value(b, "input", [1, 3, 512, 512])],
                    [_value(b, name, [1, 19, 512, 512]) for name in ("output", "0", "1")], path)


def enhancer_standin(path: Path, size: int = 512, seed: int = 5) -> tuple[Path, int]:
    b = _Counted(seed, size)
    x = _unet(b, b.conv_at("input", 3, 32), [32, 64, 128, 256, 512], convs=2)
    x = b.op("Tanh", [b.conv(x, 32, 3, 3)])
    b.nodes.append(b.onnx.helper.make_node("Identity", [x], ["output"]))
    return b.finish("enhancer_standin", [_value(b, "input", [1, 3, size, size])],
                    [_value(b, "output", [1, 3, size, size])], path)


def gmacs(macs: int) -> float:
    return float(np.round(macs / 1e9, 1))
