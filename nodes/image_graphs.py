"""Image work as small ONNX graphs, built in code, that onnxruntime runs on whichever provider is fastest
(CUDA where a GPU loads): the affine paste-back of a face into a frame region and the dense remap of the
mesh warp. Each gives the same pixels as the OpenCV call it replaces, within one level.

Both resample with GridSample (opset 16, which onnxruntime's CUDA provider runs) on pixel coordinates
normalised with align_corners=1 (x / (W - 1) * 2 - 1, so pixel centres fall on integers as in OpenCV), cubic
with a = -0.75 as cv2.INTER_CUBIC. OpenCV's BORDER_REPLICATE clamps each tap of the kernel to the image,
while GridSample's `border` clamps the sample point: the image is padded with its edge pixels first
(`PAD`, wide enough for a cubic kernel's reach), so that every tap OpenCV would clamp lies in the padding.
Rounding to uint8 is half to even, as cv2.saturate_cast. OpenCV 5 samples exactly where it is told;
OpenCV 4 (still allowed by the project's requirements) in 1/32 px steps, which on a sharp edge moves a
value by several levels: `opencv_conventions` tries the installed OpenCV once, and the graphs then
sample at the same steps (tested against 4.10 and 5.1).
"""

from __future__ import annotations

import cv2
import numpy as np
import onnx

GRAPH_INTERPOLATIONS = {"linear": "bilinear", "cubic": "bicubic"}  # ours -> GridSample's (opset 16)
PAD = 2  # edge pixels added around a picture: a cubic kernel reaches 2 px beyond its sample point
OPSET = 17


class _Graph:
    """Collects the nodes and constants of one graph; op() returns the name of its output."""

    def __init__(self):
        self.nodes, self.constants = [], []

    def const(self, value, dtype=np.float32) -> str:
        name = f"const_{len(self.constants)}"
        self.constants.append(onnx.numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, kind: str, *inputs: str, **attributes) -> str:
        out = f"{kind.lower()}_{len(self.nodes)}"
        self.nodes.append(onnx.helper.make_node(kind, list(inputs), [out], **attributes))
        return out

    def to_uint8(self, values: str) -> str:
        """float -> uint8 the way cv2 saturates: rounded half to even, clipped to 0..255."""
        return self.op("Cast", self.op("Clip", self.op("Round", values), self.const(0.0), self.const(255.0)),
                       to=onnx.TensorProto.UINT8)

    def nchw(self, image: str) -> str:
        """HxWxC uint8 -> 1xCxHxW float."""
        planar = self.op("Transpose", self.op("Cast", image, to=onnx.TensorProto.FLOAT), perm=[2, 0, 1])
        return self.op("Unsqueeze", planar, self.const([0], np.int64))

    def hwc(self, batch: str) -> str:
        """1xCxHxW -> HxWxC."""
        return self.op("Transpose", self.op("Squeeze", batch, self.const([0], np.int64)), perm=[1, 2, 0])

    def padded(self, batch: str, mode: str) -> str:
        """A 1xCxHxW picture with PAD px more on each side: its edge pixels (`edge`) or 0 (`constant`)."""
        pads = self.const([0, 0, PAD, PAD, 0, 0, PAD, PAD], np.int64)
        return self.op("Pad", batch, pads, mode=mode)

    def normalised(self, grid: str, picture: str) -> str:
        """A HxWx2 grid of (x, y) pixels of the HxWxC `picture` -> 1xHxWx2 GridSample coordinates in that
        picture padded by PAD (align_corners=1)."""
        size_yx = self.op("Slice", self.op("Shape", picture), self.const([0], np.int64), self.const([2], np.int64))
        size_xy = self.op("Cast", self.op("Gather", size_yx, self.const([1, 0], np.int64)),
                          to=onnx.TensorProto.FLOAT)
        # (p + PAD) / (size + 2 PAD - 1) * 2 - 1
        scale = self.op("Div", self.const(2.0), self.op("Add", size_xy, self.const(2.0 * PAD - 1.0)))
        moved = self.op("Mul", self.op("Add", grid, self.const(float(PAD))), scale)
        return self.op("Unsqueeze", self.op("Sub", moved, self.const(1.0)), self.const([0], np.int64))

    def sample(self, picture: str, grid: str, interpolation: str) -> str:
        return self.op("GridSample", picture, grid, mode=interpolation, padding_mode="border", align_corners=1)

    def serialised(self, name: str, inputs: list, output: str, output_shape: list) -> bytes:
        helper, tensor = onnx.helper, onnx.TensorProto
        self.nodes.append(helper.make_node("Identity", [output], ["out"]))
        graph = helper.make_graph(self.nodes, name, inputs,
                                  [helper.make_tensor_value_info("out", tensor.UINT8, output_shape)],
                                  self.constants)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model.SerializeToString()


