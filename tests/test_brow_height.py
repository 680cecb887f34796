"""The brows' height (nodes.face.brow_height): the portrait's own above the eyes, moving as the driver's
brows move; and MeshWarpSwapper's `brows` param on the bundled portraits, with FaceMesh as the judge."""

from __future__ import annotations

import numpy as np
import pytest
from portraits import MEDIA, portrait

from nodes.face.align import transform_points
from nodes.face.blazeface import BlazeFace
from nodes.face.brow_height import BROWS, FORGET_AFTER, MAX_SHIFT, REST_FRAMES, BrowHeight, _eye_frame, brow_heights
from nodes.face.facemesh import FaceMesh
from nodes.meshwarp import MeshWarpSwapper
from nodes.swap_common import portrait_face


@pytest.fixture(scope="module")
def marks():
    """FaceMesh landmarks (468 x 3) of both portraits."""
    detector, mesh = BlazeFace(), FaceMesh()
    return {name: np.asarray(portrait_face(portrait(name), detector, mesh, name)[1], np.float64)
            for name in ("astronaut.png", "grace_hopper.jpg")}


def raised(points: np.ndarray, by: float) -> np.ndarray:
    """The face's brow points moved up across the face by `by` inter-ocular distances."""
    _, down, distance = _eye_frame(points)
    moved = points.copy()
    moved[BROWS, :2] -= by * distance * down
    return moved


def test_brow_heights_are_measured_across_the_face_whatever_its_roll_and_size(marks):
    points = marks["astronaut.png"]
    heights = brow_heights(points)
    assert heights.shape == (len(BROWS),) and 0.1 < heights.mean() < 0.3  # brows above the eye line
    angle = np.radians(25)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = points.copy()
    turned[:, :2] = 1.7 * points[:, :2] @ turn.T + 40
    np.testing.assert_allclose(brow_heights(turned), heights, atol=1e-9)
    np.testing.assert_allclose(brow_heights(raised(points, 0.05)), heights + 0.05, atol=1e-9)


def test_the_brows_take_the_portraits_height_and_the_drivers_motion(marks):
    driver, portrait_heights = marks["grace_hopper.jpg"], brow_heights(marks["astronaut.png"])
    gap = portrait_heights - brow_heights(driver)
    assert 0.01 < gap.mean() < MAX_SHIFT  # FaceMesh puts her brows on her glasses, lower than the astronaut's
    brows = BrowHeight()
    first = brows.moved(driver, portrait_heights, track=7)
    np.testing.assert_allclose(brow_heights(first), portrait_heights, atol=1e-9)
    others = [i for i in range(468) if i not in BROWS]
    assert np.array_equal(first[others], driver[others])  # only the brows move
    for _ in range(99):  # her rest height
        brows.moved(driver, portrait_heights, track=7)
    lifted = brows.moved(raised(driver, 0.03), portrait_heights, track=7)
    np.testing.assert_allclose(brow_heights(lifted), portrait_heights + 0.03 * (1 - 1 / 101), atol=1e-9)


def test_each_tracked_face_has_its_own_rest_and_lost_ones_are_forgotten(marks):
    driver, portrait_heights = marks["grace_hopper.jpg"], brow_heights(marks["astronaut.png"])
    brows = BrowHeight()
    brows.moved(driver, portrait_heights, track=1)
    other = brows.moved(raised(driver, 0.04), portrait_heights, track=2)
    np.testing.assert_allclose(brow_heights(other), portrait_heights, atol=1e-9)  # its own first frame
    brows.frame_seen([1, 2])
    for _ in range(FORGET_AFTER):  # track 1 missed by the detector for a while: its rest is kept
        brows.frame_seen([2])
    back = brows.moved(raised(driver, 0.04), portrait_heights, track=1)
    np.testing.assert_allclose(brow_heights(back), portrait_heights + 0.04 / 2, atol=1e-9)
    brows.frame_seen([1, 2])
    for _ in range(FORGET_AFTER + 1):  # then gone for longer: forgotten
        brows.frame_seen([2])
    again = brows.moved(raised(driver, 0.04), portrait_heights, track=1)  # track 1 starts afresh
    np.testing.assert_allclose(brow_heights(again), portrait_heights, atol=1e-9)


