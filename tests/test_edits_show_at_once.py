"""Edits show at once: a param edit while no new frame comes (a source 1 s between frames) runs the
last frame again through the edited node and what it feeds in its stage, so the previews show the
edit; the rings get nothing, so the outputs get no extra frame and no node counts the replay."""

import threading

import cv2
import numpy as np
import pytest
from runtime_nodes import build, registry, wait_until

from nodegraph import shm
from nodegraph.codec import encoded_size
from nodegraph.execution import close_nodes
from nodegraph.runtime import Runtime
from nodegraph.runtime.worker import detached
from nodegraph.sequential import open_nodes
from nodegraph.shm import Ring
from nodegraph.stats import NodeStats
from nodegraph.step import Step, read_sources, replay, run_step


@pytest.mark.parametrize("mode", ["lossless", "realtime"])
def test_a_param_edit_shows_in_the_previews_before_the_next_frame(tmp_path, mode):
    log_path = tmp_path / "frames.txt"
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0, "fps": 1.0, "realtime": True},
                    "a"),
                   ("adj", "FrameAdjuster", {"brightness": 0}, "b"),
                   ("log", "FrameLog", {"path": str(log_path)}, "b")],
                  ["src.frame -> adj.frame", "adj.frame -> log.frame"])
    runtime = Runtime(graph, registry(), mode=mode, previews=True)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", runtime.run()), daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: runtime.preview("adj") is not None, 20.0)
        first = runtime.preview("adj").copy()
        # right after a new frame: the next one is a second away
        assert wait_until(lambda: not np.array_equal(runtime.preview("adj"), first), 5.0)
        before = runtime.preview("adj").copy()
        runtime.set_param("adj", "brightness", 100)
        edited = cv2.convertScaleAbs(before, alpha=1.0, beta=100)
        assert wait_until(lambda: np.array_equal(runtime.preview("adj"), edited), 0.8, step=0.01)
        assert wait_until(lambda: np.array_equal(runtime.preview("log"), edited), 0.5, step=0.01)
    finally:
        runtime.stop()
        thread.join(30)
    report = result["report"]
    written = [int(line) for line in log_path.read_text().split()]
    assert not report.error and written == sorted(set(written))  # no frame twice
    if mode == "lossless":
        assert written == list(range(len(written)))
    assert len(written) >= 2
    assert report.nodes["adj"]["frames"] == report.nodes["log"]["frames"] == len(written) == report.frames
    assert shm.segments(runtime.run_id) == []


def test_what_a_stage_keeps_for_a_replay_owns_its_memory_where_a_ring_lent_it(tmp_path):
    """A lossless packet is a view into its ring's slot, reused once released: kept values copy it
    (in records too), and leave arrays the nodes made alone."""
    value = [{"crop": np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "score": 0.5}]
    with Ring.create(shm.segment_name(shm.new_run_id(), "keep"), encoded_size(value), slots=2) as ring:
        ring.writer(lossless=True).write(0, 0.0, value)
        reader = ring.reader(0)
        packet = reader.read(5.0)
        made = np.zeros((2, 2), np.uint8)
        kept = detached({("a", "faces"): packet.value, ("b", "frame"): made})
        lent = packet.value[0]["crop"]
        crop = kept[("a", "faces")][0]["crop"]
        assert np.array_equal(crop, lent) and not np.shares_memory(crop, lent)
        assert kept[("a", "faces")][0]["score"] == 0.5 and kept[("b", "frame")] is made
        del packet, lent
        reader.release()


def test_a_replay_runs_the_edited_node_and_what_it_feeds_never_a_source_or_a_sink(tmp_path):
    graph = build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 5}),
                   ("adj", "FrameAdjuster", {"brightness": 0}),
                   ("log", "FrameLog", {"path": str(tmp_path / "frames.txt")})],
                  ["src.frame -> adj.frame", "adj.frame -> log.frame"])
    nodes = open_nodes(graph, registry())
    steps = [Step(n, node, NodeStats(), tuple((link.dst_port, link.src, link.src_port)
                                              for link in graph.links_into(n))) for n, node in nodes.items()]
    shown = []
    capture_time, values = read_sources(steps[:1], 0)
    run_step(steps, 0, capture_time, values, lambda step, what, ran: shown.append((step.id, ran)), [])
    assert shown == [("src", True), ("adj", True), ("log", True)]
    frame = values[("src", "frame")]

    shown.clear()
    replay(steps, {"src"}, 0, capture_time, values, lambda step, what, ran: shown.append(step.id))
    assert shown == []  # a source's edit shows from its next frame
    steps[1].node.set_param("brightness", 50)
    pictures = {}
    replay(steps, {"adj"}, 0, capture_time, values, lambda step, what, ran: pictures.setdefault(step.id, (what, ran)))
    edited = cv2.convertScaleAbs(frame, alpha=1.0, beta=50)
    assert np.array_equal(pictures["adj"][0]["frame"], edited) and pictures["adj"][1]
    assert np.array_equal(pictures["log"][0]["frame"], edited) and not pictures["log"][1]  # shown, not written
    assert [s.stats.frames for s in steps] == [1, 1, 1]
    close_nodes(nodes.values())
    assert (tmp_path / "frames.txt").read_text().split() == ["0"]
