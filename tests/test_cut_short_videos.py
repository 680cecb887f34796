"""A video file cut short (a kill, a full disk, `head -c`) or damaged in the middle is read as far as it
goes, and the run says so once, naming the node and the file, as ffmpeg warns: it was read shortened in
silence."""

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import frame_index, indexed_frame, write_clip
from conftest import REPO, run_cli
from test_bad_media import preset_file, run, written

from nodegraph.errors import InvalidInput
from nodes.video_io import VideoWriter
from nodes.video_read import VideoReader, count_frames


def read_through(path) -> str | None:
    """What a reader of the whole file says at its end."""
    reader = VideoReader(str(path))
    try:
        while reader.read(picture=False) is not None:
            pass
        return reader.said_at_end()
    finally:
        reader.close()


def cut(clip, fraction=0.6):
    """The first `fraction` of the file's bytes, as `head -c` leaves them."""
    data = open(clip, "rb").read()
    end = int(len(data) * fraction)
    assert not clip.endswith(".ts") or end % 188, "a cut between transport packets leaves a whole file"
    path = f"{clip}.cut{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data[:end])
    return path


def damaged(clip, fraction=0.5):
    """The file with 2000 bytes in the middle overwritten."""
    data = bytearray(open(clip, "rb").read())
    middle = int(len(data) * fraction)
    data[middle:middle + 2000] = bytes(range(256)) * 7 + bytes(208)
    path = f"{clip}.damaged{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path


@pytest.mark.parametrize(("name", "options", "said"), [
    ("clip.mp4", {"movflags": "faststart"}, lambda n: f"ended at frame {n} of the 60 its header gives"),  # index first
    ("clip.mkv", None, lambda n: f"ended at {n / 30:.2f} s of the 2.00 s its header gives"),  # a length, no count
    ("clip.ts", None, lambda n: "its last transport packet is cut short"),  # no length at all
])
def test_a_file_cut_short_is_said_to_look_truncated(tmp_path, name, options, said):
    clip = write_clip(tmp_path / name, frames=60, codec="h264", options=options)
    assert read_through(clip) is None  # whole, it says nothing
    result = run(tmp_path, "VideoSource", cut(clip))
    assert result.returncode == 0, result.stderr
    shown = [frame_index(cv2.imread(str(p))) for p in written(tmp_path)]
    assert 20 < len(shown) < 60 and shown == list(range(len(shown)))
    assert (f"node 'src' (VideoSource): {cut(clip)}: {said(len(shown))}; the file looks truncated (cut short); "
            "the frames before the cut are used") in result.stderr
    assert result.stderr.count("truncated") == 1


def test_frames_lost_in_the_middle_are_said_as_damage(tmp_path):
    clip = damaged(write_clip(tmp_path / "clip.avi", frames=60, codec="MJPG"))  # a picture's chunk lost, no error
    result = run(tmp_path, "VideoSource", clip)
    assert result.returncode == 0, result.stderr
    assert len(written(tmp_path)) == 59
    assert (f"node 'src' (VideoSource): {clip}: only 59 of the 60 frames its header gives decode (the others are "
            "missing before its end); the frames around the damage are used") in result.stderr


def test_a_packet_decoded_with_errors_is_said(tmp_path):
    clip = damaged(write_clip(tmp_path / "clip.ts", frames=60, codec="h264"))  # MPEG-TS marks it corrupt
    result = run(tmp_path, "VideoSource", clip)
    assert result.returncode == 0, result.stderr
    assert f"node 'src' (VideoSource): {clip}: 1 damaged packet was decoded as well as could be; " in result.stderr


def test_a_looped_file_cut_short_is_said_once_from_its_stage(tmp_path):
    clip = cut(write_clip(tmp_path / "clip.mp4", frames=60, codec="h264", options={"movflags": "faststart"}))
    result = run_cli("run", preset_file(tmp_path, "VideoSource", clip, loop=True), "--frames", "100")
    assert result.returncode == 0, result.stderr
    assert len(written(tmp_path)) == 100
    assert result.stderr.count(f"node 'src' (VideoSource): {clip}: ended at frame ") == 1