def test_a_run_started_later_holds_exactly_the_long_runs_rest_once_both_saw_the_same_frames(marks):
    """A farm's chunk starts a few warm-up frames before its range; its brows must then become bit for bit
    those of one long run, or every frame of the chunk differs from `nodegraph run`'s."""
    driver, portrait_heights = marks["grace_hopper.jpg"], brow_heights(marks["astronaut.png"])
    motion = [raised(driver, 0.03 * np.sin(i / 7)) for i in range(2 * REST_FRAMES)]
    long_run, chunk, start = BrowHeight(), BrowHeight(), 40
    for i, points in enumerate(motion):
        from_start = long_run.moved(points, portrait_heights, track=1)
        if i >= start:
            from_chunk = chunk.moved(points, portrait_heights, track=1)
            if i >= start + REST_FRAMES - 1:
                assert np.array_equal(from_chunk, from_start), i
    assert not np.array_equal(BrowHeight().moved(motion[-1], portrait_heights, 1), from_start)


def test_the_move_is_capped_so_the_mesh_above_the_brows_does_not_fold(marks):
    driver = marks["grace_hopper.jpg"]
    moved = BrowHeight().moved(driver, brow_heights(driver) + 0.5, track=None)
    np.testing.assert_allclose(brow_heights(moved), brow_heights(driver) + MAX_SHIFT, atol=1e-9)


@pytest.mark.parametrize("driver_name,identity_name", [("grace_hopper.jpg", "astronaut.png"),
                                                       ("astronaut.png", "grace_hopper.jpg")])
def test_the_swapped_brows_sit_at_the_portraits_height(marks, driver_name, identity_name):
    """With `brows` identity the portrait's brows (its pixels at its brow points) land at its own brow
    height above the driver's eyes; with `brows` driver, on the driver's brow points."""
    frame, landmarks = portrait(driver_name), marks[driver_name].astype(np.float32)
    face = {"box": np.array([0, 0, 1, 1], np.float32), "landmarks": landmarks, "track_id": 0}
    identity = portrait(identity_name)
    portrait_heights = brow_heights(marks[identity_name])
    assert abs(portrait_heights - brow_heights(marks[driver_name])).mean() > 0.02

    def patches(image, points):
        return np.array([image[y - 1:y + 2, x - 1:x + 2].astype(float).mean(axis=(0, 1))
                         for x, y in np.round(points[BROWS, :2]).astype(int)])

    own = patches(identity, marks[identity_name])
    for brows in ("identity", "driver"):
        node = MeshWarpSwapper("swapper", {"identity": str(MEDIA / identity_name), "brows": brows})
        node.setup()
        record = node.process(frame=frame, faces=[face])["faces"][0]
        points = transform_points(landmarks, record["swap_matrix"])
        at_identity = BrowHeight().moved(points, portrait_heights, track=None)
        expected, other = (at_identity, points) if brows == "identity" else (points, at_identity)
        there = np.abs(patches(record["swap"], expected) - own).mean()
        assert there < 12 and there < np.abs(patches(record["swap"], other) - own).mean() - 4  # 3-4 px apart


def test_faces_without_track_ids_keep_their_own_rest_by_their_place(marks):
    """Two driving faces without track ids in one frame: each is swapped as if it were alone (a shared
    rest height would move the second face's brows by half their difference)."""
    frame = portrait("grace_hopper.jpg")
    landmarks = marks["grace_hopper.jpg"]
    box = np.array([0, 0, 1, 1], np.float32)
    plain = {"box": box, "landmarks": landmarks.astype(np.float32)}
    lifted = {"box": box, "landmarks": raised(landmarks, 0.04).astype(np.float32)}

    def swaps(faces):
        node = MeshWarpSwapper("swapper", {"identity": str(MEDIA / "astronaut.png")})
        node.setup()
        return [face["swap"] for face in node.process(frame=frame, faces=faces)["faces"]]

    both = swaps([plain, lifted])
    assert np.array_equal(both[1], swaps([lifted])[0]) and np.array_equal(both[0], swaps([plain])[0])
