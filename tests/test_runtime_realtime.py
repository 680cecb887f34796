"""The multiprocess runtime in realtime mode, against lossless: every frame accounted for as passed or dropped,
latency kept bounded by dropping, joins that pair one frame id, and paced sources."""

import json

import cv2
import numpy as np
import pytest
from conftest import run_cli
from runtime_nodes import build, registry, run_in_thread, wait_until
from test_cli import node, write_preset
from test_runtime import assert_clean

from nodegraph import shm
from nodegraph.errors import InvalidInput
from nodegraph.runtime import Runtime

REGISTRY = registry()


def realtime_accounts(report, source: str, length: int) -> None:
    """Every frame of the stream came out or was counted as dropped, once: skipped by its source's stage
    when it fell behind (the source's drops, on a busy machine), or lost on the way."""
    assert report.nodes[source]["frames"] + report.nodes[source]["drops"] == length
    assert length == report.frames + sum(n["drops"] for n in report.nodes.values()), report.nodes


def test_realtime_drops_account_for_every_frame_and_a_join_counts_only_its_own(tmp_path):
    """The slow branch drops at its reader; the join loses none of the frames the slow branch
    brought (it is idle), and the frames the slow branch lost are not counted again at the join.
    With the join itself slow, the join drops frames and counts them."""
    size = {"width": 64, "height": 48}

    def graph(after_join_ms):
        return build([("src", "TestPattern", {**size, "frames": 120, "fps": 100.0, "realtime": True}, "a"),
                      ("adj", "FrameAdjuster", {"brightness": 40}, "b"),
                      ("slow", "SlowFrame", {"delay_ms": 30.0}, "b"),
                      ("mix", "FrameCompose", {"layout": "side_by_side"}, "c"),
                      ("late", "SlowFrame", {"delay_ms": after_join_ms}, "c")],
                     ["src.frame -> adj.frame", "adj.frame -> slow.frame", "src.frame -> mix.frame",
                      "slow.frame -> mix.second_frame", "mix.frame -> late.frame"])

    report = Runtime(graph(0.0), REGISTRY).run()
    assert report.mode == "realtime" and not report.error
    realtime_accounts(report, "src", 120)
    assert report.nodes["adj"]["drops"] > 0
    assert report.nodes["mix"]["drops"] <= 2  # not the slow branch's drops again

    report = Runtime(graph(60.0), REGISTRY).run()  # slower than the slow branch: the join drops
    assert not report.error
    realtime_accounts(report, "src", 120)
    assert report.nodes["mix"]["drops"] > 0


def test_realtime_a_finite_stream_ends_on_its_last_frame(tmp_path):
    # the end-of-stream packet was the newest, so a reader behind took it and the last frame was a drop
    log = tmp_path / "ids.txt"
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 40, "fps": 100.0, "realtime": True},
                    "a"),
                   ("slow", "SlowFrame", {"delay_ms": 30.0}, "b"),
                   ("log", "FrameLog", {"path": str(log)}, "c")],
                  ["src.frame -> slow.frame", "slow.frame -> log.frame"])
    report = Runtime(graph, REGISTRY).run()
    assert not report.error and report.nodes["slow"]["drops"] > 0
    realtime_accounts(report, "src", 40)
    assert log.read_text().split()[-1] == "39"


def paced_run(frames: int, fps: float, sink=("out", "NullOutput", {})):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": frames, "fps": fps,
                                           "realtime": True}, "a"),
                   (*sink, "b")], [f"src.frame -> {sink[0]}.frame"])
    report = Runtime(graph, REGISTRY).run()
    assert not report.error and report.elapsed_s > (frames - 1) / fps * 0.9  # paced
    return report


def test_realtime_a_sink_that_keeps_up_gets_the_first_frame(tmp_path):
    # a reader looked for its writer's ring every 50 ms: at 30 fps the first frame was often gone
    for run in range(3):
        log = tmp_path / f"ids{run}.txt"
        paced_run(8, 30.0, ("log", "FrameLog", {"path": str(log)}))
        assert log.read_text().split()[0] == "0"


def test_a_paced_source_reports_its_work_not_its_wait():
    # a source paced at 20 fps said it took 50 ms a frame: its sleep, which looked like a slow node
    report = paced_run(15, 20.0)
    assert report.nodes["src"]["ms_mean"] < 10.0, report.nodes["src"]


