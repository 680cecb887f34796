"""FaceMask's contracts with FaceFusion's occluder (XSeg) and face parser (BiSeNet), tested through stand-in
models with exactly their tensors; its landmark regions on the demo portrait's real FaceMesh landmarks;
how the sources combine; the merger taking the mask; and the bad inputs. Reference numbers (the template,
the normalisation, the softening) are literals from FaceFusion's face_masker.py and face_helper.py."""

import json

import cv2
import numpy as np
import pytest
from clips import read_frames
from conftest import REPO, run_cli
from mask_models import enhancer_model, occluder_model, parser_model
from swap_models import portrait_faces

from nodegraph.errors import InvalidInput, ProblemError
from nodes.face.align import five_points_from_landmarks, umeyama
from nodes.face.blazeface import BlazeFace
from nodes.face.crop_masks import frame_mask_in_crop
from nodes.face.facemesh import FaceMesh
from nodes.face_mask import FaceMask
from nodes.merge import FaceMerger

# FaceFusion's arcface_128 warp template (fractions of the crop's side) and the ImageNet statistics its
# face parser normalises with.
ARCFACE_128 = np.array([[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
                        [0.38710391, 0.72160547], [0.61507734, 0.72034453]])
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def facefusion_soften(mask):
    return (np.clip(cv2.GaussianBlur(np.clip(mask, 0, 1).astype(np.float32), (0, 0), 5), 0.5, 1) - 0.5) * 2


def crop_of(frame, face, size):
    matrix = umeyama(five_points_from_landmarks(face["landmarks"]), ARCFACE_128 * size)[:2]
    crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


def run_mask(frame, faces, **params):
    node = FaceMask("mask", {"landmark_regions": "", **params})
    node.setup()
    return node.process(frame=frame, faces=faces)["mask"]


def inner(a):
    return a[24:-24, 24:-24]  # away from the crop's edge, where the round trip through the frame resamples


def test_occluder_sees_the_crop_bgr_0_to_1_nhwc_and_its_mask_lands_on_the_face(tmp_path):
    frame, faces = portrait_faces()
    mask = run_mask(frame, faces, occluder=str(occluder_model(tmp_path / "xseg.onnx")))
    assert mask.shape == frame.shape[:2] and mask.dtype == np.float32
    crop, matrix = crop_of(frame, faces[0], 256)
    expected = facefusion_soften(crop[..., 2].astype(np.float32) / 255)  # channel 2 of BGR: red, 0..1
    seen = frame_mask_in_crop(mask, matrix, 256)
    assert np.abs(inner(seen) - inner(expected)).mean() < 0.02
    outside = np.ones(frame.shape[:2], bool)
    x0, y0, x1, y1 = faces[0]["box"].astype(int)
    outside[max(0, y0 - 150):y1 + 150, max(0, x0 - 150):x1 + 150] = False
    assert mask[outside].max() == 0.0  # nothing away from the face


def test_parser_sees_the_crop_rgb_imagenet_normalised_and_keeps_the_chosen_classes(tmp_path):
    scores = np.zeros((19, 3))  # every other class scores 0, and one of these two is >= 0
    scores[1] = [1.0, 0.0, -1.0]  # skin: normalised R above normalised B
    scores[17] = [-1.0, 0.0, 1.0]  # hair: the other way
    model = parser_model(tmp_path / "bisenet.onnx", scores)
    frame, faces = portrait_faces()
    crop, matrix = crop_of(frame, faces[0], 512)
    rgb = (crop[..., ::-1] / 255.0 - MEAN) / STD
    skin = (rgb[..., 0] > rgb[..., 2]).astype(np.float32)
    expected = facefusion_soften(cv2.resize(skin, (256, 256)))
    _, matrix256 = crop_of(frame, faces[0], 256)
    for regions, want in (("skin", expected), ("hair", facefusion_soften(cv2.resize(1 - skin, (256, 256))))):
        seen = frame_mask_in_crop(run_mask(frame, faces, parser=str(model), parser_regions=regions), matrix256, 256)
        assert np.abs(inner(seen) - inner(want)).mean() < 0.03, regions
    both = frame_mask_in_crop(run_mask(frame, faces, parser=str(model), parser_regions="skin hair"), matrix256, 256)
    assert inner(both).min() > 0.99  # every pixel is one or the other


def test_landmark_regions_fall_on_the_portraits_face():
    frame, faces = portrait_faces()
    landmarks = faces[0]["landmarks"][:, :2]

    def at(mask, index):
        x, y = np.round(landmarks[index]).astype(int)
        return mask[y, x]

    face = run_mask(frame, faces, landmark_regions="face")
    nose_tip, chin, brow_middle = 1, 152, 9
    assert at(face, nose_tip) > 0.95 and at(face, brow_middle) > 0.95
    x0, y0, x1, y1 = faces[0]["box"].astype(int)
    assert face[: max(0, y0 - 40)].max() == 0.0  # above the forehead
    upper = run_mask(frame, faces, landmark_regions="upper-face")
    lower = run_mask(frame, faces, landmark_regions="lower-face")
    assert at(upper, brow_middle) > 0.95 and at(upper, chin) < 0.05
    assert at(lower, 14) > 0.95 and at(lower, brow_middle) < 0.05  # 14: the lower lip's middle
    eyes_cut = run_mask(frame, faces, landmark_regions="face, -eyes")
    eye = np.round(landmarks[[33, 133]].mean(axis=0)).astype(int)  # between the right eye's corners
    assert eyes_cut[eye[1], eye[0]] < 0.05 and at(eyes_cut, nose_tip) > 0.95


def test_sources_combine_by_intersection_or_union(tmp_path):
    frame, faces = portrait_faces()
    nothing = str(occluder_model(tmp_path / "blind.onnx", channel_weights=(0.0, 0.0, 0.0)))  # says: all covered
    face = run_mask(frame, faces, landmark_regions="face")
    assert run_mask(frame, faces, occluder=nothing, landmark_regions="face").max() == 0.0
    union = run_mask(frame, faces, occluder=nothing, landmark_regions="face", combine="union")
    np.testing.assert_allclose(union, face, atol=1e-6)


def test_merger_pastes_the_swap_only_where_the_mask_lets_it():
    frame, faces = portrait_faces()
    face = faces[0]
    swap = np.zeros((128, 128, 3), np.uint8)  # a black swap, so where it shows is plain
    matrix = umeyama(five_points_from_landmarks(face["landmarks"]), ARCFACE_128 * 128)[:2].astype(np.float32)
    swapped = {**face, "swap": swap, "swap_matrix": matrix, "swap_mask": np.ones((128, 128), np.float32)}
    merger = FaceMerger("merge", {"erode": 0, "blur": 0})
    plain = merger.process(frame=frame, faces=[swapped])["frame"]
    mask = run_mask(frame, faces, landmark_regions="face, -eyes")
    masked = merger.process(frame=frame, faces=[swapped], mask=mask)["frame"]
    changed = np.any(masked != frame, axis=2)
    near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # resampling's reach
    assert changed.any() and not changed[~near].any()  # away from the mask: the frame's own bytes
    nose = np.round(face["landmarks"][1, :2]).astype(int)
    assert masked[nose[1], nose[0]].max() < 8 and plain[nose[1], nose[0]].max() < 8  # the swap shows
    eye = np.round(face["landmarks"][[33, 133], :2].mean(axis=0)).astype(int)
    np.testing.assert_array_equal(masked[eye[1], eye[0]], frame[eye[1], eye[0]])  # the driver's eye stays
    with pytest.raises(ValueError, match="input 'mask'"):
        merger.process(frame=frame, faces=[swapped], mask=mask[:-1])


def test_a_face_without_landmarks_is_not_limited_by_landmark_regions(caplog):
    frame, faces = portrait_faces()
    keypoints_only = [{k: v for k, v in faces[0].items() if k != "landmarks"}]
    node = FaceMask("mask")
    node.setup()
    mask = node.process(frame=frame, faces=keypoints_only)["mask"]
    x, y = np.round(faces[0]["landmarks"][1, :2]).astype(int)
    assert mask[y, x] == pytest.approx(1.0) and mask[0, 0] == 0.0  # ones over its crop, nothing elsewhere
    assert "has no FaceMesh landmarks" in caplog.text and "put a FaceMarker before this node" in caplog.text


# -- bad inputs -------------------------------------------------------------------------------------------

def test_unknown_region_names_are_refused_with_the_known_ones():
    with pytest.raises(ProblemError, match=r"parser_regions.*unknown region 'beard'.*skin, left-eyebrow"):
        FaceMask("m", {"parser_regions": "skin, beard"})
    with pytest.raises(ProblemError, match=r"landmark_regions.*unknown region '-ears'.*put - before"):
        FaceMask("m", {"landmark_regions": "face, -ears"})
    assert FaceMask("m", {"landmark_regions": " Face,-EYES "}).landmark_regions == "face, -eyes"
    with pytest.raises(ProblemError, match=r"landmark_regions.*only cuts regions out of nothing.*'face, -mouth'"):
        FaceMask("m", {"landmark_regions": "-mouth, -eyes"})


def test_no_source_and_wrong_models_fail_at_validate_and_setup_naming_the_tensors(tmp_path):
    problems = FaceMask.check({**FaceMask("m").values, "landmark_regions": ""}, tmp_path)
    assert any("no mask source is on" in p.message for p in problems)
    enhancer = str(enhancer_model(tmp_path / "gfpgan.onnx"))
    occluder = str(occluder_model(tmp_path / "xseg.onnx"))
    params = {**FaceMask("m").values, "occluder": enhancer, "parser": occluder}
    problems = {p.param: p.message for p in FaceMask.check(params, tmp_path)}
    assert "not a face occluder (XSeg)" in problems["occluder"]
    assert "Expected input input [N, S, S, 3]" in problems["occluder"]
    assert "Found inputs: input [1, 3, 512, 512]" in problems["occluder"]
    assert "not a face parser" in problems["parser"] and "Found inputs: input [1, 256, 256, 3]" in problems["parser"]
    with pytest.raises(InvalidInput, match=r"not a face occluder.*Found inputs: input \[1, 3, 512, 512\]"):
        FaceMask("m", {"occluder": enhancer}).setup()


def test_a_preset_without_its_models_exits_2_naming_the_fetch_commands(tmp_path):
    preset = {"format": "nodegraph-preset", "version": 1, "name": "masks", "nodes": [
        {"id": "source", "type": "TestPattern", "params": {}},
        {"id": "detector", "type": "FaceDetector", "params": {}},
        {"id": "mask", "type": "FaceMask", "params": {"occluder": "xseg_1", "parser": "bisenet_resnet_34"}},
        {"id": "enhancer", "type": "FaceEnhancer", "params": {}},
        {"id": "output", "type": "NullOutput", "params": {}}],
        "links": [{"from": "source.frame", "to": "detector.frame"}, {"from": "source.frame", "to": "mask.frame"},
                  {"from": "detector.faces", "to": "mask.faces"}, {"from": "source.frame", "to": "enhancer.frame"},
                  {"from": "detector.faces", "to": "enhancer.faces"}, {"from": "mask.mask", "to": "enhancer.mask"},
                  {"from": "enhancer.frame", "to": "output.frame"}]}
    path = tmp_path / "masks.json"
    path.write_text(json.dumps(preset))
    empty = tmp_path / "models"
    empty.mkdir()
    result = run_cli("validate", path, env={"NODEGRAPH_USER_MODELS": str(empty)})
    assert result.returncode == 2, result.stdout + result.stderr
    said = result.stdout + result.stderr
    for name in ("xseg_1", "bisenet_resnet_34", "gfpgan_1.4"):
        assert f"nodegraph models fetch {name}" in said, said


def test_the_mask_crosses_processes_and_the_driver_s_eyes_stay(tmp_path):
    """video_swap.json with a FaceMask cutting the eyes out, run by the real command in processes and in
    one process: the same pictures, and at the driver's eyes the driver's own pixels."""
    data = json.loads((REPO / "presets" / "video_swap.json").read_text())
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "output"] + [
        {"id": "facemask", "type": "FaceMask", "params": {"landmark_regions": "face, -eyes"}},
        {"id": "output", "type": "ImageSequenceOutput", "params": {"path": "out"}}]
    data["links"] = [link for link in data["links"] if link["to"] != "output.frame"] + [
        {"from": "source.frame", "to": "facemask.frame"}, {"from": "marker.faces", "to": "facemask.faces"},
        {"from": "facemask.mask", "to": "merger.mask"}, {"from": "merger.frame", "to": "output.frame"}]
    for node in data["nodes"]:
        for key in ("path", "identity"):
            if node["params"].get(key, "").startswith("media/"):
                node["params"][key] = str(REPO / "presets" / node["params"][key])
    path = tmp_path / "masked.json"
    path.write_text(json.dumps(data))
    for engine, folder in (([], "multi"), (["--sequential"], "one")):
        result = run_cli("run", path, "--frames", "6", "--no-progress", "--set", f"output.path={tmp_path / folder}",
                         *engine, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "multi").iterdir())
    assert len(names) == 6 and names == sorted(p.name for p in (tmp_path / "one").iterdir())
    for name in names:
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "multi" / name)),
                                      cv2.imread(str(tmp_path / "one" / name)))
    driver = read_frames(REPO / "presets" / "media" / "demo.mp4")[5]
    out = cv2.imread(str(tmp_path / "multi" / names[-1]))
    detection = BlazeFace().detect(driver)[0]
    landmarks, _ = FaceMesh().landmarks(driver, detection["box"], detection["keypoints"])
    eye = np.round(landmarks[[33, 133], :2].mean(axis=0)).astype(int)
    np.testing.assert_array_equal(out[eye[1], eye[0]], driver[eye[1], eye[0]])  # the driver's eye
    nose = np.round(landmarks[1, :2]).astype(int)
    assert np.abs(out[nose[1], nose[0]].astype(int) - driver[nose[1], nose[0]]).max() > 0  # swapped there


def test_the_preview_shows_the_face_crop_dimmed_outside_its_mask():
    frame, faces = portrait_faces()
    node = FaceMask("mask", {"landmark_regions": "face, -eyes"})
    node.setup()
    assert node.preview({}) is None  # nothing ran yet
    node.process(frame=frame, faces=faces)
    picture = node.preview({})
    crop, dimmed = np.hsplit(picture, 2)  # one row: the crop | the crop under its mask
    assert crop.shape == dimmed.shape and crop.std() > 20  # the face, not a blank tile
    side = crop.shape[0]
    nose = (slice(int(0.5 * side), int(0.65 * side)), slice(int(0.4 * side), int(0.6 * side)))
    assert np.abs(crop[nose].astype(int) - dimmed[nose]).mean() < 3  # inside the mask: kept
    assert dimmed[:8].mean() < 0.5 * crop[:8].mean()  # the crop's top edge is outside the face: dimmed