def test_frames_a_damaged_matroska_lost_are_counted(tmp_path):
    # Matroska gives a length, not a count: its demuxer skips from the damage to the next cluster, and the
    # 30 frames in between went unsaid beside the damaged packet named
    clip = damaged(write_clip(tmp_path / "clip.mkv", frames=600, codec="h264"))
    reader = VideoReader(clip)
    shown = list(iter(lambda: reader.read(picture=False), None))
    assert 500 < len(shown) < 600
    assert reader.undecoded() == 600 - len(shown)
    assert (f"{clip}: 1 damaged packet skipped (Invalid data found when processing input); {600 - len(shown)} "
            "frames are missing around the damage (the frames' times skip them); the frames around the damage are "
            "used") in reader.said_at_end()
    reader.close()
    assert read_through(write_clip(tmp_path / "whole.mkv", frames=600, codec="h264")) is None


def test_a_variable_frame_rate_is_no_frames_missing(tmp_path):
    clip = tmp_path / "vfr.mkv"  # Matroska's default duration says 1/30 s a frame; half the frames last 1/10 s
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 160, 120, "yuvj420p", Fraction(1, 30)
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")
            frame.pts, frame.time_base = i if i < 20 else 20 + (i - 20) * 3, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    reader = VideoReader(str(clip))
    assert len(list(iter(reader.read, None))) == 40
    assert reader.undecoded() == 0 and reader.said_at_end() is None
    reader.close()



def block_damaged(clip, frame):
    """The file with the first bytes of `frame`'s block (its track, time and flags) zeroed: Matroska's demuxer
    fails no packet there, it passes over the rest of the cluster to the next one."""
    with av.open(clip) as container:
        where = [packet.pos for packet in container.demux(container.streams.video[0]) if packet.size][frame]
    data = bytearray(open(clip, "rb").read())
    data[where:where + 4] = bytes(4)
    path = f"{clip}.damaged.mkv"
    open(path, "wb").write(data)
    return path


@pytest.mark.parametrize("codec", ["MJPG", "mp4v"])  # each picture a keyframe; a keyframe a cluster
def test_frames_matroska_skips_without_a_failed_packet_are_counted(tmp_path, codec):
    # the frames after the damaged block decode, and the run read 90 or 98 of 100 frames in silence
    clip = block_damaged(write_clip(tmp_path / "clip.mkv", frames=100, codec=codec), 50)
    reader = VideoReader(clip)
    shown = [frame_index(image) for image, _ in iter(reader.read, None)]
    lost = sorted(set(range(100)) - set(shown))
    assert lost and lost[0] == 50 and len(shown) + len(lost) == 100
    assert reader.undecoded() == len(lost)
    assert reader.said_at_end() == (f"{clip}: {len(lost)} frames are missing around the damage (the frames' times "
                                    "skip them); the frames around the damage are used (they may show blocks "
                                    "until the next keyframe)")
    reader.close()


def test_frames_matroska_skips_are_in_the_run_and_its_stats(tmp_path):
    clip = block_damaged(write_clip(tmp_path / "clip.mkv", frames=100, codec="MJPG"), 50)
    result = run_cli("run", preset_file(tmp_path, "VideoSource", clip), "--stats-json", tmp_path / "stats.json",
                     "--sequential")
    assert result.returncode == 0, result.stderr
    read = len(written(tmp_path))
    assert read < 100 and json.loads((tmp_path / "stats.json").read_text())["undecoded"] == 100 - read
    assert f"node 'src' (VideoSource): {clip}: {100 - read} frames are missing around the damage" in result.stderr


