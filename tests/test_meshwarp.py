"""The mesh warp (nodes.face.meshwarp) and the built-in MeshWarpSwapper on the bundled portraits."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from portraits import MEDIA, portrait

from nodegraph.errors import InvalidInput
from nodes.face.align import face_frame_matrix, transform_points
from nodes.face.blazeface import BlazeFace
from nodes.face.facemesh import FaceMesh, head_pose
from nodes.face.landmarks_data import (
    FACE_OVAL,
    LEFT_EYE_CONTOUR,
    LEFT_EYEBROW,
    LIPS_INNER,
    RIGHT_EYE_CONTOUR,
    RIGHT_EYEBROW,
    TRIANGLES,
    mean_face,
)
from nodes.face.meshwarp import MESH_TRIANGLES, MOUTH_TRIANGLES, mesh_warp, similarity_fit, warp_maps
from nodes.meshwarp import MeshWarpSwapper

SIZE = 256


@pytest.fixture(scope="module")
def marks():
    """FaceMesh landmarks (468 x 3) of both portraits."""
    detector, mesh = BlazeFace(), FaceMesh()
    found = {}
    for name in ("astronaut.png", "grace_hopper.jpg"):
        image = portrait(name)
        best = detector.detect(image)[0]
        found[name] = mesh.landmarks(image, best["box"], best["keypoints"])[0].astype(np.float64)
    return found


def aligned_points(landmarks):
    matrix = face_frame_matrix(landmarks, 2.2, SIZE)
    return np.column_stack([transform_points(landmarks, matrix), landmarks[:, 2]]), matrix


def polygon(points, loop, size=SIZE):
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points[list(loop), :2]).astype(np.int32)], 1)
    return mask.astype(bool)


# -- the maths --------------------------------------------------------------------------------------

def test_the_mesh_closes_the_mouth_and_eye_holes_of_the_tessellation():
    points = mean_face()[:, :2].astype(np.float64) * 200 + 60

    def coverage(triangles, loop):
        covered = np.zeros((320, 320), np.uint8)
        for triangle in triangles:
            cv2.fillConvexPoly(covered, np.round(points[triangle]).astype(np.int32), 1)
        inside = polygon(points, loop, 320) & ~cv2.dilate(
            cv2.polylines(np.zeros((320, 320), np.uint8), [np.round(points[list(loop)]).astype(np.int32)],
                          True, 1), np.ones((3, 3), np.uint8)).astype(bool)
        return covered[inside].mean()

    for loop in (LIPS_INNER, RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):
        assert coverage(TRIANGLES, loop) < 0.05  # FaceMesh's own tessellation leaves the opening empty
        assert coverage(MESH_TRIANGLES, loop) == 1.0
    assert len(MOUTH_TRIANGLES) == len(LIPS_INNER) - 2  # a loop of n points closes with n - 2 triangles


def test_warp_maps_match_each_triangles_own_affine(marks):
    """Every pixel inside a triangle (away from its edges) maps through that triangle's affine."""
    dst, _ = aligned_points(marks["grace_hopper.jpg"])
    src, _ = aligned_points(marks["astronaut.png"])
    map_x, map_y = warp_maps(dst, src[:, :2], (SIZE, SIZE), similarity_fit(dst, src))
    checked = 0
    for triangle in TRIANGLES:
        corners = dst[triangle, :2].astype(np.float32)
        if abs(np.cross(np.append(corners[1] - corners[0], 0), np.append(corners[2] - corners[0], 0))[2]) < 4:
            continue
        affine = cv2.getAffineTransform(corners, src[triangle, :2].astype(np.float32))
        inside = np.zeros((SIZE, SIZE), np.uint8)
        cv2.fillConvexPoly(inside, np.round(corners * 16).astype(np.int32), 1, shift=4)
        ys, xs = np.nonzero(cv2.erode(inside, np.ones((3, 3), np.uint8)))
        for axis, map_axis in enumerate((map_x, map_y)):
            expected = affine[axis, 0] * xs + affine[axis, 1] * ys + affine[axis, 2]
            np.testing.assert_allclose(map_axis[ys, xs], expected, atol=1e-3)
        checked += len(xs)
    assert checked > 5000


