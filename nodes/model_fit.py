"""Whether a model file has the tensors a node runs: one function per kind of model, taking the file
and its tensors (a loaded session, or nodegraph.model_tensors for a check before the run) and
returning what the node needs to know of the model, or raising InvalidInput naming the file with the
expected and found tensors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodegraph import modelhub
from nodegraph.errors import InvalidInput, Problem
from nodegraph.model_tensors import model_tensors

from .onnx_models import last_initializer, model_mismatch, shape_fits, tensor_dims
from .pixel_boost import boost_size

DFM_EXPECTED = ("inputs in_face:0 [N, res, res, 3] (BGR 0..1) and, for AMP models, morph_value:0 [1]; "
                "outputs out_face_mask:0 [N, res, res, 1], out_celeb_face:0 [N, res, res, 3], "
                "out_celeb_face_mask:0 [N, res, res, 1]")
INSWAPPER_EXPECTED = ("inputs target [1, 3, S, S] (RGB 0..1) and source [1, D]; output output [1, 3, S, S]; "
                      "and a D x D emap as the graph's last initializer")


def dfm_fit(path: Path, model) -> tuple[int, bool]:
    """(resolution, has a morph input) of a DeepFaceLive .dfm swapper."""
    inputs = {t.name: t for t in model.get_inputs()}
    outputs = {t.name: t for t in model.get_outputs()}
    face_in = inputs.get("in_face:0")
    resolution = None
    if face_in is not None and shape_fits(face_in.shape, [None, None, None, 3]):
        dims = tensor_dims(face_in.shape)
        if dims[1] is not None and dims[1] == dims[2]:
            resolution = dims[1]
    wanted_outputs = {"out_face_mask:0": 1, "out_celeb_face:0": 3, "out_celeb_face_mask:0": 1}
    ok = (resolution is not None
          and set(inputs) <= {"in_face:0", "morph_value:0"}
          and ("morph_value:0" not in inputs or shape_fits(inputs["morph_value:0"].shape, [1]))
          and all(name in outputs and shape_fits(outputs[name].shape, [None, resolution, resolution, channels])
                  for name, channels in wanted_outputs.items()))
    if not ok:
        raise model_mismatch(path, "a DeepFaceLive .dfm swapper", DFM_EXPECTED, model)
    return resolution, "morph_value:0" in inputs


def inswapper_fit(path: Path, model) -> tuple[int, int]:
    """(crop size S, identity size D) of an inswapper model; its emap is checked too."""
    inputs = {t.name: t for t in model.get_inputs()}
    outputs = {t.name: t for t in model.get_outputs()}
    target, source, output = inputs.get("target"), inputs.get("source"), outputs.get("output")
    size = tensor_dims(target.shape)[2] if target is not None and len(target.shape) == 4 else None
    dim = tensor_dims(source.shape)[-1] if source is not None and len(source.shape) == 2 else None
    if (size is None or dim is None or len(inputs) != 2 or not shape_fits(target.shape, [1, 3, size, size])
            or output is None or not shape_fits(output.shape, [1, 3, size, size])):
        raise model_mismatch(path, "an inswapper model", INSWAPPER_EXPECTED, model)
    emap = last_initializer(path)
    if emap.shape != (dim, dim):
        raise model_mismatch(path, "an inswapper model", INSWAPPER_EXPECTED, model,
                             extra=f"; last initializer (emap) shape {list(emap.shape)}")
    return size, dim


HYPERSWAP_EXPECTED = ("inputs source [1, 512] (the L2-normalised ArcFace embedding) and target [1, 3, 256, 256] "
                      "(RGB, (x - 0.5) / 0.5); outputs output [1, 3, 256, 256] (RGB -1..1) and mask "
                      "[1, 1, 256, 256]")
SIMSWAP_EXPECTED = ("inputs source [1, 512] (the converted, L2-normalised ArcFace embedding) and target "
                    "[1, 3, S, S] with S 256 or 512 (RGB); one output [1, 3, S, S] (RGB 0..1)")
GHOST_EXPECTED = ("inputs source [1, 512] (the ArcFace embedding through crossface_ghost) and target "
                  "[1, 3, 256, 256] (RGB, (x - 0.5) / 0.5); first output [1, 3, 256, 256] (RGB -1..1)")
HIFIFACE_EXPECTED = ("inputs source [1, 512] (the ArcFace embedding through crossface_hififace, L2-normalised) "
                     "and target [1, 3, 256, 256] (RGB, (x - 0.5) / 0.5); outputs, by any names in any order, "
                     "exactly one [1, 3, 256, 256] (the face, RGB -1..1) and exactly one [1, 1, 256, 256] "
                     "(its mask, 0..1)")
UNIFACE_EXPECTED = ("inputs source [1, 3, 256, 256] (the portrait's face on ffhq_512 at 256 px, RGB 0..1) and "
                    "target [1, 3, 256, 256] (RGB, (x - 0.5) / 0.5); first output [1, 3, 256, 256] (RGB -1..1)")
BLENDSWAP_EXPECTED = ("inputs source [1, 3, 112, 112] (the portrait's face on arcface_112_v2 at 112 px, RGB 0..1) "
                      "and target [1, 3, 256, 256] (RGB 0..1); first output [1, 3, 256, 256] (RGB 0..1)")
CONVERTER_EXPECTED = "input input [1, 512] (an ArcFace w600k_r50 embedding) and one output [1, 512]"


def _source_target_size(model, sizes: tuple[int, ...], image_output: str | None = None) -> int | None:
    """S of a FaceFusion-style swapper with inputs source [1, 512] and target [1, 3, S, S] and an output
    [1, 3, S, S] named `image_output` (None: the first, for the families whose output names no public source
    pins), S one of `sizes`; None when it is not one."""
    inputs = {t.name: t for t in model.get_inputs()}
    outputs = model.get_outputs()
    target, source = inputs.get("target"), inputs.get("source")
    image = next((t for t in outputs if t.name == image_output), None) if image_output else next(iter(outputs), None)
    if (len(inputs) != 2 or target is None or source is None or image is None or len(target.shape) != 4
            or not shape_fits(source.shape, [1, 512])):
        return None
    size = tensor_dims(target.shape)[2]
    if (size not in sizes or not shape_fits(target.shape, [1, 3, size, size])
            or not shape_fits(image.shape, [1, 3, size, size])):
        return None
    return size


def hyperswap_fit(path: Path, model) -> int:
    """The crop size (256) of a HyperSwap model: its face and mask by the names its exporter gives them
    (facefusion-labs hyperswap/src/exporting.py: output_names output, mask)."""
    outputs = {t.name: t for t in model.get_outputs()}
    size = _source_target_size(model, (256,), "output")
    if size is None or "mask" not in outputs or not shape_fits(outputs["mask"].shape, [1, 1, size, size]):
        raise model_mismatch(path, "a HyperSwap model", HYPERSWAP_EXPECTED, model)
    return size


def face_and_mask_outputs(model, size: int) -> tuple[str, str] | None:
    """The names of a swapper's face output [1, 3, S, S] and mask output [1, 1, S, S], told apart by shape
    whatever their names and order; None unless it has exactly one of each."""
    faces = [t.name for t in model.get_outputs() if shape_fits(t.shape, [1, 3, size, size])]
    masks = [t.name for t in model.get_outputs() if shape_fits(t.shape, [1, 1, size, size])]
    if len(faces) != 1 or len(masks) != 1 or faces == masks:  # one output with open channels fits both
        return None
    return faces[0], masks[0]


def simswap_fit(path: Path, model) -> int:
    """The crop size (256 or 512) of a SimSwap model as FaceFusion exports them."""
    size = _source_target_size(model, (256, 512))
    if size is None or len(model.get_outputs()) != 1:
        raise model_mismatch(path, "a SimSwap model", SIMSWAP_EXPECTED, model)
    return size


def ghost_fit(path: Path, model) -> int:
    """The crop size (256) of a GHOST model as FaceFusion exports them (ghost_1_256, _2_, _3_). Its outputs
    after the first are not pinned by a public source, so they are allowed."""
    size = _source_target_size(model, (256,))
    if size is None:
        raise model_mismatch(path, "a GHOST model", GHOST_EXPECTED, model)
    return size


def hififace_fit(path: Path, model) -> int:
    """The crop size (256) of FaceFusion's hififace_unofficial_256: the face and its mask read by shape, as
    no public source names the real file's outputs (docs/models.md)."""
    names = face_and_mask_outputs(model, 256)
    if names is None or _source_target_size(model, (256,), names[0]) is None:
        raise model_mismatch(path, "a HiFiFace model", HIFIFACE_EXPECTED, model)
    return 256


