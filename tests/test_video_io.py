"""Video through PyAV: frame-exact starts, every codec written and read back, odd sizes kept, and files that
play after the writer is killed (a frame's time, at variable frame rates too: test_video_timing.py)."""

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from clips import frame_index, indexed_frame, read_frames, write_clip
from conftest import repo_env, run_cli
from test_cli import node, write_preset
from test_outputs import copy_video

from nodegraph.graph import Graph, Link
from nodegraph.sequential import SequentialRunner
from nodes.frame_count import count_frames
from nodes.source_times import SourceTimes
from nodes.video_io import CODECS, VideoWriter, encoder_problem
from nodes.video_read import VideoReader


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory):
    """300 indexed frames in H.264 with B-frames and one keyframe every 250 frames: seeking must decode."""
    return write_clip(tmp_path_factory.mktemp("clips") / "h264.mp4", frames=300, codec="h264")


@pytest.mark.parametrize("start", [0, 1, 37, 149, 250, 251, 299])
def test_opening_at_frame_n_gives_exactly_frame_n(h264_clip, start):
    reader = VideoReader(h264_clip, start)
    try:
        first = [reader.read() for _ in range(min(3, 300 - start))]
        assert [frame_index(image) for image, _ in first] == list(range(start, start + len(first)))
        assert first[0][1] == pytest.approx(start / 30, abs=1e-6)
        assert reader.frames == 300 - start
    finally:
        reader.close()


# 30 fps, then 60 fps, then 10 fps: as a phone records when the light changes


@pytest.mark.parametrize("start", [1, 29, 45, 149, 251, 299])
def test_an_mpeg_ts_clip_opens_at_frame_n_exactly(tmp_path_factory, start):
    # MPEG-TS has no index: its demuxer's seek lands on any picture, and what came before the next keyframe
    # was lost (a start of 45 began at frame 50); a start of 29 (decoded before the first keyframe is shown) at
    # frame 176
    folder = tmp_path_factory.getbasetemp() / "ts"
    path = folder / "h264.ts"
    if not path.exists():
        folder.mkdir(exist_ok=True)
        write_clip(path, frames=300, codec="h264")
    reader = VideoReader(str(path), start)
    try:
        got = [frame_index(image) for image, _ in iter(reader.read, None)]
    finally:
        reader.close()
    assert got == list(range(start, 300))


def test_a_recording_cut_mid_way_opens_at_frame_n_of_those_that_decode(tmp_path):
    # its first pictures, before a keyframe, cannot decode: counted as frames, a start of 10 began 10 frames
    # after the one asked for, and the reader said it held more frames than came
    whole = write_clip(tmp_path / "whole.ts", frames=120, codec="h264", gop=30)
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[len(data) // 3 // 188 * 188:])  # whole MPEG-TS packets from a third in
    shown, from_10 = (VideoReader(str(cut), start) for start in (0, 10))
    try:
        indices = [frame_index(image) for image, _ in iter(shown.read, None)]
        assert from_10.frames == len(indices) - 10
        assert [frame_index(image) for image, _ in iter(from_10.read, None)] == indices[10:]
    finally:
        shown.close()
        from_10.close()


def test_source_times_follow_b_frames_a_start_ids_that_skip_and_loops(h264_clip):
    with av.open(h264_clip) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
        tick = stream.time_base
    times = SourceTimes(h264_clip, float(pts[37] * tick), 30.0)
    try:
        # a realtime run drops frames: the ids that reach the writer skip, and each keeps its own time
        ids = (0, 1, 2, 5, 100, 262)
        assert [times.seconds(i) for i in ids] == [(pts[37 + i] - pts[37]) * tick for i in ids]
        assert times.seconds(3) is None  # an id asked too late
        # a looping source: the next pass begins one frame after the last, from the start frame again
        assert times.seconds(263) == (pts[299] - pts[37]) * tick + Fraction(1, 30)
        assert times.seconds(263 + 263 + 5) == 2 * ((pts[299] - pts[37]) * tick + Fraction(1, 30)) + Fraction(5, 30)
    finally:
        times.close()


def test_the_source_start_param_runs_from_that_frame(tmp_path, h264_clip):
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=h264_clip, start=123),
                                                node("out", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--sequential")
    assert result.returncode == 0, result.stderr
    pictures = sorted((tmp_path / "seq").glob("*.png"))
    assert [frame_index(cv2.imread(str(p))) for p in pictures] == list(range(123, 300))
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=h264_clip, start=300),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--sequential")
    assert result.returncode == 2
    assert (f"node 'src' (VideoSource): {h264_clip}: start frame 300 is past the end (the file has 300 "
            "frames)") in result.stderr