def test_warp_onto_the_same_mesh_is_the_identity_and_outside_follows_the_fallback(marks):
    points, _ = aligned_points(marks["astronaut.png"])
    shift = np.array([[1.0, 0.0, 3.5], [0.0, 1.0, -2.0]])
    map_x, map_y = warp_maps(points, points[:, :2], (SIZE, SIZE), shift)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    face = polygon(points, FACE_OVAL)
    ring = cv2.erode(face.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    np.testing.assert_allclose(map_x[ring], xs[ring], atol=1e-3)
    np.testing.assert_allclose(map_y[ring], ys[ring], atol=1e-3)
    outside = ~cv2.dilate(face.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    np.testing.assert_allclose(map_x[outside], xs[outside] + 3.5, atol=1e-3)
    np.testing.assert_allclose(map_y[outside], ys[outside] - 2.0, atol=1e-3)


def test_a_turned_head_shows_the_nearest_surface_where_the_mesh_folds():
    """The mean face turned 45 degrees: the nose passes over the far cheek; the depth test keeps the
    nose (a mesh without z would show the cheek there)."""
    face = mean_face().astype(np.float64)
    centre, angle = face.mean(axis=0), np.radians(45)
    across, depth = face[:, 0] - centre[0], face[:, 2] - centre[2]
    turned = face.copy()
    turned[:, 0] = centre[0] + across * np.cos(angle) - depth * np.sin(angle)
    turned[:, 2] = centre[2] + across * np.sin(angle) + depth * np.cos(angle)
    dst = np.column_stack([turned[:, :2] * 200 + 40, turned[:, 2]])
    src = face[:, :2] * 200 + 40
    nose_x, nose_y = np.round(dst[1, :2]).astype(int)
    with_depth = warp_maps(dst, src, (320, 320), np.eye(3)[:2])
    flat = warp_maps(dst[:, :2], src, (320, 320), np.eye(3)[:2])
    def miss(maps):
        return np.hypot(maps[0][nose_y, nose_x] - src[1, 0], maps[1][nose_y, nose_x] - src[1, 1])

    assert miss(with_depth) < 1.5 and miss(flat) > 20


def test_coarse_maps_stay_close_to_the_exact_ones(marks):
    dst, _ = aligned_points(marks["grace_hopper.jpg"])
    src, _ = aligned_points(marks["astronaut.png"])
    fallback = similarity_fit(dst, src)
    exact = warp_maps(dst, src[:, :2], (SIZE, SIZE), fallback, step=1)
    coarse = warp_maps(dst, src[:, :2], (SIZE, SIZE), fallback, step=2)
    skin = cv2.erode(polygon(dst, FACE_OVAL).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    skin &= ~cv2.dilate(polygon(dst, LIPS_INNER).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    error = np.hypot(exact[0] - coarse[0], exact[1] - coarse[1])[skin]
    assert np.percentile(error, 99) < 0.5 and error.mean() < 0.1


def test_mesh_warp_moves_the_face_where_it_is_told_and_nothing_else(marks):
    image = portrait("grace_hopper.jpg")
    landmarks = marks["grace_hopper.jpg"]
    moved = landmarks + [5.0, 12.0, 0.0]
    warped = mesh_warp(image, landmarks, moved, image.shape[:2], fallback=np.eye(3)[:2])
    x, y = np.round(landmarks[1, :2]).astype(int)  # the nose tip
    moved_patch = warped[y + 12 - 20:y + 12 + 21, x + 5 - 20:x + 5 + 21]
    assert np.array_equal(moved_patch, image[y - 20:y + 21, x - 20:x + 21])
    far = np.ones(image.shape[:2], bool)
    low, high = moved[:, :2].min(axis=0).astype(int) - 2, moved[:, :2].max(axis=0).astype(int) + 3
    far[low[1]:high[1], low[0]:high[0]] = False
    assert np.array_equal(warped[far], image[far])  # outside the moved face nothing changes


# -- the node ---------------------------------------------------------------------------------------

def swapper(**params) -> MeshWarpSwapper:
    node = MeshWarpSwapper("swapper", {"identity": str(MEDIA / "astronaut.png"), **params})
    node.setup()
    return node


@pytest.fixture(scope="module")
def driver(marks):
    """(frame, face record) of Grace Hopper as the driver."""
    landmarks = marks["grace_hopper.jpg"].astype(np.float32)
    box = np.array([158, 118, 367, 327], np.float32)
    return portrait("grace_hopper.jpg"), {"box": box, "landmarks": landmarks}


def test_the_swapper_outputs_a_swap_in_the_drivers_aligned_geometry(driver, marks):
    frame, face = driver
    before = {key: np.copy(value) for key, value in face.items()}
    node = swapper(forehead=1.0)  # the mask is the whole face oval
    out = node.process(frame=frame, faces=[face])["faces"]
    assert len(out) == 1 and out[0] is not face
    assert all(np.array_equal(face[key], before[key]) for key in before) and set(face) == set(before)
    record = out[0]
    assert record["swap"].shape == (SIZE, SIZE, 3) and record["swap"].dtype == np.uint8
    assert record["swap_mask"].shape == (SIZE, SIZE) and record["swap_mask"].dtype == np.float32
    assert record["swap_matrix"].shape == (2, 3) and record["swap_matrix"].dtype == np.float32
    expected = face_frame_matrix(face["landmarks"], 2.2, SIZE)
    np.testing.assert_allclose(record["swap_matrix"], expected, atol=1e-4)
    points = transform_points(face["landmarks"], record["swap_matrix"])
    mask = record["swap_mask"]
    assert mask.min() >= 0 and mask.max() <= 1
    kernel = np.ones((9, 9), np.uint8)
    oval = polygon(points, FACE_OVAL).astype(np.uint8)
    inside = cv2.erode(oval, kernel).astype(bool)
    inside &= ~cv2.dilate(polygon(points, LIPS_INNER).astype(np.uint8), kernel).astype(bool)
    outside = ~cv2.dilate(oval, kernel).astype(bool)
    assert mask[inside].min() > 0.95 and mask[outside].max() < 0.05

    # the swap is the identity's face: its pixels on the driver's landmarks are the identity's on its own
    identity = portrait("astronaut.png")
    nose = 1
    x, y = np.round(points[nose]).astype(int)
    ix, iy = np.round(marks["astronaut.png"][nose, :2]).astype(int)
    assert np.abs(record["swap"][y - 2:y + 3, x - 2:x + 3].astype(float).mean(axis=(0, 1))
                  - identity[iy - 2:iy + 3, ix - 2:ix + 3].astype(float).mean(axis=(0, 1))).max() < 25


@pytest.mark.parametrize("forehead", [0.0, 0.6, 1.0])
def test_the_mask_reaches_up_the_forehead_as_far_as_asked(driver, forehead):
    """0: to the top of the eyebrows; 1: to the face oval's top, near the hairline."""
    frame, face = driver
    record = swapper(forehead=forehead).process(frame=frame, faces=[face])["faces"][0]
    points = transform_points(face["landmarks"], record["swap_matrix"])
    brow = points[list(RIGHT_EYEBROW + LEFT_EYEBROW), 1].min()
    top = points[list(FACE_OVAL), 1].min()
    assert brow - top > 20  # a forehead to trim
    covered = np.nonzero(record["swap_mask"].max(axis=1) > 0.5)[0]
    assert abs(covered.min() - (brow + forehead * (top - brow))) <= 2


def test_driver_openings_come_from_the_driver_and_leave_the_mask(driver):
    frame, face = driver
    plain = swapper(mouth="identity", eyes="identity").process(frame=frame, faces=[face])["faces"][0]
    own = swapper(mouth="driver", eyes="driver").process(frame=frame, faces=[face])["faces"][0]
    matrix = own["swap_matrix"]
    points = transform_points(face["landmarks"], matrix)
    driver_crop = cv2.warpAffine(frame, matrix.astype(np.float64), (SIZE, SIZE), flags=cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_REPLICATE)
    for loop in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):
        eye = cv2.erode(polygon(points, loop).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert eye.sum() > 20
        assert np.abs(own["swap"][eye].astype(int) - driver_crop[eye].astype(int)).mean() < 3
        assert np.abs(plain["swap"][eye].astype(int) - driver_crop[eye].astype(int)).mean() > 15
        assert own["swap_mask"][eye].max() < 0.2 and plain["swap_mask"][eye].min() > 0.9


def test_a_folder_of_identities_gives_each_driver_the_nearest_pose(tmp_path, driver, marks):
    for name in ("astronaut.png", "grace_hopper.jpg"):
        (tmp_path / name).write_bytes((MEDIA / name).read_bytes())
    (tmp_path / "notes.txt").write_text("not a picture")
    node = MeshWarpSwapper("swapper", {"identity": str(tmp_path)})
    node.setup()
    assert sorted(Path(identity.name).name for identity in node.identities) == [
        "astronaut.png", "grace_hopper.jpg"]
    frame, face = driver
    for name in ("astronaut.png", "grace_hopper.jpg"):
        yaw, pitch, roll = head_pose(marks[name])
        posed = {**face, "pose": np.array([yaw, pitch, roll], np.float32)}
        chosen = node._identity_for(posed, face["landmarks"])
        assert chosen.name.endswith(name)
        swap = node.process(frame=frame, faces=[posed])["faces"][0]["swap"]
        alone = swapper(identity=str(tmp_path / name)).process(frame=frame, faces=[posed])["faces"][0]["swap"]
        assert np.array_equal(swap, alone)


def test_faces_without_landmarks_or_not_chosen_pass_through(driver):
    frame, face = driver
    bare = {"box": face["box"]}
    out = swapper(swap="one", face_index=1).process(frame=frame, faces=[face, bare, face])["faces"]
    assert out[0] is face and out[2] is face  # not chosen
    assert out[1] is bare  # chosen but without landmarks
    last = swapper(swap="one", face_index=2).process(frame=frame, faces=[face, bare, face])["faces"][2]
    assert "swap" in last


def test_preview_tiles_driver_swap_and_mask(driver):
    frame, face = driver
    node = swapper()
    assert node.preview({}) is None
    node.process(frame=frame, faces=[face, face])
    picture = node.preview({})
    assert picture.shape == (256, 384, 3) and picture.dtype == np.uint8


@pytest.mark.parametrize("mouth,eyes", [("driver", "identity"), ("identity", "driver")])
def test_the_swap_is_the_same_at_any_resolution_up_to_scale(driver, mouth, eyes):
    frame, face = driver
    def swap(resolution):
        node = swapper(resolution=resolution, mouth=mouth, eyes=eyes)
        return node.process(frame=frame, faces=[face])["faces"][0]["swap"]

    small, large = swap(128), swap(512)
    shrunk = cv2.resize(large, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - small.astype(int)).mean() < 6


def test_bad_identities_are_refused_with_the_node_param_and_file(tmp_path):
    missing = tmp_path / "nobody.png"
    with pytest.raises(InvalidInput, match=r"node 'swapper' \(MeshWarpSwapper\), param 'identity'.*nobody"):
        swapper(identity=str(missing))
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(InvalidInput, match=r"param 'identity'.*blank.png: no face found"):
        swapper(identity=str(blank))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match=r"param 'identity'.*no pictures"):
        swapper(identity=str(empty))
    for name in ("grey.jpg", "dark.png"):
        cv2.imwrite(str(empty / name), np.full((200, 200, 3), 40 if name == "dark.png" else 90, np.uint8))
    with pytest.raises(InvalidInput, match=r"empty \(none of its 2 pictures\): no face found"):
        swapper(identity=str(empty))


def test_live_changes_of_resolution_and_coverage_keep_the_identity(driver):
    frame, face = driver
    node = swapper()
    node.set_param("resolution", 128)
    node.set_param("coverage", 2.0)
    changed = node.process(frame=frame, faces=[face])["faces"][0]
    fresh = swapper(resolution=128, coverage=2.0).process(frame=frame, faces=[face])["faces"][0]
    assert changed["swap"].shape == (128, 128, 3)
    assert all(np.array_equal(changed[key], fresh[key]) for key in ("swap", "swap_mask", "swap_matrix"))
    node.set_param("identity", str(MEDIA / "grace_hopper.jpg"))
    assert node.identities[0].name.endswith("grace_hopper.jpg")


def test_the_forehead_stops_where_the_portraits_skin_ends(driver):
    """The astronaut's fringe starts a quarter of the way from her brows to her hairline: with hairline on,
    the swap stops below it (at most 0.15 of the way up the driver's forehead) whatever forehead asks."""
    frame, face = driver
    node = swapper(forehead=0.6, hairline=True)
    assert node.identities[0].skin_reach <= 0.15
    record = node.process(frame=frame, faces=[face])["faces"][0]
    points = transform_points(face["landmarks"], record["swap_matrix"])
    brow = points[list(RIGHT_EYEBROW + LEFT_EYEBROW), 1].min()
    top = points[list(FACE_OVAL), 1].min()
    covered = np.nonzero(record["swap_mask"].max(axis=1) > 0.5)[0]
    assert covered.min() >= brow + 0.15 * (top - brow) - 2
    assert swapper(identity=str(MEDIA / "grace_hopper.jpg")).identities[0].skin_reach >= 0.3  # her hat is higher


def test_nodegraph_run_takes_a_folder_of_identities(tmp_path, cli):
    """The identity param's help offers a folder of portraits: `nodegraph run` must take one, not refuse it
    as "is a folder; give a file" before the node ever sees it, and say which of its pictures it skips."""
    folder = tmp_path / "identities"
    folder.mkdir()
    for name in ("astronaut.png", "grace_hopper.jpg"):
        (folder / name).write_bytes((MEDIA / name).read_bytes())
    cv2.imwrite(str(folder / "sky.png"), np.full((240, 320, 3), (200, 150, 90), np.uint8))
    graph = json.loads((Path(__file__).resolve().parent.parent / "presets" / "video_swap.json").read_text())
    for node in graph["nodes"]:
        if node["id"] == "source":
            node.update(type="ImageSource", params={"path": str(MEDIA / "grace_hopper.jpg"), "repeat": 1})
        elif node["id"] == "output":
            node.update(type="ImageSequenceOutput", params={"path": str(tmp_path / "out")})
    preset_file = tmp_path / "folder_swap.json"
    preset_file.write_text(json.dumps(graph))
    result = cli("run", preset_file, "--set", f"swapper.identity={folder}", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"node 'swapper' (MeshWarpSwapper), param 'identity': {folder / 'sky.png'}: no face found; " \
           "this picture is skipped" in result.stderr, result.stderr
    written = cv2.imread(str(tmp_path / "out" / "frame_000000.png"))
    assert written is not None and written.shape == cv2.imread(str(MEDIA / "grace_hopper.jpg")).shape

    empty = tmp_path / "no_pictures"
    empty.mkdir()
    result = cli("run", preset_file, "--set", f"swapper.identity={empty}", cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "'swapper'" in result.stderr and f"{empty}: no pictures in this folder" in result.stderr, result.stderr