def _portrait_crop_fit(path: Path, model, source_size: int, what: str, expected: str) -> int:
    """The crop size (256) of a swapper whose `source` is a crop of the portrait, source_size px square."""
    inputs, outputs = {t.name: t for t in model.get_inputs()}, model.get_outputs()
    source, target = inputs.get("source"), inputs.get("target")
    if (len(inputs) != 2 or source is None or target is None or not outputs
            or not shape_fits(source.shape, [1, 3, source_size, source_size])
            or not shape_fits(target.shape, [1, 3, 256, 256]) or not shape_fits(outputs[0].shape, [1, 3, 256, 256])):
        raise model_mismatch(path, what, expected, model)
    return 256


def uniface_fit(path: Path, model) -> int:
    """The crop size (256) of FaceFusion's uniface_256 (outputs after the first allowed, as GHOST's)."""
    return _portrait_crop_fit(path, model, 256, "a UniFace model", UNIFACE_EXPECTED)


def blendswap_fit(path: Path, model) -> int:
    """The crop size (256) of FaceFusion's blendswap_256 (outputs after the first allowed, as GHOST's)."""
    return _portrait_crop_fit(path, model, 112, "a BlendSwap model", BLENDSWAP_EXPECTED)


def converter_fit(path: Path, model) -> None:
    """An embedding converter: FaceFusion's crossface_simswap, crossface_ghost, crossface_hififace (one
    contract), or the older arcface_converter_* of FaceFusion 3.0 to 3.3."""
    inputs, outputs = model.get_inputs(), model.get_outputs()
    if (len(inputs) != 1 or inputs[0].name != "input" or not shape_fits(inputs[0].shape, [None, 512])
            or len(outputs) != 1 or not shape_fits(outputs[0].shape, [None, 512])):
        raise model_mismatch(path, "an embedding converter", CONVERTER_EXPECTED, model)


