"""What a run does with input it could take more than one way is said, not silent: a preset saved with
the OpenCV-era codec names still loads, with their PyAV names; an identity picture with several faces
names the face it takes."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from swap_models import OTHER_PORTRAIT, PORTRAIT

from nodegraph import preset
from nodegraph.registry import default_registry
from nodes.meshwarp import MeshWarpSwapper


@pytest.mark.parametrize(("old", "new"), [("avc1", "h264"), ("XVID", "mp4v"), ("FFV1", "ffv1"), ("MJPG", "h264")])
def test_a_preset_with_an_opencv_codec_name_loads_with_its_pyav_codec(old, new):
    graph = preset.from_dict({
        "format": "nodegraph-preset", "version": 1,
        "nodes": [{"id": "src", "type": "TestPattern", "params": {}},
                  {"id": "out", "type": "VideoFileOutput", "params": {"path": "o.mkv", "codec": old}}],
        "links": [{"from": "src.frame", "to": "out.frame"}]})
    assert graph.validate(default_registry()) == []
    assert graph.instantiate("out", default_registry()).codec == new


def test_an_identity_with_several_faces_says_which_it_takes(tmp_path, caplog):
    big, small = cv2.imread(str(PORTRAIT)), cv2.imread(str(OTHER_PORTRAIT))
    height = big.shape[0]
    small = cv2.resize(small, (small.shape[1] * height // 2 // small.shape[0], height // 2))
    canvas = np.full((height, big.shape[1] + small.shape[1], 3), 128, np.uint8)
    canvas[:, :big.shape[1]] = big
    canvas[height // 4:height // 4 + small.shape[0], big.shape[1]:] = small
    both = tmp_path / "two people.png"
    cv2.imwrite(str(both), canvas)
    caplog.set_level(logging.WARNING, logger="nodegraph")
    node = MeshWarpSwapper("swap", {"identity": str(both)})
    node.setup()
    said = [r.getMessage() for r in caplog.records if "faces in this picture" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert said[0].startswith(f"node 'swap' (MeshWarpSwapper), param 'identity': {both}: 2 faces in this picture; "
                              "the largest (")
    # the largest is the astronaut, on the left: its box starts left of the second picture
    x = int(said[0].split(" at x ")[1].split(",")[0])
    assert x < big.shape[1]
