"""BlazeFace and FaceMesh on real portraits, with the real ONNX models."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from nodegraph.errors import InvalidInput
from nodes.face import landmarks_data as lm
from nodes.face.blazeface import BlazeFace, decode, make_anchors, sort_faces
from nodes.face.facemesh import FaceMesh, box_from_landmarks, head_pose

MEDIA = Path(__file__).resolve().parents[1] / "presets" / "media"

# Drawn by hand from the pictures (x0, y0, x1, y1 in image pixels), before any model ran on them.
# The "right eye" is the subject's right eye, on the image's left.
HAND_BOXES = {
    # astronaut.png: pupils near (202, 102) and (245, 103); mouth from x 198 to 248 around y 145
    "astronaut.png": {
        "right_eye": (190, 94, 215, 111),
        "left_eye": (233, 95, 259, 112),
        "mouth": (193, 132, 254, 157),
    },
    # grace_hopper.jpg: pupils (behind glasses) near (222, 190) and (305, 186); lips x 224 to 304, y 276
    "grace_hopper.jpg": {
        "right_eye": (205, 178, 240, 204),
        "left_eye": (288, 173, 323, 200),
        "mouth": (220, 262, 312, 292),
    },
}
PORTRAITS = sorted(HAND_BOXES)


def inside(point, box, margin=0.0):
    x, y = point[:2]
    x0, y0, x1, y1 = box
    return x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin


def centre_of(box):
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


@pytest.fixture(scope="module")
def full():
    return BlazeFace(model="full")


@pytest.fixture(scope="module")
def short():
    return BlazeFace(model="short")


@pytest.fixture(scope="module")
def mesh():
    return FaceMesh()


@pytest.fixture(scope="module")
def images():
    return {name: cv2.imread(str(MEDIA / name)) for name in PORTRAITS}


def test_anchor_layouts_match_the_model_outputs():
    assert make_anchors("short").shape == (896, 2)
    assert make_anchors("full").shape == (2304, 2)
    # full range: one anchor per cell of a 48 x 48 grid, row by row
    np.testing.assert_allclose(
        make_anchors("full")[[0, 1, 48]], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48], [0.5 / 48, 1.5 / 48]]
    )
    # short range: 2 anchors per cell on 16 x 16, then 6 per cell on 8 x 8
    anchors = make_anchors("short")
    np.testing.assert_allclose(anchors[0], anchors[1])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(anchors[512:518], np.repeat(anchors[512:513], 6, axis=0))


def test_decode_puts_box_and_keypoints_relative_to_the_anchor():
    anchors = make_anchors("full")
    regressors = np.zeros((1, 2304, 16), np.float32)
    logits = np.full((1, 2304, 1), -10.0, np.float32)
    index = 48 * 10 + 20  # row 10, column 20: centre (82, 42) in the 192 px input
    logits[0, index] = 3.0
    regressors[0, index, :4] = [2.0, -1.0, 30.0, 40.0]
    regressors[0, index, 4:] = np.arange(12)
    boxes, keypoints, scores = decode(regressors, logits, anchors, 192, threshold=0.5)
    assert scores.shape == (1,) and scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    np.testing.assert_allclose(boxes[0], [84 - 15, 41 - 20, 84 + 15, 41 + 20])
    np.testing.assert_allclose(keypoints[0], np.arange(12).reshape(6, 2) + [82, 42])


@pytest.mark.parametrize("name", PORTRAITS)
def test_full_range_finds_one_face_with_keypoints_on_eyes_and_mouth(full, images, name):
    faces = full.detect(images[name], threshold=0.5)
    assert len(faces) == 1
    face, boxes = faces[0], HAND_BOXES[name]
    assert face["box"].dtype == np.float32 and face["keypoints"].shape == (6, 2)
    assert inside(face["keypoints"][0], boxes["right_eye"])
    assert inside(face["keypoints"][1], boxes["left_eye"])
    assert inside(face["keypoints"][3], boxes["mouth"])
    for part in ("right_eye", "left_eye", "mouth"):
        assert inside(centre_of(boxes[part]), face["box"])


@pytest.mark.parametrize("name", PORTRAITS)
def test_short_range_also_finds_the_face(short, images, name):
    faces = short.detect(images[name], threshold=0.5)
    assert len(faces) == 1
    assert inside(faces[0]["keypoints"][0], HAND_BOXES[name]["right_eye"], margin=4)
    assert inside(faces[0]["keypoints"][1], HAND_BOXES[name]["left_eye"], margin=4)


@pytest.mark.parametrize("model", ["full", "short"])
def test_no_face_on_flat_grey_or_noise(model, full, short):
    detector = full if model == "full" else short
    rng = np.random.default_rng(7)
    frames = {
        "grey": np.full((480, 640, 3), 128, np.uint8),
        "gaussian noise": np.clip(rng.normal(128, 40, (480, 640, 3)), 0, 255).astype(np.uint8),
        "uniform noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
    }
    for what, frame in frames.items():
        assert detector.detect(frame, threshold=0.5) == [], what


@pytest.mark.parametrize("name", PORTRAITS)
def test_facemesh_points_sit_on_eyes_and_mouth(full, mesh, images, name):
    face = full.detect(images[name])[0]
    points, presence = mesh.landmarks(images[name], face["box"], face["keypoints"])
    assert points.shape == (468, 3) and points.dtype == np.float32
    assert presence > 0.9
    boxes = HAND_BOXES[name]
    assert inside(points[list(lm.RIGHT_EYE_CONTOUR)].mean(axis=0), boxes["right_eye"])
    assert inside(points[list(lm.LEFT_EYE_CONTOUR)].mean(axis=0), boxes["left_eye"])
    for index in (lm.MOUTH_RIGHT_CORNER, lm.MOUTH_LEFT_CORNER, *lm.LIPS_INNER):
        assert inside(points[index], boxes["mouth"]), index


def test_tilted_head_still_gets_landmarks_on_the_eyes(full, mesh, images):
    matrix = cv2.getRotationMatrix2D((256, 256), 30, 1.0)  # 30 degrees counter-clockwise on screen
    tilted = cv2.warpAffine(images["astronaut.png"], matrix, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    faces = full.detect(tilted)
    assert len(faces) == 1
    points, presence = mesh.landmarks(tilted, faces[0]["box"], faces[0]["keypoints"])
    assert presence > 0.9
    boxes = HAND_BOXES["astronaut.png"]
    for part, contour in (("right_eye", lm.RIGHT_EYE_CONTOUR), ("left_eye", lm.LEFT_EYE_CONTOUR)):
        expected = matrix[:, :2] @ centre_of(boxes[part]) + matrix[:, 2]
        assert np.linalg.norm(points[list(contour), :2].mean(axis=0) - expected) < 6, part
    yaw, pitch, roll = head_pose(points)
    assert roll == pytest.approx(-30, abs=5)  # the portrait itself leans ~3 degrees clockwise
    assert abs(yaw) < 10 and abs(pitch) < 10


def test_head_pose_recovers_a_known_rotation():
    yaw, pitch, roll = 20.0, -10.0, 15.0
    y, p, r = np.radians([-yaw, -pitch, roll])  # head_pose's signs: see its docstring
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    points = 150 * lm.mean_face() @ (rx @ ry @ rz).T + [300, 200, 0]
    assert head_pose(points) == pytest.approx((yaw, pitch, roll), abs=1e-6)
    # the nose tip (nearest the camera) moves to the image's right when yaw > 0
    assert points[lm.NOSE_TIP, 0] > points[[lm.RIGHT_EYE_INNER, lm.LEFT_EYE_INNER], 0].mean()


@pytest.mark.parametrize("name", PORTRAITS)
def test_tracking_from_landmarks_holds_still_on_a_still_face(full, mesh, images, name):
    image = images[name]
    face = full.detect(image)[0]
    first, _ = mesh.landmarks(image, face["box"], face["keypoints"])
    points = first
    for _ in range(8):
        box, keypoints = box_from_landmarks(points)
        points, presence = mesh.landmarks(image, box, keypoints)
        assert presence > 0.9
    detected_side = face["box"][2] - face["box"][0]
    assert box[2] - box[0] == pytest.approx(detected_side, rel=0.05)
    assert np.abs(points[:, :2] - first[:, :2]).mean() < 1.5


def test_faces_sort_in_every_order(full, images):
    canvas = np.full((360, 640, 3), 100, np.uint8)
    canvas[30:330, 20:320] = cv2.resize(images["astronaut.png"], (300, 300))
    canvas[:, 330:637] = cv2.resize(images["grace_hopper.jpg"], (307, 360))
    faces = full.detect(canvas)
    assert len(faces) == 2
    astronaut = min(faces, key=lambda f: f["box"][0])
    grace = max(faces, key=lambda f: f["box"][0])
    assert sort_faces(faces, "largest", canvas.shape)[0] is grace
    assert sort_faces(faces, "left_to_right", canvas.shape)[0] is astronaut
    assert sort_faces(faces, "right_to_left", canvas.shape)[0] is grace
    assert sort_faces(faces, "top_to_bottom", canvas.shape)[0] is astronaut  # higher in the frame

    def at(x, y):
        return {"box": np.float32([x - 5, y - 5, x + 5, y + 5]), "score": 1.0, "keypoints": np.zeros((6, 2))}

    made = [at(10, 10), at(320, 170), at(600, 300)]
    assert sort_faces(made, "nearest_centre", canvas.shape)[0] is made[1]
    with pytest.raises(InvalidInput, match="unknown face order"):
        sort_faces(made, "by_age", canvas.shape)


def test_limits_on_count_and_size(full, images):
    canvas = np.full((360, 640, 3), 100, np.uint8)
    canvas[30:330, 20:320] = cv2.resize(images["astronaut.png"], (300, 300))
    canvas[:, 330:637] = cv2.resize(images["grace_hopper.jpg"], (307, 360))
    assert len(full.detect(canvas, max_faces=1)) == 1
    small_face = min(f["box"][2] - f["box"][0] for f in full.detect(canvas))
    assert len(full.detect(canvas, min_size_px=small_face + 1)) == 1


def test_bad_inputs_get_clear_errors(tmp_path, full, mesh):
    with pytest.raises(InvalidInput, match="unknown BlazeFace model"):
        BlazeFace(model="medium")
    with pytest.raises(InvalidInput, match="missing.onnx.* not found"):
        BlazeFace(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(InvalidInput, match="cannot load model file .*broken.onnx"):
        FaceMesh(broken)
    with pytest.raises(InvalidInput, match="must take one 1x3x128x128 input"):
        BlazeFace(MEDIA.parent.parent / "models" / "blazeface_full.onnx", model="short")
    with pytest.raises(InvalidInput, match="FaceMesh model must take"):
        FaceMesh(MEDIA.parent.parent / "models" / "blazeface_short.onnx")
    with pytest.raises(InvalidInput, match="BGR uint8"):
        full.detect(np.zeros((100, 100), np.uint8))
    with pytest.raises(InvalidInput, match="box"):
        mesh.landmarks(np.zeros((100, 100, 3), np.uint8), [10, 10, 10, 10])
