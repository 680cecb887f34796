"""Stand-ins for the FaceFusion swappers in benchmarks and tests (the weights cannot be shipped or had here):
for HyperSwap and SimSwap the real models' tensors and layers with random weights, so their compute is the
real one's; for GHOST, HiFiFace, UniFace and BlendSwap the real tensors only (below).

`hyperswap_standin` follows facefusion-labs' HyperSwap at 256 px (`hyperswap/src/networks`: a U-Net of 4x4
stride-2 convolutions from 32 to 1024 channels and back, an AAD generator of eight adaptive feature
modulation stages of two blocks from 2x2 to 256x256, each block blending an instance-normalised feature
modulated by the source (linear) and by the U-Net feature (1x1 convolutions) under a learned mask, and a
small mask U-Net), float32 where the real file is fp16: 201 million weights (402 MB at fp16, the size of
the real hyperswap_1a_256.onnx) and 32 billion multiply-adds per 256 px run.

`simswap_standin` follows SimSwap's `Generator_Adain_Upsample` (a 7x7 stem, 3 stride-2 convolutions to 512
channels, 9 residual blocks of two 3x3 convolutions with AdaIN on the source, upsampling convolutions back,
a 7x7 head; the 512 px model one stride-2 stage deeper): 55 and 60 million weights (220 and 239 MB at
float32, the real files' sizes) and 63 and 133 billion multiply-adds at 256 and 512 px.

Batch norms are left out (they fold into the convolutions once exported). Tensor names as FaceFusion feeds
them and as facefusion-labs exports them.

`converted_swapper_model` (GHOST, HiFiFace) and `portrait_crop_swapper_model` (UniFace, BlendSwap) have the
real files' tensors only, not their networks (no public source describes the exports layer by layer): a
per-channel tint of the target, which the tests read back and which costs next to nothing, so a benchmark
of them measures the node's own work around the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .standin_models import LATENT, _Builder

UNET_CHANNELS = (32, 64, 128, 256, 512, 1024, 1024)  # 256 px: down to 2x2
# (input, output, target feature) channels of the AAD stages at 256 px, from 2x2 to 256x256
AAD_STAGES = ((1024, 1024, 1024), (1024, 1024, 2048), (1024, 1024, 1024), (1024, 512, 512),
              (512, 256, 256), (256, 128, 128), (128, 64, 64), (64, 3, 64))


def _kernel(b: _Builder, c_out: int, c_in: int, kernel: int) -> str:
    return b.weight(b.normal(np.sqrt(2.0 / (c_in * kernel * kernel)), (c_out, c_in, kernel, kernel)), "w")


def _conv(b: _Builder, x: str, c_in: int, c_out: int, kernel: int, stride: int = 1, pad: int | None = None) -> str:
    pad = kernel // 2 if pad is None else pad
    return b.op("Conv", [x, _kernel(b, c_out, c_in, kernel)], kernel_shape=[kernel, kernel],
                strides=[stride, stride], pads=[pad] * 4)


def _deconv(b: _Builder, x: str, c_in: int, c_out: int, kernel: int, pad: int) -> str:
    w = b.weight(b.normal(np.sqrt(2.0 / (c_in * kernel)), (c_in, c_out, kernel, kernel)), "wt")
    return b.op("ConvTranspose", [x, w], kernel_shape=[kernel, kernel], strides=[2, 2], pads=[pad] * 4)


def _source_map(b: _Builder, channels: int) -> str:
    """A [1, channels, 1, 1] linear map of the source embedding."""
    w = b.weight(b.normal(0.02, (LATENT, channels)), "lin_w")
    shape = b.weight([1, channels, 1, 1], "shape", np.int64)
    return b.op("Reshape", [b.op("Gemm", ["source", w, b.weight(np.ones(channels), "lin_b")]), shape])


def _modulation(b: _Builder, x: str, channels: int, feature: str, feature_channels: int) -> str:
    """HyperSwap's FeatureModulation: the normalised x, modulated by the source and by the target feature,
    blended under a mask computed from x."""
    scale, bias = b.weight(np.ones(channels), "one"), b.weight(np.zeros(channels), "zero")
    normed = b.op("InstanceNormalization", [x, scale, bias], epsilon=1e-5)
    by_source = b.op("Add", [b.op("Mul", [_source_map(b, channels), normed]), _source_map(b, channels)])
    by_target = b.op("Add", [b.op("Mul", [_conv(b, feature, feature_channels, channels, 1), normed]),
                             _conv(b, feature, feature_channels, channels, 1)])
    mask = b.op("Sigmoid", [_conv(b, normed, channels, 1, 1)])
    return b.op("Add", [by_target, b.op("Mul", [mask, b.op("Sub", [by_source, by_target])])])


def _aad_stage(b: _Builder, x: str, c_in: int, c_out: int, feature: str, c_feature: int) -> str:
    y = _conv(b, b.op("Relu", [_modulation(b, x, c_in, feature, c_feature)]), c_in, c_in, 3)
    y = _conv(b, b.op("Relu", [_modulation(b, y, c_in, feature, c_feature)]), c_in, c_out, 3)
    if c_in > c_out:
        x = _conv(b, b.op("Relu", [_modulation(b, x, c_in, feature, c_feature)]), c_in, c_out, 3)
    return b.op("Add", [y, x])


def _mask_net(b: _Builder, x: str, c_in: int) -> str:
    for c_prev, c_next in ((c_in, 16), (16, 32), (32, 64)):
        x = b.op("MaxPool", [b.op("Relu", [_conv(b, x, c_prev, c_next, 3)])], kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Relu", [_conv(b, b.op("Relu", [_conv(b, x, 64, 64, 3)]), 64, 64, 3)])
    x = b.op("Relu", [b.op("Add", [y, x])])
    for c_prev, c_next in ((64, 32), (32, 16), (16, 16)):
        x = b.op("Relu", [_deconv(b, x, c_prev, c_next, 2, 0)])
    return b.op("Sigmoid", [_conv(b, x, 16, 1, 1)])


def hyperswap_standin(path: Path, seed: int = 0) -> Path:
    """HyperSwap 256's tensors and compute with random weights (see the module's doc)."""
    b = _Builder(seed)
    downs, x, c_prev = [], "target", 3
    for c in UNET_CHANNELS:
        x = b.leaky(_conv(b, x, c_prev, c, 4, stride=2, pad=1))
        downs.append((x, c))
        c_prev = c
    features = [(x, c_prev)]
    for (skip, c_skip), c in zip(downs[-2::-1], (1024, 512, 256, 128, 64, 32), strict=True):
        x = b.op("Concat", [b.leaky(_deconv(b, x, c_prev, c, 4, 1)), skip], axis=1)
        c_prev = c + c_skip
        features.append((x, c_prev))
    features.append((b.up(x), c_prev))
    shape = b.weight([1, LATENT, 1, 1], "shape", np.int64)
    y = b.op("DepthToSpace", [_conv(b, b.op("Reshape", ["source", shape]), LATENT, 4096, 3)], blocksize=2)
    for i, ((c_in, c_out, c_feature), (feature, _)) in enumerate(zip(AAD_STAGES, features, strict=True)):
        y = _aad_stage(b, y, c_in, c_out, feature, c_feature)
        y = b.op("Tanh", [y]) if i == len(AAD_STAGES) - 1 else b.up(y)
    b.nodes.append(b.onnx.helper.make_node("Identity", [_mask_net(b, b.op("Concat", ["target", features[-1][0]],
                                                                          axis=1), 67)], ["mask"]))
    unmasked = b.op("Sub", [b.weight([1.0], "one"), "mask"])
    blended = b.op("Add", [b.op("Mul", [y, "mask"]), b.op("Mul", ["target", unmasked])])
    b.nodes.append(b.onnx.helper.make_node("Identity", [blended], ["output"]))
    value, float32 = b.onnx.helper.make_tensor_value_info, b.onnx.TensorProto.FLOAT
    return b.save("hyperswap_standin",
                  [value("source", float32, [1, LATENT]), value("target", float32, [1, 3, 256, 256])],
                  [value("output", float32, [1, 3, 256, 256]), value("mask", float32, [1, 1, 256, 256])], path)


def simswap_standin(path: Path, size: int = 256, seed: int = 0) -> Path:
    """SimSwap's tensors and compute at `size` (256, or the unofficial 512) with random weights."""
    b = _Builder(seed)
    x = b.op("Relu", [b.conv("target", 3, 64, 7, reflect=True)])
    channels = [64, 128, 256, 512] + ([512] if size == 512 else [])
    for c_in, c_out in zip(channels, channels[1:], strict=False):
        x = b.op("Relu", [_conv(b, x, c_in, c_out, 3, stride=2)])
    for _ in range(9):
        y = b.op("Relu", [b.adain(b.conv(x, 512, 512, 3, reflect=True), "source", 512)])
        x = b.op("Add", [x, b.adain(b.conv(y, 512, 512, 3, reflect=True), "source", 512)])
    for c_in, c_out in zip(channels[:0:-1], channels[-2::-1], strict=True):
        x = b.op("Relu", [_conv(b, b.up(x), c_in, c_out, 3)])
    b.nodes.append(b.onnx.helper.make_node("Sigmoid", [b.conv(x, 64, 3, 7, reflect=True)], ["output"]))
    value, float32 = b.onnx.helper.make_tensor_value_info, b.onnx.TensorProto.FLOAT
    return b.save(f"simswap_{size}_standin", [value("source", float32, [1, LATENT]),
                                              value("target", float32, [1, 3, size, size])],
                  [value("output", float32, [1, 3, size, size])], path)


