"""A realtime run whose source's own stage is slower than the source's frame rate skips to the frame due
now, as a camera gives only its newest frame: the stream keeps to real time, the skipped frames are counted
as the source's drops, and each frame written keeps its own time. (Frames came late, one after the other:
a 4 s clip took 13 s, with no drop and a latency that hid the lag.)"""

import os
import signal
import time
from fractions import Fraction

import av
import cv2
from clips import frame_index, write_clip
from runtime_nodes import build, registry, run_in_thread, wait_until

from nodegraph.node import Node
from nodegraph.runtime import Runtime
from nodes.sources import Pacer

REGISTRY = registry()


def test_a_paced_pattern_behind_its_rate_skips_to_the_frame_due(tmp_path):
    log = tmp_path / "ids.txt"
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 30, "fps": 30.0, "realtime": True},
                    "a"),
                   ("slow", "SlowFrame", {"delay_ms": 100.0}, "a"),
                   ("log", "FrameLog", {"path": str(log)}, "a")],
                  ["src.frame -> slow.frame", "slow.frame -> log.frame"])
    report = Runtime(graph, REGISTRY).run()
    assert report.mode == "realtime" and not report.error
    assert report.elapsed_s < 2.0  # 1 s of stream; every frame at 100 ms would take 3 s
    ids = [int(line) for line in log.read_text().split()]
    assert ids == sorted(set(ids)) and len(ids) < 20 and ids[-1] >= 25
    source = report.nodes["src"]
    assert source["drops"] > 0 and source["frames"] + source["drops"] == 30 == report.frames + source["drops"]


def test_a_paced_video_behind_its_rate_writes_the_frames_due_each_at_its_own_time(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", frames=60, fps=30.0, codec="h264")
    out = tmp_path / "out.mp4"
    graph = build([("src", "VideoSource", {"path": clip, "realtime": True}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 100.0}, "a"),
                   ("out", "VideoFileOutput", {"path": str(out)}, "b")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    report = Runtime(graph, REGISTRY).run()
    assert report.mode == "realtime" and not report.error
    assert report.elapsed_s < 4.0  # 2 s of stream; every frame at 100 ms would take 6 s
    with av.open(str(out)) as container:
        shown = [(frame_index(frame.to_ndarray(format="bgr24")), frame.pts * frame.time_base)
                 for frame in container.decode(video=0)]
    indices = [index for index, _ in shown]
    assert indices == sorted(set(indices)) and len(indices) < 40 and indices[-1] >= 55
    assert all(seconds == Fraction(index, 30) for index, seconds in shown), shown  # a skipped frame is a gap
    assert report.frames + report.nodes["src"]["drops"] == 60


class Stamped(Node):
    """A node only as the holder of the capture time a Pacer sets."""


def test_a_frame_paced_late_is_stamped_when_it_was_due_so_its_lateness_is_latency():
    pacer, node = Pacer(), Stamped()
    pacer.pace(node, 0.0)
    time.sleep(0.2)
    pacer.pace(node, 0.1)  # due 0.1 s ago
    assert node.capture_time == pacer.start + 0.1 and node.waited_s == 0.0
    pacer.pace(node, 0.5)  # due in about 0.3 s: waited for
    assert node.waited_s > 0.2 and abs(node.capture_time - (pacer.start + 0.5)) < 0.05


def test_a_restarted_video_source_goes_on_from_the_frame_due_not_from_the_start(tmp_path):
    # the new process numbered the file's first frame after the frames already out: pictures named by frame
    # id showed the clip from its start again
    clip = write_clip(tmp_path / "in.mp4", frames=300, fps=30.0, codec="h264")
    out = tmp_path / "out"
    graph = build([("src", "VideoSource", {"path": clip, "realtime": True}, "a"),
                   ("out", "ImageSequenceOutput", {"path": str(out), "format": "bmp"}, "b")],
                  ["src.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 45, 20.0)
    os.kill(runtime.pids()["s0"], signal.SIGKILL)
    assert wait_until(lambda: runtime.snapshot().stages["s0"].restarts == 1, 10.0)
    at_restart = runtime.snapshot().frames
    assert wait_until(lambda: runtime.snapshot().frames >= at_restart + 30, 10.0)
    runtime.stop()
    thread.join(20)
    assert not result["report"].error
    written = {int(path.stem.removeprefix("frame_")): path for path in out.glob("*.bmp")}
    assert max(written) > at_restart + 30
    wrong = [(frame_id, index) for frame_id, path in sorted(written.items())
             if (index := frame_index(cv2.imread(str(path)))) != frame_id]
    assert wrong == []