def test_a_part_cut_out_of_a_matroska_is_no_frames_missing(tmp_path):
    # an edit (ffmpeg's select with -fps_mode vfr) leaves a gap in a constant frame rate where no data was lost
    clip = tmp_path / "edited.mkv"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 160, 120, "yuvj420p", Fraction(1, 30)
        for i in [*range(20), *range(30, 100)]:
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    reader = VideoReader(str(clip))
    assert len(list(iter(reader.read, None))) == 90
    assert reader.undecoded() == 0 and reader.said_at_end() is None
    reader.close()


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mov", "clip.ts"])
def test_frames_other_containers_lose_are_counted_once(tmp_path, name):
    # MP4 and MOV count from their header's frame count, MPEG-TS from its damaged packets: the gaps in the
    # times are not counted again
    clip = damaged(write_clip(tmp_path / name, frames=100, codec="h264", gop=10), 0.4)
    reader = VideoReader(clip)
    shown = list(iter(lambda: reader.read(picture=False), None))
    assert len(shown) < 100 and reader.undecoded() == 100 - len(shown)
    reader.close()


@pytest.mark.parametrize("engine", [["--sequential"], []])
def test_the_frames_a_truncated_input_lacks_are_in_the_stats(tmp_path, engine):
    # the run warned of the cut, and its --stats-json said nothing of the frames it lacked
    clip = cut(write_clip(tmp_path / "clip.mp4", frames=60, codec="h264", options={"movflags": "faststart"}))
    result = run_cli("run", preset_file(tmp_path, "VideoSource", clip), "--stats-json", tmp_path / "stats.json",
                     *engine)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    read = len(written(tmp_path))
    assert 20 < read < 60 and stats["frames"] == read
    assert stats["undecoded"] == stats["nodes"]["src"]["undecoded"] == 60 - read
    assert stats["nodes"]["out"]["undecoded"] == 0


def ffv1_clip(path: Path) -> str:
    """40 numbered 160x120 frames in FFV1 as the writer makes it (slice checksums on), in `path` (.mkv or .avi)."""
    clip = str(path)
    writer = VideoWriter(clip, path.suffix, "ffv1", 30.0, 23, "ultrafast", False, None, None, clip)
    for index in range(40):
        writer.write(indexed_frame(index, 160, 120), index)
    writer.close()
    return clip


def flipped_in_packet(clip, index):
    """The file with bytes in the middle of packet `index` (the frame's data) inverted."""
    with av.open(clip) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    position, size = packets[index]
    data = bytearray(open(clip, "rb").read())
    for at in range(position + size // 2, position + size // 2 + 8):
        data[at] ^= 0xFF
    path = f"{clip}.damaged{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path


@pytest.mark.parametrize("name", ["clip.mkv", "clip.avi"])
def test_an_ffv1_frame_damaged_inside_is_refused_by_its_slices_checksums(tmp_path, name):
    # FFmpeg says a slice's CRC mismatch in its log only and shows the frame before in its place: the frame
    # decoded to wrong pixels, used and counted as whole, and so did the 17 after it (up to the next keyframe)
    clip = ffv1_clip(tmp_path / name)
    assert read_through(clip) is None  # whole (the writer's slices carry checksums), it says nothing
    result = run_cli("run", preset_file(tmp_path, "VideoSource", flipped_in_packet(clip, 12)), "--sequential",
                     "--stats-json", tmp_path / "stats.json")
    assert result.returncode == 0, result.stderr
    shown = [cv2.imread(str(p)) for p in written(tmp_path)]
    expected = [index for index in range(40) if index != 12]
    assert [frame_index(picture) for picture in shown] == expected
    assert all((picture == indexed_frame(index, 160, 120)).all()
               for picture, index in zip(shown, expected, strict=True))
    assert "1 damaged packet skipped (its slices' checksums do not match)" in result.stderr
    assert json.loads((tmp_path / "stats.json").read_text())["undecoded"] == 1


@pytest.mark.parametrize("options", [{"slicecrc": "0"}, {"level": "1"}], ids=["version 3 unchecked", "version 1"])
def test_an_ffv1_file_without_slice_checksums_reads_whole(tmp_path, options):
    # their slices end in their size alone (or carry no size): never taken for damage
    clip = str(tmp_path / "clip.mkv")
    with av.open(clip, "w") as container:
        stream = container.add_stream("ffv1", rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "bgr0"
        for index in range(10):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(index, 160, 120), "bgr24")))
        container.mux(stream.encode(None))
    reader = VideoReader(clip)
    shown = [frame_index(reader.read()[0]) for _ in range(10)]
    assert reader.read() is None and reader.said_at_end() is None and reader.undecoded() == 0
    reader.close()
    assert shown == list(range(10))