def converter_standin(path: Path, seed: int = 5) -> Path:
    """crossface_simswap's tensors (`input` [1, 512] -> `output` [1, 512]); it runs once per identity, so its
    compute does not matter to a frame: one random 512 x 512 map."""
    b = _Builder(seed)
    w = b.weight(b.normal(1.0 / np.sqrt(LATENT), (LATENT, LATENT)), "w")
    b.nodes.append(b.onnx.helper.make_node("MatMul", ["input", w], ["output"]))
    value, float32 = b.onnx.helper.make_tensor_value_info, b.onnx.TensorProto.FLOAT
    return b.save("converter_standin", [value("input", float32, [1, LATENT])],
                  [value("output", float32, [1, LATENT])], path)


def converted_swapper_model(path: Path, *, colour=None, mask_output: bool = False,
                            names: tuple[str, str] = ("output", "mask"), mask_first: bool = False) -> Path:
    """A GHOST- or HiFiFace-like model with FaceFusion's tensors (inputs source [1, 512] and target
    [1, 3, 256, 256]; output [1, 3, 256, 256] in -1..1): output = target + source @ colour (one number per RGB
    channel; `colour` 512 x 3, zeros when not given), so with no colour it gives back its input. With
    `mask_output` (HiFiFace's, which GHOST's node allows and does not read) a second output mask
    [1, 1, 256, 256] follows (or, with `mask_first`, leads): the target's grey level in 0..1, so a test can tell
    where it was put. `names` names the face and the mask, for a file that names them otherwise."""
    b = _Builder(0)
    colour = np.zeros((LATENT, 3), np.float32) if colour is None else np.asarray(colour, np.float32)
    shape = b.weight([1, 3, 1, 1], "tint_shape", np.int64)
    tint = b.op("Reshape", [b.op("MatMul", ["source", b.weight(colour, "colour")]), shape])
    make, value, float32 = b.onnx.helper.make_node, b.onnx.helper.make_tensor_value_info, b.onnx.TensorProto.FLOAT
    face_name, mask_name = names
    b.nodes.append(make("Add", ["target", tint], [face_name]))
    outputs = [value(face_name, float32, [1, 3, 256, 256])]
    if mask_output:
        grey = b.op("ReduceMean", ["target"], axes=[1], keepdims=1)
        b.nodes.append(make("Add", [b.op("Mul", [grey, b.weight([0.5], "half")]), b.weight([0.5], "half_up")],
                            [mask_name]))
        outputs.insert(0 if mask_first else 1, value(mask_name, float32, [1, 1, 256, 256]))
    return b.save("converted_swapper", [value("source", float32, [1, LATENT]),
                                        value("target", float32, [1, 3, 256, 256])], outputs, path)


def portrait_crop_swapper_model(path: Path, source_size: int, gain: float = 0.0) -> Path:
    """A UniFace- or BlendSwap-like model with FaceFusion's tensors (inputs source [1, 3, source_size,
    source_size], the portrait's crop, and target [1, 3, 256, 256]; first output [1, 3, 256, 256]; the real
    output names are not pinned): output = target + gain * (the source crop's mean R, G, B), so with no gain
    it gives back its input."""
    b = _Builder(0)
    tint = b.op("Mul", [b.op("ReduceMean", ["source"], axes=[2, 3], keepdims=1), b.weight([gain], "gain")])
    b.nodes.append(b.onnx.helper.make_node("Add", ["target", tint], ["output"]))
    value, float32 = b.onnx.helper.make_tensor_value_info, b.onnx.TensorProto.FLOAT
    return b.save("portrait_crop_swapper", [value("source", float32, [1, 3, source_size, source_size]),
                                            value("target", float32, [1, 3, 256, 256])],
                  [value("output", float32, [1, 3, 256, 256])], path)
