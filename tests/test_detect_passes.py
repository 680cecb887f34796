"""FaceDetector's extra passes with the real BlazeFace models on the real portraits: faces turned by right
angles (`angles`) and faces too small for the whole frame (`tile_size`), each found where the default
misses it, mapped back to where it is in the frame, and followed between detections."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from nodegraph.errors import ProblemError
from nodegraph.graph import Graph, Link
from nodegraph.plan import make_plan
from nodegraph.registry import load_registry
from nodes.align import FaceAligner
from nodes.detect import FaceDetector
from nodes.detect_bench import ALL_ANGLES, MEDIA, PORTRAITS, detect, off_face, on_face, placed
from nodes.face import landmarks_data as lm
from nodes.face.blazeface import iou_one_to_many
from nodes.face.detect_passes import EXTRA_LOOK_MARGIN, ROTATE_CODES, tiles, turned_box, turned_points
from nodes.landmarks import FaceMarker


@pytest.fixture(scope="module")
def portraits():
    return {name: cv2.imread(str(MEDIA / name)) for name in PORTRAITS}


def test_rotation_matrix_maps_pixels_as_cv2_rotate_turns_them():
    frame = np.zeros((5, 8, 3), np.uint8)
    frame[1, 6] = 255  # the pixel whose centre is (6.5, 1.5)
    for angle, code in ROTATE_CODES.items():
        x, y = turned_points([[6.5, 1.5]], angle, frame.shape)[0]
        rotated = cv2.rotate(frame, code)
        assert rotated[int(y), int(x), 0] == 255 and rotated.sum() == 3 * 255, angle


def test_tiles_cover_the_frame_and_overlap_by_a_quarter():
    boxes = tiles(1920, 1080, 640)
    assert len(boxes) == 8  # 4 across, 2 down
    covered = np.zeros((1080, 1920), bool)
    for x, y, w, h in boxes:
        assert w == h == 640
        covered[y:y + h, x:x + w] = True
    assert covered.all()
    xs = sorted({x for x, *_ in boxes})
    assert min(np.diff(xs)) > 0 and 640 - max(np.diff(xs)) >= 160
    assert tiles(500, 300, 640) == [(0, 0, 500, 300)]


# The turns at which the full-range model, on the whole frame, misses the face (measured: it finds the
# astronaut at 90 and 270 degrees with scores 0.60 and 0.74, Grace Hopper at 90 and 180 with 0.63, 0.58)
MISSED_TURNS = [("astronaut.png", 180), ("grace_hopper.jpg", 270)]


@pytest.mark.parametrize(("name", "angle"), MISSED_TURNS)
def test_a_turned_face_the_default_misses_is_found_with_angles(portraits, name, angle):
    frame = cv2.rotate(portraits[name], ROTATE_CODES[angle])
    assert detect(frame) == []
    assert len(detect(frame, angles=ALL_ANGLES)) == 1


@pytest.mark.parametrize("angle", [90, 180, 270])
@pytest.mark.parametrize("name", PORTRAITS)
def test_a_turned_face_is_mapped_back_onto_itself(portraits, name, angle):
    """The box and keypoints found in the turned frame are those of the upright frame, turned: the same
    model run on the same pixels, taken back through the exact inverse of the turn."""
    upright = portraits[name]
    [reference] = detect(upright)
    [face] = detect(cv2.rotate(upright, ROTATE_CODES[angle]), angles=ALL_ANGLES)
    expected_box = turned_box(reference["box"], angle, upright.shape)
    assert iou_one_to_many(face["box"], expected_box[None])[0] > 0.99
    expected_keypoints = turned_points(reference["keypoints"], angle, upright.shape)
    np.testing.assert_allclose(face["keypoints"], expected_keypoints, atol=0.5)
    assert face["score"] == pytest.approx(reference["score"], abs=0.005)


def test_extra_angles_find_an_upright_face_once_as_the_default_does(portraits):
    for image in portraits.values():
        [default] = detect(image)
        [face] = detect(image, angles=ALL_ANGLES)
        np.testing.assert_allclose(face["box"], default["box"], atol=1e-3)


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_turned_face_gets_landmarks_and_an_upright_crop(portraits, angle):
    """FaceMarker turns its crop by the eye line and FaceAligner fits the landmarks, so the face a turned
    pass found comes out of the aligner as it does from the upright frame."""
    upright = portraits["grace_hopper.jpg"]
    frames = {0: upright, angle: cv2.rotate(upright, ROTATE_CODES[angle])}
    crops, points = {}, {}
    for turn, frame in frames.items():
        detector = FaceDetector("d", {"smoothing": False, "angles": ALL_ANGLES})
        marker, aligner = FaceMarker("m", {"smoothing": False}), FaceAligner("a", {})
        for node in (detector, marker, aligner):
            node.setup()
        faces = marker.process(frame, detector.process(frame)["faces"])["faces"]
        [face] = aligner.process(frame, faces)["faces"]
        crops[turn], points[turn] = face["crop"].astype(np.float32), face["landmarks"][:, :2]
    eyes = list(lm.RIGHT_EYE_CONTOUR) + list(lm.LEFT_EYE_CONTOUR)
    back = turned_points(points[angle], 360 - angle, frames[angle].shape)  # turned on round to upright
    assert np.abs(back[eyes] - points[0][eyes]).max() < 3.0
    # the crops differ by less than the upright crop from itself moved by one pixel diagonally
    # (a crop left turned would differ by 78 levels in 255)
    one_pixel = np.abs(crops[0][1:, 1:] - crops[0][:-1, :-1]).mean()
    assert np.abs(crops[angle] - crops[0]).mean() < one_pixel


@pytest.mark.parametrize("name", PORTRAITS)
def test_a_40_px_face_in_1080p_is_found_on_tiles(portraits, name):
    frame, where = placed(portraits[name], 40)
    assert detect(frame) == []
    [face] = detect(frame, tile_size=480)
    assert on_face(face["box"], where)


@pytest.mark.parametrize(("height", "at"), [
    (100, None), (300, None),  # bigger than the tiles' overlap: cut by tile edges, whole in the frame pass
    (60, (560, 150)),  # the whole frame's pass reads a loose box around it (score 0.62), twice its size
])
def test_a_face_seen_by_several_passes_is_found_once(portraits, height, at):
    frame, where = placed(portraits["astronaut.png"], height, at=at)
    [face] = detect(frame, tile_size=480)
    assert on_face(face["box"], where)


# Small faces in 1080p the whole frame's pass boxed badly, by IoU with the face's box at full size: the
# astronaut's 24 px face boxed with her head and shoulders (0.04, the box 3.9 times the face), 64 px loose
# (0.37, 1.6 times), 128 px small and off-centre (0.47, 0.72 times)
BADLY_BOXED = [(24, (0.65, 0.4)), (64, (0.2, 0.7)), (128, (0.35, 0.1))]


@pytest.mark.parametrize(("height", "at"), BADLY_BOXED)
def test_a_small_face_gets_a_tight_box_by_default(portraits, height, at):
    """A face the model reads under REREAD_BELOW of its input px is read again on its surroundings, where
    it is a third of the square: the box then fits the face (IoU 0.69 at 24 px, 0.9 or more above)."""
    frame, where = placed(portraits["astronaut.png"], height, at=(1920 * at[0], 1080 * at[1]))
    [face] = detect(frame)
    assert on_face(face["box"], where) and iou_one_to_many(face["box"], where[None])[0] > 0.65


def test_a_head_and_shoulders_read_as_a_face_goes_when_a_second_look_finds_no_face(portraits):
    """The astronaut's 24 px face at the top of 1080p: the whole frame's pass reads her head and shoulders
    as one 86 px face (score 0.56) below it; the second look finds no face there, so no box goes out."""
    frame, where = placed(portraits["astronaut.png"], 24, at=(1920 * 0.65, 1080 * 0.1))
    assert detect(frame) == []


def test_texture_a_tile_reads_as_a_face_is_not_a_face(portraits):
    """At full resolution a tile reads Grace Hopper's uniform, below her 128 px face, as an 80 px face
    (score 0.56, just over the threshold) that the whole frame does not see: a second look at its
    surroundings does not find it again, so it goes, and the face itself stays."""
    frame, where = placed(portraits["grace_hopper.jpg"], 128, at=(96, 432))
    [face] = detect(frame, tile_size=480)
    assert on_face(face["box"], where) and not off_face(face["box"], where)


def test_a_weak_small_face_only_a_tile_sees_is_kept_by_its_second_look(portraits):
    frame, where = placed(portraits["astronaut.png"], 32, at=(960, 432))
    assert detect(frame) == []
    [face] = detect(frame, tile_size=480)
    assert on_face(face["box"], where) and face["score"] < 0.5 + EXTRA_LOOK_MARGIN


def test_a_turned_pass_does_not_read_a_helmet_as_a_face(portraits):
    """The short-range model on the frame turned by 270 degrees reads the astronaut's black visor as a face
    on its side, score 0.51: a face only an extra pass finds must clear the threshold by a margin."""
    image = portraits["astronaut.png"]
    [upright] = detect(image, model="blazeface_short")
    for angles in ("0,90,270", ALL_ANGLES):
        [face] = detect(image, model="blazeface_short", angles=angles)
        np.testing.assert_allclose(face["box"], upright["box"], atol=1e-3)


def test_a_face_in_a_32_by_9_frame_is_found_on_tiles(portraits):
    frame, where = placed(portraits["astronaut.png"], 130, size=(1080, 3840))
    assert detect(frame) == []  # the frame shrinks 20x into the model's 192 px
    [face] = detect(frame, tile_size=1080)
    assert on_face(face["box"], where)


def test_a_turned_face_is_followed_between_detections(portraits):
    """With detect_every 4 the model (all four turns) runs on every 4th frame; optical flow follows the
    upside-down face in between, and it stays one track, on the face the model finds on every frame."""
    frame0 = cv2.rotate(portraits["astronaut.png"], ROTATE_CODES[180])
    tracked = FaceDetector("t", {"smoothing": False, "angles": ALL_ANGLES, "detect_every": 4})
    reference = FaceDetector("r", {"smoothing": False, "angles": ALL_ANGLES, "detect_every": 1})
    start = time.monotonic()
    for node in (tracked, reference):
        node.setup()
    for i in range(9):
        frame = np.full((600, 700, 3), 96, np.uint8)
        frame[20 + 3 * i:532 + 3 * i, 30 + 5 * i:542 + 5 * i] = frame0  # 5 px right, 3 down a frame
        boxes = []
        for node in (tracked, reference):
            node.frame_id, node.capture_time = i, start + i / 30
            [face] = node.process(frame)["faces"]
            assert face["track_id"] == 0
            boxes.append(face["box"])
        assert iou_one_to_many(boxes[0], np.array(boxes[1:]))[0] > 0.9, i
        assert tracked._countdown == 3 - i % 4  # the model ran on frames 0, 4 and 8; the flow on the rest


def test_bad_angles_and_tile_sizes_are_refused_naming_node_and_param():
    with pytest.raises(ProblemError, match=r"node 'finder' \(FaceDetector\), param 'tile_size': a 50 px tile"):
        FaceDetector("finder", {"tile_size": 50})
    with pytest.raises(ProblemError, match=r"node 'finder' \(FaceDetector\), param 'angles': '45' is not one"):
        FaceDetector("finder", {"angles": "45"})
    node = FaceDetector("finder", {"tile_size": 640})
    with pytest.raises(ProblemError, match="param 'tile_size'"):
        node.set_param("tile_size", 1)
    assert node.tile_size == 640  # the refused edit changed nothing


def test_the_plan_counts_the_model_runs_of_the_extra_passes():
    """FaceDetector's cost in the plan grows with its model runs: one per angle and per tile of a 640x480
    frame, on every detect_every-th frame (the optical flow, about 1 ms, on the others)."""
    graph = Graph("costs")
    source = graph.add_node("TestPattern", {}, node_id="src")
    cases = {"default": {}, "angles": {"angles": ALL_ANGLES}, "tiles": {"tile_size": 480},
             "every": {"detect_every": 1}, "both": {"angles": "0,180", "tile_size": 480, "detect_every": 4}}
    for name, params in cases.items():
        graph.add_node("FaceDetector", params, node_id=name)
        graph.add_link(Link(source, "frame", name, "frame"))
    costs = make_plan(graph, load_registry(third_party=False), cores=2).costs
    model_run = costs["every"]  # the model on every frame: one run
    assert costs["default"] == pytest.approx(FaceDetector.cost_ms)  # one run every other frame, the flow between
    flow = 2 * costs["default"] - model_run
    assert costs["angles"] == pytest.approx((4 * model_run + flow) / 2)
    assert len(tiles(640, 480, 480)) == 2 and costs["tiles"] == pytest.approx((3 * model_run + flow) / 2)
    assert costs["both"] == pytest.approx((4 * model_run + 3 * flow) / 4)
    assert 0 < flow < model_run
