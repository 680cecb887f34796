"""A realtime run whose source's own stage is slower than the source's frame rate skips to the frame due
now, as a camera gives only its newest frame: the stream keeps to real time, the skipped frames are counted
as the source's drops, and each frame written keeps its own time. (Frames came late, one after the other:
a 4 s clip took 13 s, with no drop and a latency that hid the lag.)"""

import os
import signal
from fractions import Fraction
from pathlib import Path

import av
import cv2
from clips import frame_index, write_clip
from runtime_nodes import build, registry, run_in_thread, wait_until

from nodegraph.runtime import Runtime

REGISTRY = registry()
REPO_MEDIA = Path(__file__).resolve().parent.parent / "presets" / "media"


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


def test_two_paced_sources_at_different_rates_go_at_the_slower_one_without_drops(tmp_path):
    # the stage skipped to the faster source's due frame, asking the slower for frames not due yet: 369 of
    # 600 frames dropped, 8 s of latency, on an idle stage
    pattern = {"width": 64, "height": 48, "frames": 45, "realtime": True}
    graph = build([("fast", "TestPattern", {**pattern, "fps": 60.0}, "a"),
                   ("slow", "TestPattern", {**pattern, "fps": 30.0}, "a"),
                   ("mix", "FrameCompose", {}, "a"),
                   ("out", "NullOutput", {}, "a")],
                  ["fast.frame -> mix.frame", "slow.frame -> mix.second_frame", "mix.frame -> out.frame"])
    report = Runtime(graph, REGISTRY).run()
    assert not report.error and report.elapsed_s >= 1.3  # 45 frames at 30 fps: 1.5 s
    assert report.frames + sum(n["drops"] for n in report.nodes.values()) == 45
    assert report.nodes["fast"]["drops"] == 0 and report.nodes["slow"]["drops"] <= 3
    assert sorted(report.latency_ms)[len(report.latency_ms) // 2] < 100


def test_a_frame_limit_is_as_far_as_a_late_stage_skips(tmp_path):
    # frames and drops of a --frames 100 run came to more than 100
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0, "fps": 30.0, "realtime": True},
                    "a"),
                   ("slow", "SlowFrame", {"delay_ms": 250.0}, "a"),
                   ("out", "NullOutput", {}, "a")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    report = Runtime(graph, REGISTRY, frames=32).run()  # ids about 0, 8, 15, 23, 30, then 38: past 32
    assert not report.error and report.nodes["src"]["drops"] > 0
    assert report.frames + report.nodes["src"]["drops"] == 32


def test_a_video_source_started_far_in_keeps_its_length_and_reads_that_frame(tmp_path):
    # a restarted stage's source seeks; the reader it opens counts the frames from there, and the source took
    # that for its length: the stage then stopped skipping where the shortened stream seemed to end
    clip = write_clip(tmp_path / "in.mp4", frames=120, fps=30.0, codec="h264")
    source = REGISTRY.get("VideoSource")("src", {"path": clip, "realtime": True})
    source.setup()
    try:
        source.frame_id = 100
        frame = source.process()["frame"]
        assert frame_index(frame) == 100 and source.length() == 120
    finally:
        source.close()


def test_a_late_folder_source_counts_only_the_pictures_it_can_read(tmp_path):
    # frames and drops came to every file of the folder, the unreadable one too
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(30):
        cv2.imwrite(str(folder / f"p{i:02d}.png"), cv2.resize(cv2.imread(str(REPO_MEDIA / "astronaut.png")), (64, 48)))
    (folder / "p00.png").write_bytes(b"not a picture")  # met first: a late stage may skip past others unread
    graph = build([("src", "FolderSource", {"path": str(folder), "fps": 30.0}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 100.0}, "a"),
                   ("out", "NullOutput", {}, "a")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    report = Runtime(graph, REGISTRY).run()
    assert not report.error and report.nodes["src"]["drops"] > 0
    assert report.frames + report.nodes["src"]["drops"] == 29
