"""UniFaceSwapper and BlendSwapper on a real portrait, with small ONNX stand-ins that have exactly the tensor
names and shapes FaceFusion feeds uniface_256 (source [1, 3, 256, 256]) and blendswap_256 (source
[1, 3, 112, 112]), both with target [1, 3, 256, 256] and a first output [1, 3, 256, 256]
(nodes/standin_swappers.py). The real weights cannot be had here; none was run."""

import cv2
import numpy as np
import pytest
from swap_models import OTHER_PORTRAIT, PORTRAIT, portrait_faces
from test_swap_adapters import assert_reproduces, run_swap_graph

from nodegraph.errors import InvalidInput
from nodes.face.align import five_points_from_landmarks, umeyama
from nodes.face.warp_templates import template_points
from nodes.portrait_swap import BlendSwapper, UniFaceSwapper
from nodes.standin_swappers import converted_swapper_model, portrait_crop_swapper_model
from nodes.swap_common import crop_geometry

# node, the portrait crop's template and size, the driver crop's (mean, std) per channel
FAMILIES = [(UniFaceSwapper, "ffhq_512", 256, 0.5), (BlendSwapper, "arcface_112_v2", 112, 0.0)]


def set_up(node_type, model, **changes):
    node = node_type("swap", {"identity": str(PORTRAIT), "model": str(model), **changes})
    node.setup()
    return node


def facefusion_source_crop(path, template, size):
    """The portrait's crop as FaceFusion's prepare_source_frame cuts it: its five points fitted by
    cv2.estimateAffinePartial2D (RANSAC, 100 px) to the template, warped with its flags, RGB 0..1."""
    image, faces = portrait_faces(path)
    five = five_points_from_landmarks(faces[0]["landmarks"])
    matrix = cv2.estimateAffinePartial2D(five, template_points(template, size), method=cv2.RANSAC,
                                         ransacReprojThreshold=100)[0]
    crop = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_AREA)
    return crop[:, :, ::-1].transpose(2, 0, 1)[None] / 255.0


@pytest.mark.parametrize(("node_type", "template", "size", "mean"), FAMILIES)
def test_the_portraits_crop_is_the_source_and_the_driver_crop_goes_through_ffhq_512(tmp_path, node_type, template,
                                                                                     size, mean):
    node = set_up(node_type, portrait_crop_swapper_model(tmp_path / "swapper.onnx", size))
    assert node.source.shape == (1, 3, size, size) and node.source.dtype == np.float32
    assert np.abs(node.source - facefusion_source_crop(PORTRAIT, template, size)).mean() < 1e-4
    frame, faces = portrait_faces()
    face = node.process(frame=frame, faces=faces)["faces"][0]
    five = five_points_from_landmarks(faces[0]["landmarks"])
    np.testing.assert_allclose(face["swap_matrix"], umeyama(five, template_points("ffhq_512", 256))[:2],
                               rtol=1e-5, atol=1e-3)
    crop = crop_geometry(frame, face["swap_matrix"], 256)
    # the stand-in gives back its input: only the family's normalisation in and out reproduces the crop
    assert np.abs(face["swap"].astype(int) - crop).max() <= 1
    node.set_param("identity", str(OTHER_PORTRAIT))  # a live edit cuts the new portrait
    assert np.abs(node.source - facefusion_source_crop(OTHER_PORTRAIT, template, size)).mean() < 1e-4


@pytest.mark.parametrize(("node_type", "template", "size", "mean"), FAMILIES)
def test_the_swap_is_pasted_back_where_the_face_is(tmp_path, node_type, template, size, mean):
    merger = {"mask": "swap", "erode": 0, "blur": 0}
    same = portrait_crop_swapper_model(tmp_path / "same.onnx", size)
    merged, runner = run_swap_graph(tmp_path / "same", node_type.__name__,
                                    {"identity": str(PORTRAIT), "model": str(same), "mask": "hull"}, merger)
    frame, faces = portrait_faces()
    assert_reproduces(merged, frame, faces[0])
    assert runner.preview("swap").shape == (128, 384, 3)
    # a stand-in that adds the portrait crop's mean colour: the face takes exactly that tint
    tinted = portrait_crop_swapper_model(tmp_path / "tinted.onnx", size, gain=0.25)
    node = set_up(node_type, tinted)
    face = node.process(frame=frame, faces=faces)["faces"][0]
    out_scale = 0.5 if mean else 1.0  # UniFace's output is de-normalised from -1..1
    tint_rgb = 0.25 * node.source[0].mean(axis=(1, 2)) * out_scale * 255
    crop = crop_geometry(frame, face["swap_matrix"], 256).astype(np.float32)
    unclipped = (crop + tint_rgb[::-1]).max(axis=2) < 250
    rise = (face["swap"].astype(np.float32) - crop)[unclipped].mean(axis=0)
    np.testing.assert_allclose(rise, tint_rgb[::-1], atol=1.0)
    merged, _ = run_swap_graph(tmp_path / "tinted", node_type.__name__,
                               {"identity": str(PORTRAIT), "model": str(tinted), "mask": "hull"}, merger)
    diff = merged.astype(np.int16) - frame.astype(np.int16)
    assert diff[np.abs(diff).max(axis=2) > 0].mean() > 5  # the face changed ...
    assert np.abs(diff[:20]).max() == 0 and np.abs(diff[-20:]).max() == 0  # ... and nothing far from it


