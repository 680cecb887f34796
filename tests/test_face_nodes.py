"""The face nodes (detector, marker, aligner, selector, faces file) in real graphs with the real models."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_face_detect import HAND_BOXES, inside

from nodegraph import modelhub
from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.registry import default_registry
from nodegraph.sequential import SequentialRunner
from nodes.align import FaceAligner
from nodes.detect import FaceDetector, flow_image, follow
from nodes.face import landmarks_data as lm
from nodes.landmarks import FaceMarker

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "presets" / "media"
PORTRAITS = sorted(HAND_BOXES)


@pytest.fixture(autouse=True)
def builtin_models(tmp_path, monkeypatch):
    """The committed models only: no user model folder or override from the environment."""
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path / "user_models"))
    monkeypatch.delenv("NODEGRAPH_MODELS", raising=False)
    monkeypatch.delenv("NODEGRAPH_MANIFEST", raising=False)


def link(graph: Graph, source: str, target: str) -> None:
    graph.add_link(Link.parse(source, target))


def chain_graph(tmp_path: Path, picture: Path, frames: int, detector: dict | None = None) -> Graph:
    """picture -> FaceDetector -> FaceMarker -> FaceAligner -> FacesFileOutput (tmp_path/faces.jsonl)."""
    graph = Graph(base_dir=tmp_path)
    graph.add_node("ImageSource", {"path": str(picture), "repeat": frames}, node_id="source")
    graph.add_node("FaceDetector", detector or {}, node_id="detector")
    graph.add_node("FaceMarker", {}, node_id="marker")
    graph.add_node("FaceAligner", {}, node_id="aligner")
    graph.add_node("FacesFileOutput", {"path": str(tmp_path / "faces.jsonl")}, node_id="file")
    for node in ("detector", "marker", "aligner"):
        link(graph, "source.frame", f"{node}.frame")
    link(graph, "detector.faces", "marker.faces")
    link(graph, "marker.faces", "aligner.faces")
    link(graph, "aligner.faces", "file.faces")
    return graph


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def canvas_with(picture: np.ndarray, size=(480, 640), height: int = 360, x: float = 100.0, y: float = 60.0):
    """`picture` scaled to `height` and placed with its top-left corner at (x, y) on a grey canvas."""
    scale = height / picture.shape[0]
    matrix = np.float32([[scale, 0, x], [0, scale, y]])
    canvas = np.full((*size, 3), 96, np.uint8)
    return cv2.warpAffine(picture, matrix, size[::-1], dst=canvas, borderMode=cv2.BORDER_TRANSPARENT), matrix


# -- the chain in graphs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PORTRAITS)
def test_chain_finds_one_face_with_landmarks_on_it(tmp_path, name):
    graph = chain_graph(tmp_path, MEDIA / name, frames=4)
    runner = SequentialRunner(graph, default_registry())
    report = runner.run()
    assert report.frames == 4 and not report.error
    assert all(stats["errors"] == 0 for stats in report.nodes.values()), report.nodes

    lines = read_lines(tmp_path / "faces.jsonl")
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    boxes = HAND_BOXES[name]
    for line in lines:
        assert len(line["faces"]) == 1
        face = line["faces"][0]
        assert set(face) == {"box", "score", "track_id", "landmarks"}
        assert face["track_id"] == 0 and 0.5 <= face["score"] <= 1.0
        x0, y0, x1, y1 = face["box"]
        assert x0 < x1 and y0 < y1
        points = np.array(face["landmarks"])
        assert points.shape == (468, 2)
        assert inside(points[list(lm.RIGHT_EYE_CONTOUR)].mean(axis=0), boxes["right_eye"])
        assert inside(points[list(lm.LEFT_EYE_CONTOUR)].mean(axis=0), boxes["left_eye"])
        assert inside(points[lm.MOUTH_LEFT_CORNER], boxes["mouth"])
        for part in boxes.values():
            assert inside(((part[0] + part[2]) / 2, (part[1] + part[3]) / 2), face["box"])

    # every node draws its work
    image = cv2.imread(str(MEDIA / name))
    detector_view, marker_view = runner.preview("detector"), runner.preview("marker")
    for view in (detector_view, marker_view):
        assert view.dtype == np.uint8 and view.shape == image.shape
        assert np.abs(view.astype(int) - image).sum() > 1000
    assert not np.array_equal(detector_view, marker_view)
    tiles = runner.preview("aligner")
    assert tiles.dtype == np.uint8 and tiles.shape == (128, 256, 3)


def test_face_debug_preset_runs_from_the_command_line(tmp_path, cli):
    preset = REPO / "presets" / "face_debug.json"
    assert cli("validate", preset).returncode == 0
    done = cli("run", "--sequential", preset, "--frames", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = read_lines(tmp_path / "out" / "faces.jsonl")
    assert len(lines) == 3 and all(len(line["faces"]) == 1 for line in lines)
    assert len(lines[0]["faces"][0]["landmarks"]) == 468


def test_the_multiprocess_run_matches_the_sequential_one(tmp_path):
    results = {}
    for engine in ("sequential", "multiprocess"):
        folder = tmp_path / engine
        folder.mkdir()
        graph = chain_graph(folder, MEDIA / "astronaut.png", frames=6)
        if engine == "sequential":
            report = SequentialRunner(graph, default_registry()).run()
        else:
            from nodegraph.runtime import Runtime

            report = Runtime(graph, default_registry()).run()
        assert report.frames == 6 and not report.error, report.error
        results[engine] = read_lines(folder / "faces.jsonl")
    assert [line["frame"] for line in results["multiprocess"]] == list(range(6))
    for ours, reference in zip(results["multiprocess"], results["sequential"], strict=True):
        for key in ("box", "landmarks"):
            np.testing.assert_allclose(ours["faces"][0][key], reference["faces"][0][key], atol=0.02)


# -- FaceDetector: tracking between detections --------------------------------------------------------

@pytest.fixture(scope="module")
def astronaut():
    return cv2.imread(str(MEDIA / "astronaut.png"))


def test_optical_flow_moves_box_and_keypoints_with_the_face(astronaut):
    first, _ = canvas_with(astronaut, x=100)
    moved, _ = canvas_with(astronaut, x=106, y=57)
    detector = FaceDetector("d", {"smoothing": False})
    detector.setup()
    face = detector.process(first)["faces"][0]
    (previous, scale), (current, _) = flow_image(first), flow_image(moved)
    followed = follow(previous, current, scale, face)
    np.testing.assert_allclose(followed["box"], face["box"] + np.float32([6, -3, 6, -3]), atol=0.6)
    np.testing.assert_allclose(followed["keypoints"], face["keypoints"] + np.float32([6, -3]), atol=0.6)
    assert face["box"][0] != followed["box"][0]  # the input record is not changed


@pytest.mark.parametrize("smoothing", [False, True])
def test_tracked_boxes_follow_a_moving_face(astronaut, smoothing):
    detect_every = 8
    tracked = FaceDetector("tracked", {"detect_every": detect_every, "smoothing": smoothing})
    reference = FaceDetector("reference", {"detect_every": 1, "smoothing": False})  # the model on every frame
    tracked.setup()
    reference.setup()
    start = time.monotonic()
    centres = {"tracked": [], "reference": []}
    for i in range(2 * detect_every + 1):
        frame, _ = canvas_with(astronaut, x=60 + 4 * i, y=40 + 2 * i)  # 4 px right, 2 px down a frame
        for name, node in (("tracked", tracked), ("reference", reference)):
            node.frame_id, node.capture_time = i, start + i / 30
            faces = node.process(frame)["faces"]
            assert len(faces) == 1 and faces[0]["track_id"] == 0
            box = faces[0]["box"]
            centres[name].append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    tracked_c, reference_c = np.array(centres["tracked"]), np.array(centres["reference"])
    # the face moved 64 px right and 32 down: a box left where it was found would be far off
    np.testing.assert_allclose(tracked_c[-1] - tracked_c[0], [64, 32], atol=4)
    # the boxes stay on the face the model finds in each frame (One-Euro smoothing lags a little)
    assert np.abs(tracked_c - reference_c).max() < (8.0 if smoothing else 4.0)
    if not smoothing:  # between detections the flow moves the box by the face's motion
        motion = np.arange(detect_every)[:, None] * [4, 2]
        np.testing.assert_allclose(tracked_c[:detect_every] - tracked_c[0], motion, atol=0.5)


def test_a_face_that_vanishes_between_detections_is_dropped(astronaut):
    detector = FaceDetector("d", {"detect_every": 30})
    detector.setup()
    frame, _ = canvas_with(astronaut)
    assert len(detector.process(frame)["faces"]) == 1
    assert detector.process(np.full_like(frame, 96))["faces"] == []


def test_detector_limits_count_and_size_and_sorts(astronaut):
    grace = cv2.imread(str(MEDIA / "grace_hopper.jpg"))
    pair = np.full((360, 640, 3), 100, np.uint8)
    pair[30:330, 20:320] = cv2.resize(astronaut, (300, 300))
    pair[:, 330:637] = cv2.resize(grace, (307, 360))

    def faces(**params):
        node = FaceDetector("d", params)
        node.setup()
        return node.process(pair)["faces"]

    both = faces(sort="left_to_right")
    assert len(both) == 2 and both[0]["box"][0] < both[1]["box"][0]
    assert sorted(f["track_id"] for f in both) == [0, 1]
    assert faces(sort="right_to_left", max_faces=1)[0]["box"][0] == pytest.approx(both[1]["box"][0], abs=1)
    smaller = min(f["box"][2] - f["box"][0] for f in both)
    assert len(faces(min_size=int(smaller) + 2)) == 1


def test_switching_the_detector_model_live(astronaut):
    detector = FaceDetector("d", {})
    detector.setup()
    frame, _ = canvas_with(astronaut, height=480, x=80, y=0)  # close up, as the short range model wants
    assert len(detector.process(frame)["faces"]) == 1
    detector.set_param("model", "blazeface_short")
    assert detector.blazeface.model == "short"
    assert len(detector.process(frame)["faces"]) == 1


# -- FaceMarker and FaceAligner ------------------------------------------------------------------------

def test_marker_drops_a_box_with_no_face_and_leaves_its_input_alone(astronaut):
    frame, _ = canvas_with(astronaut, x=200)
    detector, marker = FaceDetector("d", {}), FaceMarker("m", {})
    detector.setup()
    marker.setup()
    faces = detector.process(frame)["faces"]
    keypoints = np.float32([[30, 330], [70, 330], [50, 345], [50, 360], [15, 335], [85, 335]])
    empty_corner = {"box": np.float32([10, 300, 90, 380]), "score": 0.9, "track_id": 99,
                    "keypoints": keypoints}
    marked = marker.process(frame, [*faces, empty_corner])["faces"]
    assert len(marked) == 1 and marked[0]["track_id"] == faces[0]["track_id"]
    assert marked[0]["landmarks"].shape == (468, 3) and marked[0]["landmarks"].dtype == np.float32
    assert marked[0]["pose"].shape == (3,) and np.abs(marked[0]["pose"]).max() < 15  # a frontal portrait
    assert "landmarks" not in faces[0]


def test_marker_smoothing_holds_a_still_face_steady(astronaut):
    frame, _ = canvas_with(astronaut)
    noise = np.random.default_rng(3)
    detector, marker = FaceDetector("d", {"smoothing": False}), FaceMarker("m", {})
    raw = FaceMarker("raw", {"smoothing": False})
    for node in (detector, marker, raw):
        node.setup()
    smooth_points, raw_points = [], []
    for i in range(12):
        noisy = np.clip(frame + noise.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)  # sensor noise
        for node in (detector, marker, raw):
            node.frame_id, node.capture_time = i, 100.0 + i / 30
        faces = detector.process(noisy)["faces"]
        smooth_points.append(marker.process(noisy, faces)["faces"][0]["landmarks"][:, :2])
        raw_points.append(raw.process(noisy, faces)["faces"][0]["landmarks"][:, :2])
    jitter = {name: np.abs(np.diff(np.array(points)[4:], axis=0)).mean()
              for name, points in (("smooth", smooth_points), ("raw", raw_points))}
    assert jitter["smooth"] < 0.5 * jitter["raw"], jitter


def test_aligner_crop_matrix_and_mask_agree(astronaut):
    frame, _ = canvas_with(astronaut)
    detector, marker = FaceDetector("d", {}), FaceMarker("m", {})
    aligner = FaceAligner("a", {"resolution": 160})
    for node in (detector, marker, aligner):
        node.setup()
    marked = marker.process(frame, detector.process(frame)["faces"])["faces"]
    bare = {"box": np.float32([0, 0, 10, 10]), "score": 0.5}  # no landmarks: passes through as it is
    face, passed = aligner.process(frame, [*marked, bare])["faces"]
    assert passed is bare
    assert face["crop"].shape == (160, 160, 3) and face["crop"].dtype == np.uint8
    assert face["matrix"].dtype == np.float32 and face["matrix"].shape == (2, 3)
    np.testing.assert_array_equal(face["crop"], cv2.warpAffine(frame, face["matrix"].astype(np.float64),
                                                               (160, 160), borderMode=cv2.BORDER_REPLICATE))
    mask = face["crop_mask"]
    assert mask.dtype == np.float32 and mask.shape == (160, 160) and mask.min() == 0 and mask.max() == 1
    nose = face["matrix"][:, :2] @ face["landmarks"][lm.NOSE_TIP, :2] + face["matrix"][:, 2]
    assert mask[int(nose[1]), int(nose[0])] == 1  # the nose is inside the face hull
    assert 0.3 < nose[0] / 160 < 0.7 and 0.3 < nose[1] / 160 < 0.7
    assert "crop" not in marked[0]


# -- corrupt models ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("node_type", "model"),
                         [("FaceDetector", "blazeface_full"), ("FaceMarker", "facemesh")])
def test_a_corrupt_model_stops_the_node_with_the_verify_message(tmp_path, monkeypatch, node_type, model):
    override = tmp_path / "override"
    override.mkdir()
    copy = Path(shutil.copy(REPO / "models" / f"{model}.onnx", override))
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setenv("NODEGRAPH_MODELS", str(override))

    verify_message = next(r for r in modelhub.verify() if r.name == model).message
    assert "corrupt" in verify_message and str(copy) in verify_message
    node = default_registry().get(node_type)("n", {})
    with pytest.raises(InvalidInput) as caught:
        node.setup()
    assert verify_message in str(caught.value)
    assert f"node 'n' ({node_type})" in str(caught.value)


def test_a_corrupt_model_fails_the_command_line_run_as_verify_says(tmp_path, cli):
    override = tmp_path / "override"
    override.mkdir()
    copy = Path(shutil.copy(REPO / "models" / "blazeface_full.onnx", override))
    data = bytearray(copy.read_bytes())
    data[1000] ^= 0xFF
    copy.write_bytes(bytes(data))
    env = {"NODEGRAPH_MODELS": str(override), "NODEGRAPH_USER_MODELS": str(tmp_path / "user")}
    verify = cli("models", "verify", env=env)
    assert verify.returncode == 2
    line = next(line for line in verify.stdout.splitlines() if line.startswith("FAILED   blazeface_full: "))
    message = line.removeprefix("FAILED   blazeface_full: ")
    preset = REPO / "presets" / "face_debug.json"
    run = cli("run", "--sequential", preset, "--frames", "2", cwd=tmp_path, env=env)
    assert run.returncode == 2
    assert message in run.stderr
    written = tmp_path / "out" / "faces.jsonl"
    assert not written.exists() or not written.read_text()


# -- the chain benchmark -------------------------------------------------------------------------------

def test_bench_chain_reports_ms_per_node_and_their_sum(cli):
    done = cli("bench", "chain", "--json", "--frames", "3")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["frame"] == "640x480, one face" and result["target_ms"] == 10
    for variant in ("default", "short_range", "detect_every_2", "tracking_frames"):
        nodes = result[variant]["nodes"]
        assert list(nodes) == ["detector", "marker", "aligner"]
        assert all(t["ms"] > 0 and t["cpu_ms"] >= 0 for t in nodes.values())
        assert result[variant]["sum_ms"] == pytest.approx(sum(t["ms"] for t in nodes.values()), abs=0.01)
    assert result["short_range"]["detector_params"] == {"model": "blazeface_short"}


def test_a_run_that_never_finds_a_face_says_so_naming_the_detector(tmp_path, cli):
    """A frame with no face ran to "done" with its output the same as its input and no word why."""
    empty = tmp_path / "sky.png"
    cv2.imwrite(str(empty), np.full((480, 640, 3), (200, 150, 90), np.uint8))
    preset_file = tmp_path / "faces.json"
    for picture, said in ((empty, True), (MEDIA / "astronaut.png", False)):
        preset_file.write_text(json.dumps({
            "format": "nodegraph-preset", "version": 1, "name": "faces",
            "nodes": [{"id": "source", "type": "ImageSource", "params": {"path": str(picture), "repeat": 3}},
                      {"id": "finder", "type": "FaceDetector", "params": {}},
                      {"id": "file", "type": "FacesFileOutput", "params": {"path": str(tmp_path / "faces.jsonl")}}],
            "links": [{"from": "source.frame", "to": "finder.frame"}, {"from": "finder.faces", "to": "file.faces"}]}))
        result = cli("run", preset_file, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        word = "node 'finder' (FaceDetector): no face found in any of the 3 frames"
        assert (word in result.stderr) == said, result.stderr