def detailed_first_keyframe_webm(path) -> str:
    """100 VP9 frames whose still corner of noise makes the first keyframe ten times the size of the pictures
    after it, as a camera's still background does."""
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(100):
            image = indexed_frame(i)
            image[-32:, -32:] = noise
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, "bgr24")))
        container.mux(stream.encode(None))
    return str(path)


def test_a_webm_damaged_soon_after_its_first_keyframe_is_said_damaged_not_cut(tmp_path):
    # the bytes a second read so far were mostly the first keyframe's: the 80% of the file after the damage
    # looked less than the rest would take, and the file was said to look truncated
    clip = damaged(detailed_first_keyframe_webm(tmp_path / "clip.webm"), 0.2)
    reader = VideoReader(clip)
    shown = list(iter(lambda: reader.read(picture=False), None))
    said = reader.said_at_end()
    reader.close()
    assert 0 < len(shown) < 30
    assert said.startswith(f"{clip}: ended at {len(shown) / 30:.2f} s of the 3.33 s its header gives, ")
    assert said.endswith("bytes before the file's end: the data there is damaged; the frames before it are used")


@pytest.mark.parametrize("fraction", [0.2, 0.6])
def test_the_same_webm_cut_short_still_looks_truncated(tmp_path, fraction):
    clip = detailed_first_keyframe_webm(tmp_path / "clip.webm")
    os.truncate(clip, int(os.path.getsize(clip) * fraction))
    said = read_through(clip)
    assert said.endswith("its header gives; the file looks truncated (cut short); the frames before the cut are used")