EXTENSION = {"ffv1": ".mkv", "prores": ".mov"}


@pytest.mark.parametrize("codec", list(CODECS))
def test_every_codec_writes_a_file_that_reads_back_in_order(tmp_path, codec):
    source = write_clip(tmp_path / "in.mkv", frames=40, codec="ffv1")
    target = tmp_path / f"out{EXTENSION.get(codec, '.mp4')}"
    report = copy_video(source, target, codec=codec, quality=18)
    assert report.frames == 40 and not report.error
    frames = read_frames(target)
    assert len(frames) == 40 == count_frames(str(target))
    assert [frame_index(f) for f in frames] == list(range(40))
    with av.open(str(target)) as container:
        assert container.streams.video[0].codec_context.codec.id == av.Codec(CODECS[codec][0], "w").id
    if codec == "ffv1":
        assert all(np.array_equal(f, indexed_frame(i)) for i, f in enumerate(frames))  # lossless


def test_odd_and_tiny_sizes_are_kept(tmp_path, caplog):
    for width, height in ((641, 479), (1, 1)):
        picture = tmp_path / f"{width}x{height}.png"
        cv2.imwrite(str(picture), cv2.resize(indexed_frame(7), (width, height)))
        graph = Graph()
        graph.add_node("ImageSource", {"path": str(picture), "repeat": 5}, node_id="src")
        graph.add_node("VideoFileOutput", {"path": str(tmp_path / f"{width}x{height}.mp4")}, node_id="out")
        graph.add_link(Link.parse("src.frame", "out.frame"))
        with caplog.at_level("WARNING", logger="nodegraph"):
            report = SequentialRunner(graph).run()
        assert report.frames == 5 and not report.error
        frames = read_frames(tmp_path / f"{width}x{height}.mp4")
        assert [f.shape for f in frames] == [(height, width, 3)] * 5
        assert f"frames are {width}x{height}; h264 in 4:2:0 needs even sizes, so this file is 4:4:4" in caplog.text


