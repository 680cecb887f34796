"""FaceSelector: which faces go down a branch, by order, index and count, kept by track id when sticky, and
two selectors sending two faces of one picture down two branches."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_face_nodes import MEDIA, builtin_models, link, read_lines  # noqa: F401 (builtin_models: autouse)

from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph
from nodegraph.registry import default_registry
from nodegraph.sequential import SequentialRunner
from nodes.select import FaceSelector


def test_selectors_send_different_faces_down_different_branches(tmp_path):
    astronaut, grace = (cv2.imread(str(MEDIA / n)) for n in ("astronaut.png", "grace_hopper.jpg"))
    pair = np.full((360, 640, 3), 100, np.uint8)
    pair[30:330, 20:320] = cv2.resize(astronaut, (300, 300))
    pair[:, 330:637] = cv2.resize(grace, (307, 360))
    cv2.imwrite(str(tmp_path / "pair.png"), pair)

    graph = Graph(base_dir=tmp_path)
    graph.add_node("ImageSource", {"path": str(tmp_path / "pair.png"), "repeat": 2}, node_id="source")
    graph.add_node("FaceDetector", {}, node_id="detector")
    link(graph, "source.frame", "detector.frame")
    for side in ("leftmost", "rightmost"):
        graph.add_node("FaceSelector", {"by": side}, node_id=side)
        graph.add_node("FacesFileOutput", {"path": str(tmp_path / f"{side}.jsonl")}, node_id=f"{side}_file")
        link(graph, "detector.faces", f"{side}.faces")
        link(graph, f"{side}.faces", f"{side}_file.faces")
    report = SequentialRunner(graph, default_registry()).run()
    assert report.frames == 2 and not report.error

    for side, (low, high) in (("leftmost", (0, 320)), ("rightmost", (330, 640))):
        for line in read_lines(tmp_path / f"{side}.jsonl"):
            assert len(line["faces"]) == 1
            x0, _, x1, _ = line["faces"][0]["box"]
            assert low <= (x0 + x1) / 2 <= high, side


def record(x: float, y: float, side: float, track_id: int) -> dict:
    return {"box": np.float32([x - side / 2, y - side / 2, x + side / 2, y + side / 2]), "score": 0.9,
            "keypoints": np.zeros((6, 2), np.float32), "track_id": track_id}


def selector(**params) -> FaceSelector:
    node = FaceSelector("select", params)
    node.setup()
    return node


def test_selector_orders_index_and_count():
    faces = [record(100, 300, 40, 0), record(500, 100, 80, 1), record(330, 250, 60, 2)]
    frame = np.zeros((480, 640, 3), np.uint8)

    def ids(node, **extra):
        return [f["track_id"] for f in node.process(faces, **extra)["faces"]]

    assert ids(selector(by="index", index=1, count=2)) == [1, 2]
    assert ids(selector(by="largest")) == [1]
    assert ids(selector(by="largest", index=1)) == [2]
    assert ids(selector(by="leftmost", count=3)) == [0, 2, 1]
    assert ids(selector(by="rightmost")) == [1]
    assert ids(selector(by="topmost")) == [1]
    assert ids(selector(by="nearest_centre"), frame=frame) == [2]
    assert ids(selector(by="index", index=5)) == []
    with pytest.raises(InvalidInput, match="'frame' input"):
        selector(by="nearest_centre").process(faces)


def test_sticky_selector_keeps_its_face_when_the_order_changes():
    def kept(node, faces):
        return [f["track_id"] for f in node.process(faces)["faces"]]

    sticky, plain = selector(by="largest", sticky=True), selector(by="largest")
    assert kept(sticky, [record(100, 100, 50, 7), record(400, 100, 48, 8)]) == [7]
    # face 8 grows past face 7: a plain selector switches, the sticky one stays on 7
    assert kept(sticky, [record(100, 100, 50, 7), record(400, 100, 52, 8)]) == [7]
    assert kept(plain, [record(100, 100, 50, 7), record(400, 100, 52, 8)]) == [8]
    assert kept(sticky, [record(400, 100, 52, 8)]) == [8]  # 7 left


def test_two_faces_preset_swaps_a_face_alone_in_view_once():
    """With one face in view, both selectors of two_faces.json used to keep it (leftmost and rightmost are then
    the same face): it was swapped twice, and the second identity won."""
    preset = json.loads((Path(__file__).parent.parent / "presets" / "two_faces.json").read_text())
    params = {n["id"]: n["params"] for n in preset["nodes"]}
    left, right = selector(**params["select_left"]), selector(**params["select_right"])

    def kept(faces):
        return tuple([f["track_id"] for f in node.process(faces)["faces"]] for node in (left, right))

    assert kept([record(100, 200, 80, 1), record(500, 200, 80, 2)]) == ([1], [2])
    assert kept([record(500, 200, 80, 2)]) == ([2], [])
    assert kept([]) == ([], [])
