"""Similarity fits, templates, aligned crops and the FaceMesh data files."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from nodegraph.errors import InvalidInput
from nodes.face import landmarks_data as lm
from nodes.face.align import (
    ARCFACE_TEMPLATE_112,
    align_5pt,
    align_face,
    arcface_template,
    five_points_from_keypoints,
    five_points_from_landmarks,
    hull_mask_in_crop,
    transform_points,
    umeyama,
)
from nodes.face.blazeface import BlazeFace
from nodes.face.facemesh import FaceMesh

MEDIA = Path(__file__).resolve().parents[1] / "presets" / "media"


@pytest.fixture(scope="module")
def chain():
    return BlazeFace(model="full"), FaceMesh()


@pytest.fixture(scope="module")
def astronaut():
    return cv2.imread(str(MEDIA / "astronaut.png"))


def landmarks_of(chain, image):
    detector, mesh = chain
    faces = detector.detect(image)
    assert len(faces) == 1
    points, presence = mesh.landmarks(image, faces[0]["box"], faces[0]["keypoints"])
    assert presence > 0.9
    return faces[0], points


def eye_centres(points):
    return (
        points[list(lm.RIGHT_EYE_CONTOUR), :2].mean(axis=0),
        points[list(lm.LEFT_EYE_CONTOUR), :2].mean(axis=0),
    )


def similarity(angle_deg, scale, shift):
    a = np.radians(angle_deg)
    return np.array(
        [
            [scale * np.cos(a), -scale * np.sin(a), shift[0]],
            [scale * np.sin(a), scale * np.cos(a), shift[1]],
            [0, 0, 1],
        ]
    )


def test_umeyama_recovers_a_known_similarity():
    src = np.random.default_rng(3).uniform(-50, 50, (40, 2))
    known = similarity(25, 1.7, (12.5, -40.0))
    np.testing.assert_allclose(umeyama(src, transform_points(src, known)), known, atol=1e-9)
    # without scale: the best rotation and translation, scale stays 1
    rigid = umeyama(src, transform_points(src, known), estimate_scale=False)
    assert np.linalg.det(rigid[:2, :2]) == pytest.approx(1.0)
    assert np.degrees(np.arctan2(rigid[1, 0], rigid[0, 0])) == pytest.approx(25)


def test_umeyama_fits_noisy_points_in_3d_and_never_mirrors():
    rng = np.random.default_rng(4)
    src = rng.normal(size=(100, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))
    dst = 2.0 * src @ rotation.T + [1, 2, 3] + rng.normal(scale=0.01, size=src.shape)
    fit = umeyama(src, dst)
    np.testing.assert_allclose(fit[:3, :3], 2.0 * rotation, atol=0.01)
    mirrored = umeyama(src[:, :2], src[:, :2] * [-1, 1])
    assert np.linalg.det(mirrored[:2, :2]) > 0
    with pytest.raises(ValueError, match="coincide"):
        umeyama(np.ones((5, 2)), np.zeros((5, 2)))


def test_astronaut_crop_is_upright_with_eyes_at_the_template(chain, astronaut):
    _, points = landmarks_of(chain, astronaut)
    coverage, resolution = 2.2, 224
    crop, matrix = align_face(astronaut, points, coverage=coverage, resolution=resolution)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8 and matrix.shape == (2, 3)
    template_eyes = eye_centres(lm.dfl_mean_face())
    centre = np.array([0.5, 0.5 - 0.08])  # DeepFaceLive's crop centre, 0.08 face units above the face's
    expected = [((np.asarray(e) - centre) / coverage + 0.5) * resolution for e in template_eyes]
    # look at the crop's own pixels: run the chain again on the aligned picture
    _, crop_points = landmarks_of(chain, crop)
    right, left = eye_centres(crop_points)
    assert np.linalg.norm(right - expected[0]) < 3 and np.linalg.norm(left - expected[1]) < 3
    assert abs(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))) < 2


def test_tilted_head_is_turned_upright_unless_rotation_is_frozen(chain, astronaut):
    matrix = cv2.getRotationMatrix2D((256, 256), 30, 1.0)
    tilted = cv2.warpAffine(astronaut, matrix, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    _, points = landmarks_of(chain, tilted)
    upright, _ = align_face(tilted, points)
    frozen, _ = align_face(tilted, points, freeze_z_rotation=True)

    def eye_line_angle(image):
        right, left = eye_centres(landmarks_of(chain, image)[1])
        return np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))

    assert abs(eye_line_angle(upright)) < 2
    assert eye_line_angle(frozen) == pytest.approx(
        -30
        + eye_line_angle(align_face(astronaut, landmarks_of(chain, astronaut)[1], freeze_z_rotation=True)[0]),
        abs=3,
    )


def test_offsets_and_head_mode_move_the_crop(chain, astronaut):
    _, points = landmarks_of(chain, astronaut)
    _, plain = align_face(astronaut, points)
    _, head = align_face(astronaut, points, head_mode=True)
    _, shifted = align_face(astronaut, points, offset_x=0.2)
    nose = points[lm.NOSE_TIP, :2][None]
    # head mode centres higher on the head, so the face sits lower in the crop
    assert transform_points(nose, head)[0, 1] > transform_points(nose, plain)[0, 1] + 10
    # moving the crop right moves the face left in it, by 0.2 / coverage of the crop
    dx = transform_points(nose, shifted)[0, 0] - transform_points(nose, plain)[0, 0]
    assert dx == pytest.approx(-0.2 / 2.2 * 224, abs=1)


def test_arcface_template_scales_like_insightface():
    np.testing.assert_allclose(arcface_template(112), ARCFACE_TEMPLATE_112)
    np.testing.assert_allclose(arcface_template(224), ARCFACE_TEMPLATE_112 * 2)
    np.testing.assert_allclose(arcface_template(128), ARCFACE_TEMPLATE_112 + [8, 0])


def test_five_point_crop_puts_the_points_on_the_arcface_template(chain, astronaut):
    face, points = landmarks_of(chain, astronaut)
    for five in (five_points_from_landmarks(points), five_points_from_keypoints(face["keypoints"])):
        crop, matrix = align_5pt(astronaut, five, size=128)
        assert crop.shape == (128, 128, 3)
        miss = np.linalg.norm(transform_points(five, matrix) - arcface_template(128), axis=1)
        # a similarity cannot bend a face to the template: her broad smile leaves the mouth ~8 px off
        assert miss[:2].max() < 4 and miss.max() < 10
    # the crop's pixels agree with the matrix: the chain run on the crop finds the points where it says,
    # within FaceMesh's own repeatability (~2 px in the frame, twice that in this 2x larger crop)
    five = five_points_from_landmarks(points)
    crop, matrix = align_5pt(astronaut, five, size=224)
    _, crop_points = landmarks_of(chain, crop)
    np.testing.assert_allclose(
        five_points_from_landmarks(crop_points), transform_points(five, matrix), atol=4.5
    )


def test_mouth_corners_from_blazeface_straddle_the_mouth_centre():
    keypoints = np.float32([[100, 100], [140, 100], [120, 120], [120, 140], [80, 105], [160, 105]])
    five = five_points_from_keypoints(keypoints)
    np.testing.assert_allclose(five[3:].mean(axis=0), [120, 140])
    assert five[4, 0] - five[3, 0] == pytest.approx(40 * 29.1806 / 35.2372, rel=1e-3)
    with pytest.raises(InvalidInput, match="6 x 2"):
        five_points_from_keypoints(keypoints[:5])


def test_hull_mask_covers_the_face_and_not_the_corners(chain, astronaut):
    _, points = landmarks_of(chain, astronaut)
    crop, matrix = align_face(astronaut, points)
    mask = hull_mask_in_crop(points, matrix, 224)
    assert mask.shape == (224, 224) and mask.dtype == np.float32
    assert mask.min() == 0.0 and mask.max() == 1.0
    for eye in eye_centres(transform_points(points, matrix)):
        assert mask[int(eye[1]), int(eye[0])] == 1.0
    assert mask[:10, :10].max() == 0 and mask[-10:, -10:].max() == 0
    assert 0.2 < mask.mean() < 0.6


def test_triangles_and_regions_are_consistent_with_the_mesh():
    triangles = lm.TRIANGLES
    assert triangles.shape == (852, 3)
    assert set(np.unique(triangles)) == set(range(468))
    edges = {tuple(sorted(e)) for t in triangles.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    for loop in (lm.LIPS_OUTER, lm.LIPS_INNER, lm.RIGHT_EYE_CONTOUR, lm.LEFT_EYE_CONTOUR, lm.FACE_OVAL):
        for a, b in zip(loop, loop[1:] + loop[:1], strict=True):
            assert tuple(sorted((a, b))) in edges
    # on the frontal mean face (y down) every triangle has some area and nearly all face the camera
    face = lm.mean_face()[:, :2]
    a, b, c = face[triangles[:, 0]], face[triangles[:, 1]], face[triangles[:, 2]]
    cross = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    assert np.all(np.abs(cross) > 0)
    assert max(np.mean(cross > 0), np.mean(cross < 0)) > 0.95


def test_mean_face_follows_the_stated_normalisation():
    face = lm.mean_face()
    assert face.shape == (468, 3) and face.dtype == np.float32
    brows = face[list(lm.RIGHT_EYEBROW + lm.LEFT_EYEBROW), 0]
    assert brows.min() == pytest.approx(0, abs=1e-6) and brows.max() == pytest.approx(1, abs=1e-6)
    corners = face[[lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER, lm.LEFT_EYE_INNER, lm.LEFT_EYE_OUTER], 1]
    assert corners.mean() == pytest.approx(0.22, abs=1e-6)
    assert face[lm.RIGHT_EYE_OUTER, 0] < 0.5 < face[lm.LEFT_EYE_OUTER, 0]  # subject's right on the left
    assert face[lm.NOSE_TIP, 2] < face[lm.RIGHT_TRAGION_APPROX, 2]  # the nose is nearer the camera
    # symmetric: mirrored, it is itself (the eye corners swap)
    assert face[lm.RIGHT_EYE_OUTER, 0] == pytest.approx(1 - face[lm.LEFT_EYE_OUTER, 0], abs=1e-6)


def test_alignment_rejects_wrong_point_counts(astronaut):
    with pytest.raises(InvalidInput, match="468 landmarks"):
        align_face(astronaut, np.zeros((68, 2)))
    with pytest.raises(InvalidInput, match="5 x 2"):
        align_5pt(astronaut, np.zeros((4, 2)))


def test_mean_face_file_is_what_its_build_script_measures():
    from nodes.face.data.build_face_data import build_mean_face

    np.testing.assert_allclose(build_mean_face(), lm.mean_face(), atol=1e-3)