@pytest.mark.parametrize(("codec", "reason", "library_says"), [
    ("h265", "libx265: Image size is too small (1x1)", "x265 [warning]: "),
    ("av1", "libsvtav1: frames must be at least 4x4 px", None),  # not asked of SVT itself: its heap, its lines
])
def test_frames_too_small_for_the_codec_stop_the_run_saying_which_codecs_take_them(tmp_path, codec, reason,
                                                                                    library_says):
    picture, out = tmp_path / "dot.png", tmp_path / "dot.mp4"
    cv2.imwrite(str(picture), np.zeros((1, 1, 3), np.uint8))
    preset = write_preset(tmp_path / "p.json", [node("src", "ImageSource", path=str(picture), repeat=3),
                                                node("out", "VideoFileOutput", path=str(out), codec=codec)],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 3, result.stderr
    assert (f"{out}: cannot encode 1x1 frames as {codec}: {reason}") in result.stderr
    assert "; choose another codec (h264 and ffv1 take frames of any size)" in result.stderr
    assert "4:4:4" not in result.stderr  # said before the encoder refused the frames, as if they were written
    assert "Svt[" not in result.stderr and "x265 [" not in result.stderr  # the encoders' own lines: for -v
    assert "Traceback" not in result.stderr and not out.exists()
    assert library_says is None or library_says in run_cli("run", preset, "-v").stderr


def test_a_killed_writer_leaves_a_file_that_plays_and_the_run_says_how_many_frames_it_holds(tmp_path, h264_clip):
    out = tmp_path / "out.mp4"
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=h264_clip, realtime=True),
                                                node("out", "VideoFileOutput", path=str(out))],
                          [("src.frame", "out.frame")])
    command = [sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--mode", "lossless"]
    process = subprocess.Popen(command, env=repo_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lock = tmp_path / ".out.mp4.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.exists() and len(lock.read_text().split()) == 2):
            time.sleep(0.05)
        pid, temporary = lock.read_text().split()
        while time.monotonic() < deadline and os.path.getsize(temporary) == 0:
            time.sleep(0.05)
        time.sleep(2.5)  # a few one-second fragments of the 10 s clip are written
        os.kill(int(pid), signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 3, stderr
    frames = read_frames(out)
    held = f"node 'out' (VideoFileOutput): its writer (pid {pid}) was stopped before it closed {out}; what it " \
           f"wrote is kept there; it holds {len(frames)} frames (up to its last whole fragment)"
    assert held in stderr
    assert 30 <= len(frames) < 300
    assert [frame_index(f) for f in frames] == list(range(len(frames)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "p.json"]  # no temporary, no lock left


def test_a_hardware_encoder_that_cannot_open_falls_back_to_software_and_says_why(tmp_path, caplog):
    source = write_clip(tmp_path / "in.mkv", frames=10, codec="ffv1")
    with caplog.at_level("WARNING", logger="nodegraph"):
        report = copy_video(source, tmp_path / "out.mp4", hardware=True)
    assert report.frames == 10 and len(read_frames(tmp_path / "out.mp4")) == 10
    fell_back = [r.getMessage() for r in caplog.records if r.getMessage().endswith("; using libx264")]
    hardware = [name for name in CODECS["h264"][1] if name in av.codecs_available]
    assert fell_back or not hardware, caplog.text  # where a hardware encoder opened, there is no fallback
    for line in fell_back:
        assert all(f"{name}: " in line for name in hardware), line


def test_a_looping_source_restarts_at_its_start_frame_and_its_timestamps_go_on(tmp_path):
    from nodes.sources import VideoSource

    source = VideoSource("src", {"path": write_clip(tmp_path / "ten.mp4", frames=10, codec="h264"), "loop": True,
                                 "start": 7})
    source.setup()
    try:
        got = []
        for i in range(8):
            source.frame_id = i
            got.append(frame_index(source.process()["frame"]))
            assert source._last_time == pytest.approx((7 + i) / 30, abs=1e-6)
    finally:
        source.close()
    assert got == [7, 8, 9, 7, 8, 9, 7, 8]


@pytest.mark.parametrize("degrees, mirror, shown", [
    (90, {}, lambda image: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)),
    (180, {}, lambda image: cv2.rotate(image, cv2.ROTATE_180)),
    (270, {}, lambda image: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)),
    (-90, {}, lambda image: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)),
    (0, {"hflip": True}, lambda image: cv2.flip(image, 1)),
    (0, {"vflip": True}, lambda image: cv2.flip(image, 0))])
def test_a_rotated_or_mirrored_clip_is_read_and_written_as_players_show_it(tmp_path, degrees, mirror, shown):
    # a phone's portrait clip: landscape pictures and a display matrix, which players apply
    source = tmp_path / "phone.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "bgr0"
        stream.set_display_rotation(degrees, **mirror)
        for i in range(5):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")))
        container.mux(stream.encode(None))
    reader = VideoReader(str(source))
    try:
        image, _ = reader.read()
    finally:
        reader.close()
    assert np.array_equal(image, shown(indexed_frame(0)))
    target = tmp_path / "out.mkv"
    assert copy_video(source, target, codec="ffv1").frames == 5
    with av.open(str(target)) as container:
        frames = list(container.decode(video=0))
    assert [frame.rotation for frame in frames] == [0] * 5  # upright in the pictures, no rotation to apply
    assert all(np.array_equal(frame.to_ndarray(format="bgr24"), shown(indexed_frame(i)))
               for i, frame in enumerate(frames))


SMPTE170M, TV_RANGE = 6, 1  # FFmpeg's AVCOL_SPC_SMPTE170M (BT.601) and AVCOL_RANGE_MPEG (16-235)


@pytest.mark.parametrize("codec, ext, grey_error", [("h264", ".mp4", 0), ("prores", ".mov", 1)])
def test_written_colours_come_back_and_the_file_says_how_they_are_coded(tmp_path, codec, ext, grey_error):
    # FFmpeg's own bgr24 to yuv420p made every 4:2:0 file 2-5 levels dark and green (128 grey came back as
    # 123,126,124), and left the matrix unsaid: players take untagged HD for BT.709. ProRes takes its tags from
    # each frame, not from the encoder's settings
    greys = [(v, v, v) for v in (0, 16, 128, 235, 255)]
    colours = [(40, 200, 90), (200, 60, 30), (30, 60, 200)]
    target = tmp_path / f"c{ext}"
    writer = VideoWriter(str(target), ext, codec, 30.0, 0, "ultrafast", False, None, None, "test")
    for colour in greys + colours:
        writer.write(np.full((64, 96, 3), colour, np.uint8))
    writer.close()
    with av.open(str(target)) as container:
        coded = container.streams.video[0].codec_context
        tags = coded.colorspace, coded.color_range
        shown = [tuple(frame.to_ndarray(format="bgr24")[32, 48]) for frame in container.decode(video=0)]
    assert all(abs(int(a) - b) <= grey_error for got, grey in zip(shown[:len(greys)], greys, strict=True)
               for a, b in zip(got, grey, strict=True)), shown
    assert all(abs(int(a) - b) <= 2 for got, colour in zip(shown[len(greys):], colours, strict=True)
               for a, b in zip(got, colour, strict=True)), shown
    assert tags == (SMPTE170M, TV_RANGE)


def test_camera_jpeg_frames_with_exif_are_read(tmp_path):
    # FFmpeg 8 gives a JPEG's EXIF as frame side data of a type PyAV does not know, and reading any side data
    # (the display matrix) raised "31 is not a valid Type": the clip could not be read at all
    exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 4
    app1 = b"\xff\xe1" + (8 + len(exif)).to_bytes(2, "big") + b"Exif\x00\x00" + exif
    path = tmp_path / "camera.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuvj420p"
        for i in range(5):
            jpeg = cv2.imencode(".jpg", indexed_frame(i))[1].tobytes()
            packet = av.Packet(jpeg[:2] + app1 + jpeg[2:])
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 10)
            container.mux(packet)
    reader = VideoReader(str(path))
    frames = []
    while (decoded := reader.read()) is not None:
        frames.append(decoded[0])
    reader.close()
    assert [frame_index(frame) for frame in frames] == list(range(5))