def checked_boost(problems: list[Problem], choice: str, model_size: int) -> None:
    """For a check hook: a `pixel_boost` that is no multiple of the model's size, as a problem."""
    try:
        boost_size(choice, model_size, "param 'pixel_boost'")
    except InvalidInput as e:
        problems.append(Problem(str(e), param="pixel_boost"))


def arcface_fit(path: Path, model, dim: int | None) -> int:
    """The input size of an ArcFace recogniser whose embedding has `dim` values (None: any)."""
    inputs, outputs = model.get_inputs(), model.get_outputs()
    size = tensor_dims(inputs[0].shape)[2] if len(inputs) == 1 and len(inputs[0].shape) == 4 else None
    if (size is None or not shape_fits(inputs[0].shape, [None, 3, size, size]) or len(outputs) != 1
            or not shape_fits(outputs[0].shape, [None, dim])):
        expected = (f"one input [N, 3, S, S] (RGB, (x - 127.5) / 127.5, or 0..255 when the graph starts with Sub "
                    f"and Mul) and one output [N, {dim or 'D'}]"
                    + (" (the inswapper's source size)" if dim else ""))
        raise model_mismatch(path, "an ArcFace recogniser", expected, model)
    return size


def check_float_inputs(path: Path, model) -> None:
    """The nodes feed 32-bit floats (a CodeFormer weight, 64-bit): a model whose inputs take another type (a
    float16 build) loads, then fails on every frame."""
    odd = next((t for t in model.get_inputs() if t.type not in ("tensor(float)", "tensor(double)")), None)
    if odd is not None:
        raise InvalidInput(f"{path}: its input {odd.name} takes {odd.type}, and the node feeds it 32-bit floats "
                           "(tensor(float)): use the model's float32 build (one named _fp16 is the float16 "
                           "one)")


def checked_model(problems: list[Problem], param: str | None, value: str, base_dir: Path,
                  fit: Callable[..., Any], *args) -> Any:
    """For a check hook: what `fit` says of the model `value` names, read without loading it to run;
    None when it does not resolve or fit, with the reason added to `problems` (nothing is added when
    `problems` already names `param`: the base check found the model missing)."""
    if param is not None and any(p.param == param for p in problems):
        return None
    try:
        path = modelhub.resolve(value, base_dir=base_dir)
        tensors = model_tensors(path)
        check_float_inputs(path, tensors)
    except InvalidInput as e:
        problems.append(Problem(str(e), param=param))
        return None
    try:
        return fit(path, tensors, *args)
    except InvalidInput as e:
        problems.append(Problem(f"{e}{_other_use(path, tensors, fit)}", param=param))
        return None


