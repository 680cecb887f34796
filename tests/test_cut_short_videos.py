"""A video file cut short (a kill, a full disk, `head -c`) is read as far as it goes, and the run says once
that it looks truncated, naming the node and the file, as ffmpeg warns: it was read shortened in silence. A
file no frame of which decodes, or whose index was never written, says why (damage in the middle:
test_damaged_videos.py)."""

import json
import os
import re
import subprocess
import sys
from fractions import Fraction

import av
import cv2
import pytest
from clips import frame_index, indexed_frame, write_clip
from conftest import REPO, run_cli
from spoilt_files import cut, damaged_near_end, detailed_first_keyframe_webm, first_picture_spoilt, read_through
from test_bad_media import preset_file, run, written

from nodegraph.errors import InvalidInput
from nodes.file_extent import declared_end
from nodes.video_read import VideoReader


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
    at = f"frame {len(shown)} (0:{len(shown) / 30:05.2f})"
    assert (f"node 'src' (VideoSource): {cut(clip)}: {said(len(shown))}; the file looks truncated (cut short) at "
            f"{at}; the frames before the cut are used; copy or download it again for the rest") in result.stderr
    assert result.stderr.count("truncated") == 1


def test_a_looped_file_cut_short_is_said_once_from_its_stage(tmp_path):
    clip = cut(write_clip(tmp_path / "clip.mp4", frames=60, codec="h264", options={"movflags": "faststart"}))
    result = run_cli("run", preset_file(tmp_path, "VideoSource", clip, loop=True), "--frames", "100")
    assert result.returncode == 0, result.stderr
    assert len(written(tmp_path)) == 100
    assert result.stderr.count(f"node 'src' (VideoSource): {clip}: ended at frame ") == 1


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


@pytest.mark.parametrize("fraction", [0.2, 0.6])
def test_the_same_webm_cut_short_still_looks_truncated(tmp_path, fraction):
    clip = detailed_first_keyframe_webm(tmp_path / "clip.webm")
    os.truncate(clip, int(os.path.getsize(clip) * fraction))
    said = read_through(clip)
    assert re.search(r"its header gives; the file looks truncated \(cut short\) at frame \d+ \(0:0\d\.\d\d\); the "
                     "frames before the cut are used; copy or download it again for the rest$", said), said


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


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mov", "clip.mkv", "clip.webm", "clip.avi"])
def test_the_files_structure_tells_a_cut_from_damage_near_its_end(tmp_path, name):
    # a cut leaves the file shorter than the sizes its writer put in its top-level parts (an MP4's index first,
    # cut in half, too); one damaged near its end is as long as they say, and is said damaged, not cut short
    if name.endswith("webm"):
        clip = detailed_first_keyframe_webm(tmp_path / name)
    else:
        clip = write_clip(tmp_path / name, frames=60, codec="mp4v" if name.endswith("avi") else "h264",
                          options={"movflags": "faststart"} if name.endswith(("mp4", "mov")) else None)
    with av.open(clip) as container:
        format_name = container.format.name
    assert declared_end(clip, format_name) == os.path.getsize(clip)
    for fraction in (0.3, 0.5, 0.9):
        short = cut(clip, fraction)
        assert declared_end(short, format_name) == os.path.getsize(clip) > os.path.getsize(short)
        said = read_through(short)
        assert re.search(r"the file looks truncated \(cut short\) at frame \d+ \(0:0\d\.\d\d\); the frames before the "
                         "cut are used; copy or download it again for the rest$", said), said
    spoilt = damaged_near_end(clip, 1500)
    assert declared_end(spoilt, format_name) == os.path.getsize(spoilt)
    said = read_through(spoilt)
    assert said is None or "truncated" not in said


def test_a_matroska_whose_video_starts_late_reads_whole_and_a_cut_of_it_says_where_it_ended(tmp_path):
    # Matroska's DURATION is the track's end from the file's start: a whole file whose video runs from 0.5 s to
    # 2.5 s was said to end at 2.00 s of its 2.50 s, damaged, 15 frames missing
    clip = str(tmp_path / "late.mkv")
    with av.open(clip, "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 160, 120, "yuvj420p", Fraction(1, 30)
        for index in range(60):
            frame = av.VideoFrame.from_ndarray(indexed_frame(index), "bgr24")
            frame.pts, frame.time_base = 15 + index, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    reader = VideoReader(clip)
    assert len(list(iter(lambda: reader.read(picture=False), None))) == 60
    assert reader.said_at_end() is None and reader.undecoded() == 0
    reader.close()
    reader = VideoReader(cut(clip))
    shown = [time for _, time in iter(lambda: reader.read(picture=False), None)]
    assert 20 < len(shown) < 60
    assert reader.said_at_end().startswith(f"{cut(clip)}: ended at {shown[-1] + 1 / 30:.2f} s of the 2.50 s its header "
                                           "gives; the file looks truncated")
    assert reader.undecoded() == 60 - len(shown)
    reader.close()
