"""The contracts of the models users own: DeepFaceLive's .dfm crop and tensors, inswapper's and ArcFace's
crops, value ranges and masks, and FaceMerger's DeepFaceLive params.

The stand-in models change their output in known ways (affine in the pixels, dependent on `source`,
looking only at the template's eye, nose and mouth pixels, distinct masks), so a wrong contract
changes the numbers. Reference numbers are literals from the sources, not the project's constants."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from swap_models import (
    OTHER_PORTRAIT,
    PORTRAIT,
    arcface_probe_model,
    dfm_model,
    inswapper_source_model,
    portrait_faces,
)

from nodes.align import FaceAligner
from nodes.face.align import arcface_template, five_points_from_landmarks, transform_points, umeyama
from nodes.face.blend import refine_mask
from nodes.face.landmarks_data import dfl_fit_indices, dfl_mean_face
from nodes.merge import FaceMerger, merge_mask
from nodes.onnx_models import last_initializer
from nodes.swap import DFMSwapper, InSwapper
from nodes.swap_common import crop_geometry

GOLDEN = json.loads((Path(__file__).parent / "data" / "dfl_crops.json").read_text())
PORTRAITS = {"astronaut.png": PORTRAIT, "grace_hopper.jpg": OTHER_PORTRAIT}
# InsightFace's arcface_dst (insightface/utils/face_align.py), the 112 px ArcFace template, and the same
# for inswapper's 128 px: estimate_norm shifts it 8 px right for sizes that are not multiples of 112.
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                        [70.7299, 92.2041]])
ARCFACE_128 = np.array([[46.2946, 51.6963], [81.5318, 51.5014], [64.0252, 71.7366], [49.5493, 92.3655],
                        [78.7299, 92.2041]])
# DeepFaceLive's uni_landmarks_468 (xlib/face/FLandmarks2D.py) at the nose tip, the outer eye corners,
# the mouth corners and the chin.
DFL_MEAN = {1: [0.49042386, 0.52723485], 33: [0.10015843, 0.22331452], 263: [0.8795338, 0.22195426],
            61: [0.28167963, 0.7884952], 291: [0.6999867, 0.7877651], 152: [0.49159575, 1.2484183]}
# The recogniser stand-in's probes: the ArcFace 112 template's points, rounded.
PROBES = [(38, 52), (74, 52), (56, 72), (42, 92), (71, 92)]


def landmark_error(landmarks, matrix, expected) -> float:
    """Mean distance, in crop px, between the 468 landmarks seen through two frame -> crop matrices."""
    points = np.asarray(landmarks)[:, :2]
    return float(np.linalg.norm(transform_points(points, matrix) - transform_points(points, expected), axis=1).mean())


def ramps(res: int) -> tuple[np.ndarray, np.ndarray]:
    """Two distinct masks: 0 at the top to 1 at the bottom, and 0 at the left to 1 at the right."""
    ramp = np.linspace(0.0, 1.0, res, dtype=np.float32)
    return np.repeat(ramp[:, None], res, axis=1), np.repeat(ramp[None, :], res, axis=0)


def dfm(tmp_path, name="face.dfm", **params):
    node = DFMSwapper("swap", {"model": str(tmp_path / name), **params})
    node.setup()
    return node


# -- templates ----------------------------------------------------------------------------------------

def test_templates_are_the_references_numbers():
    np.testing.assert_allclose(arcface_template(112), ARCFACE_112, atol=1e-9)
    np.testing.assert_allclose(arcface_template(128), ARCFACE_128, atol=1e-9)
    np.testing.assert_allclose(arcface_template(224), ARCFACE_112 * 2, atol=1e-9)
    mean = dfl_mean_face()
    assert mean.shape == (468, 2)
    for index, point in DFL_MEAN.items():
        np.testing.assert_allclose(mean[index], point, atol=2e-7)
    fitted = dfl_fit_indices()
    assert len(fitted) == 152 and 1 in fitted  # the nose tip is fitted
    assert not {0, 13, 14, 33, 61, 152, 159} & set(fitted)  # lips, eye corners, chin, eyelids move


# -- the .dfm crop -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PORTRAITS))
@pytest.mark.parametrize("mode", ["default", "head"])
def test_aligner_crop_is_deepfacelives(name, mode):
    frame, faces = portrait_faces(PORTRAITS[name])
    aligner = FaceAligner("align", {"head_mode": mode == "head"})
    aligner.setup()
    face = aligner.process(frame=frame, faces=faces[:1])["faces"][0]
    golden = np.array(GOLDEN["portraits"][name][mode])
    assert landmark_error(faces[0]["landmarks"], face["matrix"], golden) < 2.0


@pytest.mark.parametrize("name", sorted(PORTRAITS))
def test_dfm_without_an_aligner_cuts_deepfacelives_crop(tmp_path, name):
    dfm_model(tmp_path / "face.dfm")
    frame, faces = portrait_faces(PORTRAITS[name])
    node = dfm(tmp_path)
    golden = np.array(GOLDEN["portraits"][name]["default"])
    from_landmarks = node.process(frame=frame, faces=faces[:1])["faces"][0]["swap_matrix"]
    assert landmark_error(faces[0]["landmarks"], from_landmarks, golden) < 2.0
    keypoints_only = {k: v for k, v in faces[0].items() if k != "landmarks"}
    from_keypoints = node.process(frame=frame, faces=[keypoints_only])["faces"][0]["swap_matrix"]
    assert landmark_error(faces[0]["landmarks"], from_keypoints, golden) < 6.0  # 4 points instead of 152


def test_a_256_aligner_at_coverage_3_before_a_224_model_is_resized_not_recut(tmp_path):
    face_mask, celeb_mask = ramps(224)
    dfm_model(tmp_path / "face.dfm", gain=(0.5, 0.5, 0.5), bias=(0.25, 0.25, 0.25), face_mask=face_mask,
              celeb_mask=celeb_mask)
    frame, faces = portrait_faces()
    aligner = FaceAligner("align", {"resolution": 256, "coverage": 3.0, "offset_y": 0.1})
    aligner.setup()
    aligned = aligner.process(frame=frame, faces=faces)["faces"][0]
    face = dfm(tmp_path).process(frame=frame, faces=[aligned])["faces"][0]
    np.testing.assert_array_equal(face["swap_matrix"], aligned["matrix"])  # the user's crop, kept
    assert face["swap"].shape == (256, 256, 3) and face["swap_mask"].shape == (256, 256)
    # DeepFaceLive's DFMModel.convert: the crop resized to the model's size, run, resized back
    model_in = cv2.resize(aligned["crop"], (224, 224), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    expected = cv2.resize(model_in * 0.5 + 0.25, (256, 256), interpolation=cv2.INTER_LINEAR) * 255
    assert np.abs(face["swap"] - expected).max() <= 1.0
    expected_mask = (cv2.resize(face_mask, (256, 256), interpolation=cv2.INTER_LINEAR)
                     * cv2.resize(celeb_mask, (256, 256), interpolation=cv2.INTER_LINEAR))
    np.testing.assert_allclose(face["swap_mask"], expected_mask, atol=1e-5)


# -- .dfm tensors: range, masks, presharpen ----------------------------------------------------------------

def test_dfm_range_and_masks_which_is_which_and_which_way_up(tmp_path):
    face_mask, celeb_mask = ramps(224)
    dfm_model(tmp_path / "amp.dfm", gain=(0.5, 0.5, 0.5), bias=(0.25, 0.25, 0.25), morph=True,
              face_mask=face_mask, celeb_mask=celeb_mask)
    frame, faces = portrait_faces()
    face = dfm(tmp_path, "amp.dfm", morph_factor=0.5).process(frame=frame, faces=faces)["faces"][0]
    driver = crop_geometry(frame, face["swap_matrix"], 224).astype(np.float32)
    assert np.abs(face["swap"] - (0.5 * driver + 0.25 * 255)).max() <= 1.0  # BGR 0..1 in and out
    mask = face["swap_mask"]
    np.testing.assert_allclose(mask, face_mask * celeb_mask * 0.5, atol=1e-6)
    assert mask[0, -1] == 0 and mask[-1, 0] == 0 and mask[-1, -1] == pytest.approx(0.5)  # top and left are 0
    # FaceMerger's default mask is DeepFaceLive's: the model's masks only, no landmark hull
    default = FaceMerger.params["mask"].default
    np.testing.assert_array_equal(merge_mask(face, default), mask)


def test_presharpen_is_deepfacelives_gaussian_sharpen_at_sigma_1(tmp_path):
    dfm_model(tmp_path / "big.dfm", res=320)
    frame, faces = portrait_faces()
    face = dfm(tmp_path, "big.dfm", presharpen=2.0).process(frame=frame, faces=faces)["faces"][0]
    driver = crop_geometry(frame, face["swap_matrix"], 320).astype(np.float32) / 255
    blurred = cv2.GaussianBlur(driver, (0, 0), 1.0)
    expected = np.clip(driver * 3.0 - blurred * 2.0, 0.0, 1.0) * 255
    assert np.abs(face["swap"] - expected).max() <= 1.0


# -- inswapper and its recogniser -----------------------------------------------------------------------

def expected_latent(weights, bias, emap) -> np.ndarray:
    """The identity latent of PORTRAIT worked out here: its ArcFace crop from the literal template, the
    probe recogniser's features, the emap, the L2 norm."""
    portrait, faces = portrait_faces()
    matrix = umeyama(five_points_from_landmarks(faces[0]["landmarks"]), ARCFACE_112)[:2]
    crop = cv2.warpAffine(portrait, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    rgb = (crop[..., ::-1].astype(np.float64) - 127.5) / 127.5
    features = np.concatenate([rgb[y - 3:y + 3, x - 3:x + 3].mean(axis=(0, 1)) for x, y in PROBES])
    latent = (features @ weights + bias) @ emap
    return latent / np.linalg.norm(latent)


@pytest.mark.parametrize("normalise_inside", [False, True])
def test_inswapper_sees_the_right_crops_ranges_and_source(tmp_path, normalise_inside):
    recogniser, weights, bias = arcface_probe_model(tmp_path / "probe.onnx", PROBES,
                                                    normalise_inside=normalise_inside)
    colour = np.random.default_rng(5).normal(size=(512, 3)).astype(np.float32) * 0.2
    swapper = inswapper_source_model(tmp_path / "swapper.onnx", colour)
    node = InSwapper("swap", {"identity": str(PORTRAIT), "model": str(swapper), "recogniser": str(recogniser)})
    node.setup()
    latent = expected_latent(weights, bias, last_initializer(swapper))
    np.testing.assert_allclose(node.latent[0], latent, atol=2e-4)

    frame, faces = portrait_faces(OTHER_PORTRAIT)
    face = node.process(frame=frame, faces=faces[:1])["faces"][0]
    matrix = umeyama(five_points_from_landmarks(faces[0]["landmarks"]), ARCFACE_128)[:2]
    np.testing.assert_allclose(face["swap_matrix"], matrix, atol=1e-3)
    crop = cv2.warpAffine(frame, matrix, (128, 128), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    rgb = crop[..., ::-1].astype(np.float64) / 255
    expected_rgb = np.clip(0.5 * rgb + 0.25 + latent @ colour, 0.0, 1.0)  # RGB 0..1 in, and `source` adds
    assert np.abs(face["swap"] - expected_rgb[..., ::-1] * 255).max() <= 1.5


# -- FaceMerger ------------------------------------------------------------------------------------------

def test_merger_defaults_and_erode_blur_are_deepfacelives():
    params = FaceMerger.params
    assert (params["erode"].default, params["blur"].default, params["mask"].default) == (5, 25, "swap")
    square = np.zeros((224, 224), np.float32)
    square[62:162, 62:162] = 1.0

    def box(mask):
        ys, xs = np.nonzero(mask > 0)
        return ys.min(), ys.max(), xs.min(), xs.max()

    assert box(refine_mask(square, 5, 0)) == (64, 159, 64, 159)  # 5 // 2 = 2 passes of a 3 x 3 cross
    assert box(refine_mask(square, -5, 0)) == (60, 163, 60, 163)
    assert box(refine_mask(square, 1, 0)) == (63, 160, 63, 160)  # at least one pass
    cleared = np.ones((224, 224), np.float32)
    # sigma 25 / 4; cleared within 3 sigma of the border (DeepFaceLive: 25 // 2 px, which leaves an edge)
    cleared[:19], cleared[-19:], cleared[:, :19], cleared[:, -19:] = 0, 0, 0, 0
    expected = cv2.GaussianBlur(cleared, (0, 0), 25 * 0.25, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(refine_mask(np.ones((224, 224), np.float32), 0, 25), expected, atol=1e-6)
