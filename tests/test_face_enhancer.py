"""FaceEnhancer's contract with FaceFusion's face enhancers (GFPGAN 1.4, CodeFormer, GPEN-BFR 256 and 512,
RestoreFormer++), tested through stand-in models with exactly their tensors: the crop (template and size),
the value range and channel order, CodeFormer's fidelity input, the blend and the mask it pastes under.
Templates are literals from FaceFusion's face_helper.py."""

import cv2
import numpy as np
import pytest
from mask_models import enhancer_model, occluder_model
from swap_models import portrait_faces

from nodegraph.errors import InvalidInput
from nodes.enhance import FaceEnhancer, model_template
from nodes.face.align import five_points_from_landmarks, umeyama
from nodes.face_mask import FaceMask

FFHQ_512 = np.array([[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
                     [0.39308822, 0.72541100], [0.61150205, 0.72490465]])
ARCFACE_128 = np.array([[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
                        [0.38710391, 0.72160547], [0.61507734, 0.72034453]])
GAIN = np.array([1.0, 0.5, 0.25])  # the stand-in's per-channel gain, R G B


def enhancer(path, **params):
    node = FaceEnhancer("enhance", {"model": str(path), **params})
    node.setup()
    return node


def expected_restore(crop, weight=None):
    """The stand-in's answer worked out here: RGB in -1..1, times the gain (and 1 - weight), back to BGR."""
    rgb = crop[..., ::-1].astype(np.float64) / 127.5 - 1.0
    out = np.clip(rgb * GAIN * (1.0 if weight is None else 1.0 - weight), -1, 1)
    return np.round((out + 1) * 127.5)[..., ::-1]


@pytest.mark.parametrize(("size", "template", "literal"),
                         [(512, "ffhq_512", FFHQ_512), (256, "arcface_128", ARCFACE_128)])
def test_the_crop_its_range_and_the_paste(tmp_path, size, template, literal):
    node = enhancer(enhancer_model(tmp_path / "e.onnx", size=size), template=template, blend=1.0)
    frame, faces = portrait_faces()
    matrix = umeyama(five_points_from_landmarks(faces[0]["landmarks"]), literal * size)[:2]
    crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(node.restore(crop), expected_restore(crop), atol=1)
    out = node.process(frame=frame, faces=faces[:1])["frame"]
    seen = cv2.warpAffine(out, matrix, (size, size), flags=cv2.INTER_LINEAR).astype(np.float64)
    middle = slice(size // 4, 3 * size // 4)
    assert np.abs(seen[middle, middle] - expected_restore(crop)[middle, middle]).mean() < 4.0
    assert np.array_equal(out[-100:], frame[-100:])  # far from the face: the frame's own bytes
    half = enhancer(tmp_path / "e.onnx", template=template, blend=0.5).process(frame=frame, faces=faces[:1])["frame"]
    x, y = np.round(faces[0]["landmarks"][1, :2]).astype(int)  # the nose tip: the box mask is 1 there
    np.testing.assert_allclose(half[y, x], (frame[y, x].astype(float) + out[y, x]) / 2, atol=1.5)


def test_codeformer_gets_its_fidelity_as_a_double(tmp_path):
    node = enhancer(enhancer_model(tmp_path / "codeformer_standin.onnx", weight=True), weight=0.25)
    assert node.has_weight and node.weight_dtype == np.float64
    crop = cv2.resize(portrait_faces()[0], (512, 512))
    np.testing.assert_allclose(node.restore(crop), expected_restore(crop, weight=0.25), atol=1)
    node.set_param("weight", 1.0)
    np.testing.assert_allclose(node.restore(crop), 127.0 + 0 * crop, atol=1)  # 0 in -1..1 is grey
    session = node.session
    assert node.crop_template == "ffhq_512"  # a file in no catalogue entry: FaceFusion's enhancer default
    node.set_param("template", "arcface_128")
    assert node.crop_template == "arcface_128" and node.session is session  # re-cut, not reloaded


def test_the_catalogue_says_each_models_template():
    assert model_template("gpen_bfr_256", None) == "arcface_128"
    for name in ("gfpgan_1.4", "codeformer", "gpen_bfr_512", "restoreformer_plus_plus"):
        assert model_template(name, None) == "ffhq_512"


def test_a_facemask_keeps_the_enhancer_off_what_it_cuts_out(tmp_path):
    frame, faces = portrait_faces()
    mask_node = FaceMask("mask", {"landmark_regions": "face, -eyes"})
    mask_node.setup()
    mask = mask_node.process(frame=frame, faces=faces)["mask"]
    out = enhancer(enhancer_model(tmp_path / "e.onnx"), blend=1.0).process(frame=frame, faces=faces, mask=mask)["frame"]
    near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    changed = np.any(out != frame, axis=2)
    assert changed.any() and not changed[~near].any()


def test_a_wrong_model_fails_at_validate_and_setup_naming_the_tensors(tmp_path):
    wrong = occluder_model(tmp_path / "xseg.onnx")
    problems = FaceEnhancer.check({**FaceEnhancer("e").values, "model": str(wrong)}, tmp_path)
    assert len(problems) == 1 and problems[0].param == "model"
    assert "not a face enhancer" in problems[0].message and "Expected input input [N, 3, S, S]" in problems[0].message
    assert "Found inputs: input [1, 256, 256, 3]" in problems[0].message
    renamed = enhancer_model(tmp_path / "renamed.onnx", input_name="image")
    with pytest.raises(InvalidInput, match=r"not a face enhancer.*Found inputs: image \[1, 3, 512, 512\]"):
        enhancer(renamed)


def test_the_paste_back_graphs_follow_the_nodes_provider(tmp_path):
    node = enhancer(enhancer_model(tmp_path / "e.onnx"), provider="cpu", image_work="onnxruntime")
    assert node._graphs.provider == "cpu"  # provider cpu keeps the paste-back off a GPU too
    frame, faces = portrait_faces()
    assert node.process(frame=frame, faces=faces)["frame"].shape == frame.shape
    node.set_param("provider", "auto")
    assert node._graphs.provider == "auto" and node.process(frame=frame, faces=faces)["frame"].shape == frame.shape