def _check_interpolation(interpolation: str) -> str:
    if interpolation not in GRAPH_INTERPOLATIONS:
        raise ValueError(f"the onnxruntime image graphs resample with {' or '.join(GRAPH_INTERPOLATIONS)}, "
                         f"not {interpolation!r}")
    return GRAPH_INTERPOLATIONS[interpolation]


def _affine_grid(g: _Graph, fixed_point: bool) -> str:
    """The h x w x 2 float grid of the face pixel (x, y) each region pixel shows, from the float64 `affine`
    input: x = a00 col + (a01 row + a02), in float64 as cv2.warpAffine. With `fixed_point`, OpenCV 4's
    arithmetic: each term in 1/1024 px rounded, their sum floored to 1/32 px (after adding half of it)."""
    double = onnx.TensorProto.DOUBLE
    shape = g.op("Shape", "region")
    height, width = (g.op("Cast", g.op("Gather", shape, g.const(axis, np.int64)), to=double) for axis in (0, 1))
    cols = g.op("Range", g.const(0.0, np.float64), width, g.const(1.0, np.float64))
    rows = g.op("Range", g.const(0.0, np.float64), height, g.const(1.0, np.float64))
    flat = g.op("Reshape", "affine", g.const([6], np.int64))
    a = [g.op("Gather", flat, g.const(k, np.int64)) for k in range(6)]
    axes = []
    for first in (0, 3):  # x from the affine's first row, y from its second
        across = g.op("Mul", a[first], cols)  # w
        down = g.op("Add", g.op("Mul", a[first + 1], rows), a[first + 2])  # h
        if fixed_point:
            scale = g.const(1024.0, np.float64)
            across = g.op("Round", g.op("Mul", across, scale))
            down = g.op("Add", g.op("Round", g.op("Mul", down, scale)), g.const(16.0, np.float64))
        coord = g.op("Add", g.op("Unsqueeze", down, g.const([1], np.int64)),
                     g.op("Unsqueeze", across, g.const([0], np.int64)))
        if fixed_point:
            step = g.const(32.0, np.float64)
            coord = g.op("Div", g.op("Floor", g.op("Div", coord, step)), step)
        axes.append(g.op("Unsqueeze", g.op("Cast", coord, to=onnx.TensorProto.FLOAT), g.const([2], np.int64)))
    return g.op("Concat", *axes, axis=2)