def first_picture_spoilt(clip, how) -> str:
    """The file cut halfway through its first picture's data (`how` "cut"), or with that data overwritten."""
    with av.open(clip) as container:
        first = next(packet for packet in container.demux(video=0) if packet.size)
        start, size = first.pos, first.size
    data = bytearray(open(clip, "rb").read())
    if how == "cut":
        data = data[:start + size // 2]
    else:
        data[start:start + size] = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = f"{clip}.{how}{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path


@pytest.mark.parametrize(("name", "how", "said"), [
    ("clip.mp4", "cut", "the file ends inside its first frame: it looks truncated"),
    ("clip.ts", "cut", "the file ends inside its first frame: it looks truncated"),
    ("clip.mp4", "damaged", "it is damaged from its first frame on (60 picture packets read, none decodes"),
    ("clip.mkv", "cut", "no picture's data was found in it: it is cut short or damaged before its first frame ends"),
])
@pytest.mark.parametrize("engine", [["--sequential"], []], ids=["sequential", "multiprocess"])
def test_a_file_no_frame_of_which_decodes_is_said_cut_or_damaged(tmp_path, name, how, said, engine):
    # it said "no frame could be decoded: the file is damaged, empty, or not a video", a guess at three things
    clip = first_picture_spoilt(write_clip(tmp_path / name, frames=60, codec="h264",
                                           options={"movflags": "faststart"} if name.endswith(".mp4") else None), how)
    result = run_cli("run", preset_file(tmp_path, "VideoSource", clip), *engine)
    assert result.returncode == 2 and not written(tmp_path)
    assert f"node 'src' (VideoSource): {clip}: no frame of it decodes: {said}" in result.stderr
    assert result.stderr.rstrip().endswith("give the whole file, or another copy of it")


def test_the_farm_says_why_no_frame_of_its_input_decodes(tmp_path):
    from nodes.farm_video import probe

    clip = first_picture_spoilt(write_clip(tmp_path / "clip.mp4", frames=60, codec="h264",
                                           options={"movflags": "faststart"}), "cut")
    with pytest.raises(InvalidInput, match=f"{clip}: no frame of it decodes: the file ends inside its first frame"):
        probe(clip)


def test_a_frame_refused_by_its_checksums_is_not_counted_for_farm_chunks_or_start_frames(tmp_path):
    # the probe counted it (40 frames), so the chunk holding it read the next chunk's first frame as its own tenth:
    # frame 20 twice in the farm's output; and start frame 15 was the 16th a run from the first frame gives
    from nodes.farm_video import probe

    clip = flipped_in_packet(ffv1_clip(tmp_path / "clip.mkv"), 12)

    def shown(reader, count=40):
        indices = []
        while len(indices) < count and (frame := reader.read()) is not None:
            indices.append(frame_index(frame[0]))
        reader.close()
        return indices

    run = shown(VideoReader(clip))
    assert run == [index for index in range(40) if index != 12]
    frames, _, times = probe(clip)
    assert frames == count_frames(clip) == len(run)
    chunks = [shown(VideoReader(clip, first, times[first]), 10) for first in range(0, frames, 10)]
    assert sum(chunks, []) == run
    assert shown(VideoReader(clip, 15), 3) == run[15:18]


KILLED_RECORDER = """
import os, sys
import av
from clips import indexed_frame
container = av.open(sys.argv[1], "w")
stream = container.add_stream("mpeg4", rate=30)
stream.width, stream.height, stream.pix_fmt, stream.options = 160, 120, "yuv420p", {"qmin": "2", "qmax": "3"}
for index in range(600):  # more than the 256 KB the writer holds before it writes
    container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(index), "bgr24")))
os._exit(1)  # killed before it finalises the file: its index is never written
"""


@pytest.mark.parametrize("name", ["cut.mp4", "cut.mov", "killed.mp4"])
def test_a_recording_cut_short_before_its_index_was_written_is_said_unfinished(tmp_path, name):
    # it said "not a video PyAV can open (moov atom not found); is it really a video?", and validate said ok
    from nodes.farm_video import probe

    if name.startswith("cut"):  # the index (moov) is written at the end: a cut takes it
        clip = cut(write_clip(tmp_path / f"clip{name[3:]}", frames=60, codec="h264"), 0.5)
    else:
        clip = str(tmp_path / name)
        subprocess.run([sys.executable, "-c", KILLED_RECORDER, clip], cwd=REPO / "tests", timeout=60)
        assert os.path.getsize(clip) > 256 * 1024  # its pictures' data reached the file
    said = (f"{clip}: the file was not finished: it ends before its index (the 'moov' atom an MP4 or MOV gets last) "
            "was written, so none of its frames can be found (moov atom not found); a recording whose program "
            "crashed or was killed is left like this: record to MKV or fragmented MP4 next time")
    validated = run_cli("validate", preset_file(tmp_path, "VideoSource", clip))
    assert validated.returncode == 2 and f"node 'src' (VideoSource), param 'path': {said}" in validated.stdout
    ran = run_cli("run", preset_file(tmp_path, "VideoSource", clip), "--sequential")
    assert ran.returncode == 2 and said in ran.stderr and not written(tmp_path)
    for opened in (VideoReader, probe):  # a VideoSource's set-up, the farm's probe
        with pytest.raises(InvalidInput) as error:
            opened(clip)
        assert str(error.value).startswith(said) and "untrunc" in str(error.value)