def test_h265_runs_quietly(tmp_path, h264_clip):
    # a probe of the encoder's time base opened x265 without its log level: 20 lines of banner on every run
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=h264_clip),
                                                node("out", "VideoFileOutput", path=str(tmp_path / "h.mp4"),
                                                     codec="h265")], [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--frames", 3)
    assert result.returncode == 0, result.stderr
    assert "x265 [" not in result.stderr and len(read_frames(tmp_path / "h.mp4")) == 3


def test_pixels_that_are_not_square_are_read_as_players_show_them(tmp_path):
    # the sample aspect ratio was dropped: an anamorphic 16:9 clip was read, swapped and written squeezed to 4:3
    path = tmp_path / "anamorphic.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for i in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")))
        container.mux(stream.encode(None))
    reader = VideoReader(str(path))
    frames = [reader.read()[0] for _ in range(3)]
    reader.close()
    assert [frame.shape for frame in frames] == [(120, 214, 3)] * 3  # 213.3, made even: files stay 4:2:0
    assert [frame_index(frame) for frame in frames] == [0, 1, 2]


@pytest.mark.parametrize("codec, ext", [("mp4v", ".mp4"), ("h264", ".mp4")])
def test_odd_sizes_are_written(tmp_path, codec, ext):
    # OpenCV's BGR to I420 takes even sizes only: mp4v at 641x361 failed on every frame, and wrote no file
    writer = VideoWriter(str(tmp_path / f"odd{ext}"), ext, codec, 30.0, 23, "ultrafast", False, None, None, "test")
    for i in range(3):
        writer.write(indexed_frame(i, 161, 121))
    writer.close()
    frames = read_frames(tmp_path / f"odd{ext}")
    assert [frame.shape for frame in frames] == [(121, 161, 3)] * 3
    assert [frame_index(frame) for frame in frames] == [0, 1, 2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads' scheduling is read from /proc")
def test_an_av1_encoder_leaves_no_thread_at_realtime_priority(tmp_path):
    # SVT-AV1 opened by root made the opening thread and its own realtime (SCHED_FIFO 99): the suite's process
    # then kept a busy process it started off the CPU for good, and a run could hold a machine's cores
    from nodes.kept_scheduling import REALTIME, thread_policies
    assert encoder_problem("libsvtav1", 64, 64, "yuv420p", Fraction(30), {}) == ""
    writer = VideoWriter(str(tmp_path / "a.mkv"), ".mkv", "av1", 30.0, 0, "ultrafast", False, None, None, "test")
    try:
        writer.write(np.zeros((64, 64, 3), np.uint8))
        assert not REALTIME & set(thread_policies().values())
    finally:
        writer.close()
    assert os.sched_getscheduler(0) not in REALTIME


def test_a_clip_whose_frames_change_size_mid_way_says_so_when_they_do(tmp_path):
    # a landscape recording joined to a portrait one: the portrait frames were fitted into the first size
    # without a word when the change came after the third frame
    parts = [write_clip(tmp_path / "wide.ts", frames=12, width=160, height=120, codec="h264"),
             write_clip(tmp_path / "tall.ts", frames=12, width=120, height=160, codec="h264")]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(open(part, "rb").read() for part in parts))
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=str(joined)),
                                                node("out", "VideoFileOutput", path=str(tmp_path / "out.mp4"))],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 0, result.stderr
    assert (f"node 'src' (VideoSource): {joined}: frame 12 is 120x160 where the first frame is 160x120: frames of "
            "another size are scaled to fit and padded with black") in result.stderr
    assert [frame.shape for frame in read_frames(tmp_path / "out.mp4")] == [(120, 160, 3)] * 24