def test_wrong_files_and_boosts_are_refused_at_check_and_setup_naming_node_param_expected_and_found(tmp_path):
    uniface = portrait_crop_swapper_model(tmp_path / "uniface.onnx", 256)
    blendswap = portrait_crop_swapper_model(tmp_path / "blendswap.onnx", 112)
    ghost = converted_swapper_model(tmp_path / "ghost.onnx")
    cases = [
        (UniFaceSwapper, {"model": blendswap}, "model", "not a UniFace model",
         "Found inputs: source [1, 3, 112, 112], target [1, 3, 256, 256]",
         ". Its tensors are those of a BlendSwap model: use it in a BlendSwapper"),
        (BlendSwapper, {"model": uniface}, "model", "not a BlendSwap model",
         "Found inputs: source [1, 3, 256, 256], target [1, 3, 256, 256]",
         ". Its tensors are those of a UniFace model: use it in a UniFaceSwapper"),
        (BlendSwapper, {"model": ghost}, "model", "not a BlendSwap model", "Found inputs: source [1, 512]",
         "use it in the SimSwapper or GhostSwapper its name says"),
        (UniFaceSwapper, {"model": uniface, "pixel_boost": "384"}, "pixel_boost",
         "pixel_boost 384 is not a multiple of the model's 256 px", "native, 256, 512, 768, 1024"),
        # FaceFusion lists 384 for blendswap_256, whose only size is 256, and cannot run it (docs/models.md)
        (BlendSwapper, {"model": blendswap, "pixel_boost": "384"}, "pixel_boost",
         "pixel_boost 384 is not a multiple of the model's 256 px", "native, 256, 512, 768, 1024"),
    ]
    for node_type, changes, param, expected, found, *advice in cases:
        full = node_type("swap", {"identity": str(PORTRAIT), **{k: str(v) for k, v in changes.items()}})
        problems = [p for p in node_type.check(full.values, tmp_path) if p.param == param]
        assert len(problems) == 1 and expected in problems[0].message and found in problems[0].message, problems
        assert not advice or problems[0].message.endswith(advice[0]), problems
        with pytest.raises(InvalidInput) as error:
            set_up(node_type, changes.pop("model"), **{k: str(v) for k, v in changes.items()})
        said = str(error.value)
        assert f"node 'swap' ({node_type.__name__})" in said and f"param '{param}'" in said, said
        assert expected in said and found in said, said


def test_a_portrait_without_a_face_is_refused_naming_node_param_and_file(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(InvalidInput, match=r"node 'swap' \(UniFaceSwapper\), param 'identity': .*wall\.png: no "
                                           "face found in this picture"):
        UniFaceSwapper("swap", {"identity": str(blank), "model": str(portrait_crop_swapper_model(
            tmp_path / "uniface.onnx", 256))}).setup()


def test_catalogue_lists_uniface_and_blendswap_and_fetches_them_only_when_told(tmp_path, monkeypatch):
    from nodegraph import modelhub

    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path))
    entries = modelhub.load_manifest().entries
    for name in ("uniface_256", "blendswap_256"):
        entry = entries[name]
        assert not entry.builtin and entry.file == f"{name}.onnx" and entry.sha256 is None
        assert entry.url == f"https://github.com/facefusion/facefusion-assets/releases/download/models-3.0.0/{name}.onnx"
        assert "needs" not in entry.record  # no recogniser: the portrait's crop is the identity
        with pytest.raises(modelhub.ModelError, match="no sha256 for it.*--allow-unverified"):
            modelhub.fetch(name)
    assert not list(tmp_path.iterdir())