def paste_graph(interpolation: str, fixed_point: bool = False) -> bytes:
    """The alpha paste-back of a face crop into a frame region, as paste_back's OpenCV path does it.

    Inputs: `region` (h x w x 3 uint8, the frame's pixels), `face` (fh x fw x 3 uint8), `mask` (fh x fw
    float32), `affine` (2 x 3 float64: region pixel -> face pixel), `opacity` (float32 scalar). Output: the
    region with the face warped in (`interpolation`, edge replicated, as cv2.warpAffine with
    WARP_INVERSE_MAP and BORDER_REPLICATE) and blended as cv2.blendLinear(face, region, a, 1 - a) with
    a = clip(mask warped linearly, 0 outside, 0..1) * opacity. `fixed_point`: sample where OpenCV 4's
    warpAffine does (opencv_conventions)."""
    mode = _check_interpolation(interpolation)
    g = _Graph()
    tensor, value = onnx.TensorProto, onnx.helper.make_tensor_value_info
    inputs = [value("region", tensor.UINT8, ["h", "w", 3]), value("face", tensor.UINT8, ["fh", "fw", 3]),
              value("mask", tensor.FLOAT, ["fh", "fw"]), value("affine", tensor.DOUBLE, [2, 3]),
              value("opacity", tensor.FLOAT, [])]
    grid = g.normalised(_affine_grid(g, fixed_point), "face")

    face = g.hwc(g.sample(g.padded(g.nchw("face"), "edge"), grid, mode))
    face = g.op("Clip", g.op("Round", face), g.const(0.0), g.const(255.0))  # warpAffine's uint8 result
    mask = g.op("Unsqueeze", "mask", g.const([0, 1], np.int64))
    alpha = g.hwc(g.sample(g.padded(mask, "constant"), grid, "bilinear"))
    alpha = g.op("Mul", g.op("Clip", alpha, g.const(0.0), g.const(1.0)), "opacity")
    beta = g.op("Sub", g.const(1.0), alpha)
    region = g.op("Cast", "region", to=tensor.FLOAT)
    # blendLinear: (face a + region b) / (a + b + 1e-5)
    mixed = g.op("Add", g.op("Mul", face, alpha), g.op("Mul", region, beta))
    blended = g.op("Div", mixed, g.op("Add", g.op("Add", alpha, beta), g.const(1e-5)))
    return g.serialised(f"paste_{interpolation}", inputs, g.to_uint8(blended), ["h", "w", 3])


def remap_graph(interpolation: str, rounded_maps: bool = False) -> bytes:
    """cv2.remap(picture, map_x, map_y, interpolation, borderMode=BORDER_REPLICATE) of a uint8 picture.

    Inputs: `picture` (ph x pw x 3 uint8), `map_x` and `map_y` (h x w float32: where in the picture each
    output pixel comes from). Output: h x w x 3 uint8. `rounded_maps`: the maps rounded to 1/32 px first,
    as OpenCV 4's remap does (opencv_conventions)."""
    mode = _check_interpolation(interpolation)
    g = _Graph()
    tensor, value = onnx.TensorProto, onnx.helper.make_tensor_value_info
    inputs = [value("picture", tensor.UINT8, ["ph", "pw", 3]), value("map_x", tensor.FLOAT, ["h", "w"]),
              value("map_y", tensor.FLOAT, ["h", "w"])]
    last = g.const([2], np.int64)
    grid = g.op("Concat", g.op("Unsqueeze", "map_x", last), g.op("Unsqueeze", "map_y", last), axis=2)
    if rounded_maps:
        grid = g.op("Div", g.op("Round", g.op("Mul", grid, g.const(32.0))), g.const(32.0))
    grid = g.normalised(grid, "picture")
    warped = g.hwc(g.sample(g.padded(g.nchw("picture"), "edge"), grid, mode))
    return g.serialised(f"remap_{interpolation}", inputs, g.to_uint8(warped), ["h", "w", 3])


# a sample point 0.014 px right of a pixel centre: OpenCV 4 rounds it onto the centre (1/32 px steps)
_PROBE_PICTURE = np.array([[[0, 0, 0], [255, 255, 255], [255, 255, 255], [255, 255, 255]]], np.uint8)
_PROBE_OFFSET = 0.014


def opencv_conventions(interpolation: str) -> dict[str, bool]:
    """Where this OpenCV samples, found by trying it: {"fixed_point": warpAffine's coordinates in OpenCV 4's
    fixed-point steps, "rounded_maps": remap's maps rounded to 1/32 px}; OpenCV 5 samples exactly where
    it is told (both False)."""
    flag = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}[interpolation]
    shifted = np.array([[1.0, 0.0, _PROBE_OFFSET], [0.0, 1.0, 0.0]])
    warped = cv2.warpAffine(_PROBE_PICTURE, shifted, (1, 1), flags=flag | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    at = np.full((1, 1), _PROBE_OFFSET, np.float32)
    remapped = cv2.remap(_PROBE_PICTURE, at, np.zeros((1, 1), np.float32), flag, borderMode=cv2.BORDER_REPLICATE)
    return {"fixed_point": not warped.any(), "rounded_maps": not remapped.any()}