def test_realtime_slow_node_drops_frames_and_keeps_latency_bounded(tmp_path):
    graph = build([("src", "TestPattern", {"width": 160, "height": 120, "frames": 0, "fps": 100.0,
                                           "realtime": True}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 40.0}, "b"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "c")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 50, 20.0)
    runtime.stop()
    thread.join(20)
    report = result["report"]
    assert report.mode == "realtime" and not report.error
    assert report.nodes["slow"]["drops"] > report.nodes["slow"]["frames"] / 2  # 100 fps into ~25 fps
    latency = list(report.latency_ms)
    # bounded: about one slow frame plus waiting for the next one, and no growth over the run
    assert report.latency(95) < 120.0, report.latency(95)
    assert np.percentile(latency[-20:], 95) < 120.0
    written = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / "out").glob("*.bmp"))
    assert written == sorted(set(written)) and len(written) == report.frames  # in order, never twice
    assert_clean(runtime)


def test_realtime_join_pairs_packets_of_one_frame_id(tmp_path):
    """The compositor gets the fast branch (the source itself) and a slow one; in realtime both
    skip frames, yet each output pairs the two halves of one and the same frame."""
    size = {"width": 64, "height": 48}
    graph = build([("src", "TestPattern", {**size, "frames": 0, "fps": 100.0, "realtime": True}, "a"),
                   ("adj", "FrameAdjuster", {"brightness": 40}, "b"),
                   ("slow", "SlowFrame", {"delay_ms": 30.0}, "b"),
                   ("mix", "FrameCompose", {"layout": "side_by_side"}, "c"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "c")],
                  ["src.frame -> adj.frame", "adj.frame -> slow.frame", "slow.frame -> mix.frame",
                   "src.frame -> mix.second_frame", "mix.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 30, 20.0)
    runtime.stop()
    thread.join(20)
    report = result["report"]
    assert report.mode == "realtime" and not report.error and report.nodes["adj"]["drops"] > 0

    from nodes.sources import TestPattern

    pattern = TestPattern("p", {**size, "frames": 0, "fps": 100.0})
    pattern.setup()
    written = sorted((tmp_path / "out").glob("*.bmp"))
    assert len(written) == report.frames >= 30
    for path in written:
        pattern.frame_id = int(path.stem.split("_")[1])
        frame = pattern.process()["frame"]
        expected = np.hstack([cv2.convertScaleAbs(frame, alpha=1.0, beta=40), frame])
        assert np.array_equal(cv2.imread(str(path)), expected), path.name
    assert shm.segments(runtime.run_id) == []


def test_realtime_join_of_a_branch_slower_than_its_depth_still_pairs_every_frame_it_brings():
    # a branch 250 ms late at 100 fps brings a frame 25 packets after the source did: the join kept the source's
    # 16 newest, never found the slow frame's pair and showed nothing (1 frame of 240 with a 1 s branch at 30 fps)
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 150, "fps": 100.0,
                                           "realtime": True}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 250.0}, "b"),
                   ("mix", "FrameCompose", {"layout": "side_by_side"}, "c")],
                  ["src.frame -> slow.frame", "src.frame -> mix.frame", "slow.frame -> mix.second_frame"])
    report = Runtime(graph, REGISTRY).run()
    assert not report.error and report.nodes["slow"]["frames"] >= 4
    assert report.frames == report.nodes["slow"]["frames"] and report.nodes["mix"]["drops"] == 0, report.nodes
    realtime_accounts(report, "src", 150)


def test_lossless_mode_waits_for_the_slow_node_and_drops_nothing(tmp_path):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 40}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 5.0}, "b"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out")}, "c")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    report = runtime.run()
    assert report.frames == 40 and sum(n["drops"] for n in report.nodes.values()) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 40
    assert report.nodes["slow"]["ms_mean"] >= 5.0 and report.nodes["slow"]["ms_p95"] >= 5.0


def test_realtime_refuses_sources_pinned_into_different_processes():
    graph = build([("a", "TestPattern", {}, "one"), ("b", "TestPattern", {}, "two"),
                   ("mix", "FrameCompose", {})], ["a.frame -> mix.frame", "b.frame -> mix.second_frame"])
    with pytest.raises(InvalidInput, match="realtime mode needs every source in one process"):
        Runtime(graph, REGISTRY, mode="realtime")


@pytest.mark.parametrize("mode", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_a_short_paced_run_says_its_source_s_rate(tmp_path, mode):
    # 5 frames at 10 fps are 4 intervals, 0.4 s: the run said 12.4 fps, its frames over the time of their intervals
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=64, height=48, frames=5, fps=10.0,
                                                     realtime=True), node("out", "NullOutput")],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--stats-json", tmp_path / "stats.json", *mode)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 5 and 9.0 < stats["fps"] <= 10.2, stats
    assert f"done: 5 frames in {stats['elapsed_s']:.1f} s ({stats['fps']:.1f} fps)" in result.stderr