def _other_use(path: Path, tensors, refused_by: Callable[..., Any]) -> str:
    """Where a model that `refused_by` does not fit would fit, as the end of its error ('' when nowhere): a
    detector or a SimSwap file given where an inswapper goes said what it was not, not what to do."""
    uses = ((dfm_fit, "a DeepFaceLive .dfm swapper: use it in a DFMSwapper"),
            (inswapper_fit, "an inswapper model: use it in an InSwapper"),
            (hyperswap_fit, "a HyperSwap or HiFiFace model (the two have the same tensors): use it in the "
                            "HyperSwapper or HiFiFaceSwapper its name says"),
            (hififace_fit, "a HiFiFace model: use it in a HiFiFaceSwapper"),
            (simswap_fit, "a SimSwap or GHOST model (at 256 px the two have the same tensors): use it in the "
                          "SimSwapper or GhostSwapper its name says"),
            (uniface_fit, "a UniFace model: use it in a UniFaceSwapper"),
            (blendswap_fit, "a BlendSwap model: use it in a BlendSwapper"),
            (arcface_fit, "an ArcFace recogniser: use it as a swapper's param 'recogniser'"),
            (converter_fit, "an embedding converter: use it as the param 'converter' of the SimSwapper, "
                            "GhostSwapper or HiFiFaceSwapper its name says"),
            (occluder_fit, "an occluder: use it as a FaceMask's param 'occluder'"),
            (parser_fit, "a face parser: use it as a FaceMask's param 'parser'"),
            (enhancer_fit, "a face enhancer: use it in a FaceEnhancer"))
    for fit, use in uses:
        if fit is refused_by:
            continue
        try:
            fit(path, tensors, *([None] if fit is arcface_fit else []))
        except InvalidInput:
            continue
        return f". Its tensors are those of {use}"
    return ""


OCCLUDER_EXPECTED = "input input [N, S, S, 3] (NHWC, BGR 0..1); first output [N, S, S, 1] (1 where the face shows)"
PARSER_EXPECTED = ("input input [N, 3, S, S] (RGB, ImageNet mean and std); first output [N, 19, S, S] "
                   "(CelebAMask-HQ class scores)")
ENHANCER_EXPECTED = ("input input [N, 3, S, S] (RGB -1..1) and, for CodeFormer, weight [1] (its fidelity, "
                     "double); first output [N, 3, S, S] (RGB -1..1)")


def _square_side(tensor, channels_first: bool, channels: int | None) -> int | None:
    """S of a [N, C, S, S] (or [N, S, S, C]) tensor whose C is `channels` (None: any)."""
    dims = tensor_dims(tensor.shape)
    if len(dims) != 4:
        return None
    side, other, channel = (dims[2], dims[3], dims[1]) if channels_first else (dims[1], dims[2], dims[3])
    if side is None or side != other or (channels is not None and channel != channels):
        return None
    return side


def occluder_fit(path: Path, model) -> int:
    """The crop side S of an XSeg occluder (FaceFusion's xseg_1/2/3: 256)."""
    inputs, outputs = {t.name: t for t in model.get_inputs()}, model.get_outputs()
    image = inputs.get("input")
    size = _square_side(image, False, 3) if image is not None and len(inputs) == 1 else None
    if size is None or not outputs or not shape_fits(outputs[0].shape, [None, size, size, 1]):
        raise model_mismatch(path, "a face occluder (XSeg)", OCCLUDER_EXPECTED, model)
    return size


def parser_fit(path: Path, model) -> int:
    """The crop side S of a BiSeNet face parser (FaceFusion's bisenet_resnet_18/34: 512)."""
    inputs, outputs = {t.name: t for t in model.get_inputs()}, model.get_outputs()
    image = inputs.get("input")
    size = _square_side(image, True, 3) if image is not None and len(inputs) == 1 else None
    if size is None or not outputs or not shape_fits(outputs[0].shape, [None, 19, size, size]):
        raise model_mismatch(path, "a face parser (BiSeNet, 19 classes)", PARSER_EXPECTED, model)
    return size


def enhancer_fit(path: Path, model) -> tuple[int, bool]:
    """(crop side S, has a weight input) of a face enhancer: GFPGAN, GPEN-BFR and
    RestoreFormer++ take the crop only, CodeFormer its fidelity weight too."""
    inputs, outputs = {t.name: t for t in model.get_inputs()}, model.get_outputs()
    image, weight = inputs.get("input"), inputs.get("weight")
    size = _square_side(image, True, 3) if image is not None else None
    if (size is None or set(inputs) - {"input", "weight"}
            or (weight is not None and not shape_fits(weight.shape, [1]))
            or not outputs or not shape_fits(outputs[0].shape, [None, 3, size, size])):
        raise model_mismatch(path, "a face enhancer", ENHANCER_EXPECTED, model)
    return size, weight is not None
