"""The farm's join and probe on real chunk files, without Ray: each chunk written by the output's own writer,
as a task writes it, then joined by `nodes.farm_video.join` into the file the farm puts in place."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest
from clips import frame_index, indexed_frame, read_frames, write_clip
from test_audio_copy import clip
from test_cli import node, write_preset
from test_video_timing import shown_ms, vfr_clip

from nodegraph import preset as presets
from nodegraph.errors import InvalidInput, RunFailed
from nodes import farm_video
from nodes.source_times import SourceTimes
from nodes.video_io import VideoWriter
from nodes.video_read import VideoReader


def chunk_files(folder, ext, codec, spans, speed="veryfast", fps=30.0) -> list[str]:
    """One file per (first, end) span of indexed frames, written as a chunk's task writes it."""
    paths = []
    for k, (first, end) in enumerate(spans):
        path = str(folder / f"chunk{k}{ext}")
        writer = VideoWriter(path, ext, codec, fps, 23, speed, False, None, None, path)
        for i in range(first, end):
            writer.write(indexed_frame(i))
        writer.close()
        paths.append(path)
    return paths


def joined(tmp_path, chunks, ext, codec="h264", source=None, **output):
    """Join `chunks` as the farm joins them for an input `source` (a silent clip by default); the target's path
    and what join returned."""
    source = source or write_clip(tmp_path / "input.mkv", frames=60, codec="ffv1")
    preset = write_preset(tmp_path / "farm.json", [node("src", "VideoSource", path=str(source)),
                                                   node("out", "VideoFileOutput", path=f"out{ext}", codec=codec,
                                                        **output)], [("src.frame", "out.frame")])
    target = tmp_path / f"joined{ext}"
    frames = farm_video.join(chunks, str(target), ext, presets.load(preset), "out", str(source), str(target))
    return target, frames


def test_b_frame_chunks_in_matroska_join_whole(tmp_path):
    # Matroska stores no decoding times: the join dropped every packet without one, each chunk's keyframe
    # among them, and wrote a file of which nothing decodes while it said 56 frames
    chunks = chunk_files(tmp_path, ".mkv", "h264", [(0, 30), (30, 60)])
    target, frames = joined(tmp_path, chunks, ".mkv")
    assert frames == 60
    assert [frame_index(f) for f in read_frames(target)] == list(range(60))


def test_a_chunk_without_frames_fails_the_join_naming_it(tmp_path):
    chunks = chunk_files(tmp_path, ".mkv", "h264", [(0, 30), (30, 30)])  # the second: a task that wrote none
    with pytest.raises(RunFailed, match=r"chunk 2 of 2 \(.*chunk1\.mkv\) cannot be read .*wrote no frame"):
        joined(tmp_path, chunks, ".mkv")


def test_the_joins_messages_name_the_output_not_its_temporary_file(tmp_path, caplog):
    # they named `.clip.x1y2.partial.avi`, a hidden file that is gone once the farm ends
    caplog.set_level(logging.INFO, "nodegraph")
    source = clip(tmp_path / "clip.mkv", "libopus")  # Opus: re-encoded to AAC, which the log says, into an AVI
    preset = presets.load(write_preset(tmp_path / "farm.json", [
        node("src", "VideoSource", path=str(source)), node("out", "VideoFileOutput", path="out.avi")],
        [("src.frame", "out.frame")]))
    temporary, output = str(tmp_path / ".clip.x1y2.partial.avi"), str(tmp_path / "renders" / "clip.avi")
    chunks = chunk_files(tmp_path, ".avi", "h264", [(0, 25), (25, 50)])
    assert farm_video.join(chunks, temporary, ".avi", preset, "out", str(source), output) == 50
    assert f"{output}: the audio (opus) is re-encoded to AAC" in caplog.text
    empty = chunk_files(tmp_path, ".avi", "h264", [(0, 25), (25, 25)])
    with pytest.raises(RunFailed, match=rf"^{output}: chunk 2 of 2 \(") as failed:
        farm_video.join(empty, temporary, ".avi", preset, "out", str(source), output)
    assert "partial" not in str(failed.value) and "partial" not in caplog.text


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_av1_chunks_join(tmp_path, ext):
    # the output's stream was made from the chunk's decoder (libdav1d), which no encoder is named after:
    # UnknownCodecError at every AV1 join
    chunks = chunk_files(tmp_path, ext, "av1", [(0, 15), (15, 30)], speed="ultrafast")
    target, frames = joined(tmp_path, chunks, ext, codec="av1")
    assert frames == 30
    assert [frame_index(f) for f in read_frames(target)] == list(range(30))


def shown_at(path, index: int) -> float:
    """When the frame carrying `index` is shown (s)."""
    with av.open(str(path)) as container:
        return next(float(frame.time) for frame in container.decode(video=0)
                    if frame_index(frame.to_ndarray(format="bgr24")) == index)


def heard_from(path) -> float:
    """When the audio first gets loud (s)."""
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            loud = np.flatnonzero(np.abs(frame.to_ndarray()[0]) > 0.05)
            if loud.size:
                return float(frame.time) + loud[0] / frame.sample_rate
    raise AssertionError(f"{path}: silent")


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_the_audio_keeps_in_step_with_b_frame_video(tmp_path, ext):
    # the video kept the first chunk's B-frame delay (2 frames into an .mp4) and the audio did not: the tone
    # that starts with frame 25 came 80 ms before it, where `nodegraph run` keeps them together
    source = clip(tmp_path / "input.mkv", "aac", silent_until=1.0)  # 25 fps: frame 25 at 1.0 s
    chunks = chunk_files(tmp_path, ext, "h264", [(0, 20), (20, 50)], fps=25.0)
    target, _ = joined(tmp_path, chunks, ext, source=source)
    assert abs(shown_at(source, 25) - heard_from(source)) < 0.005
    assert abs(shown_at(target, 25) - heard_from(target)) < 0.005


def cut_without_reencoding(source, target, cut: int) -> str:
    """`source`'s packets from its first keyframe, the frames before frame `cut` hidden by an edit list: what
    `ffmpeg -ss T -i source -c copy target.mp4` writes."""
    with av.open(str(source)) as clip, av.open(str(target), "w") as out:
        video = clip.streams.video[0]
        copy = out.add_stream_from_template(video, opaque=True)
        shift = round(cut / video.average_rate / video.time_base)
        for packet in clip.demux(video):
            if packet.size:
                packet.pts -= shift
                packet.dts -= shift
                packet.stream = copy
                out.mux(packet)
    return str(target)


def test_a_clip_cut_inside_its_only_group_of_pictures_is_probed_as_run_reads_it(tmp_path):
    # its one keyframe is before the cut, hidden: the probe decoded from the first frame shown, got nothing,
    # and refused the input ("no frame could be decoded") where `nodegraph run` reads 50 frames
    source = write_clip(tmp_path / "source.mp4", frames=90, codec="h264", gop=300)
    cut = cut_without_reencoding(source, tmp_path / "cut.mp4", 40)
    frames, _, times = farm_video.probe(cut)
    assert frames == len(times) == 50
    for start in (0, 25):  # where a chunk begins, found from its mark as a task finds it
        reader = VideoReader(cut, start, times[start])
        assert [frame_index(image) for image, _ in iter(reader.read, None)] == list(range(40 + start, 90))
        reader.close()


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_an_h265_chunk_of_one_frame_is_written_and_joined(tmp_path, ext):
    # x265 given one frame returned a decoding time it never set, which MP4 refused at the file's end ("not yet
    # implemented in FFmpeg"): a farm whose last chunk was one frame failed, as did a run of a one-frame clip
    chunks = chunk_files(tmp_path, ext, "h265", [(0, 29), (29, 30)], speed="ultrafast")
    assert [frame_index(f) for f in read_frames(chunks[1])] == [29]
    target, frames = joined(tmp_path, chunks, ext, codec="h265")
    assert frames == 30
    assert [frame_index(f) for f in read_frames(target)] == list(range(30))


def test_recordings_joined_end_to_end_are_refused_naming_the_joint(tmp_path):
    # their times start again at the joint, so a chunk's mark (its first frame's time) found a frame of the
    # first recording where the second's was meant: 275 frames of 300 came out, in the wrong order
    segment = write_clip(tmp_path / "segment.ts", frames=30, codec="h264")
    joined = tmp_path / "joined.ts"
    joined.write_bytes((tmp_path / "segment.ts").read_bytes() * 2)
    assert farm_video.probe(segment)[0] == 30
    with pytest.raises(InvalidInput, match=rf"{joined}: its times start again after frame 30 .* -c copy joined\.mkv"):
        farm_video.probe(str(joined))


def test_b_frame_chunks_whose_frame_rate_slows_join(tmp_path):
    # a chunk's first decoding time is its B-frame delay (two of its own frames) before its first frame: where
    # the frames come further apart than in the chunk before, it fell on that chunk's last one, and FFmpeg
    # refused the packet ("Invalid argument", a traceback from `nodegraph farm`)
    times = [40 * i for i in range(30)] + [1200 + 120 * i for i in range(20)]
    source = vfr_clip(tmp_path / "slowing.mkv", times)
    chunks = []
    for first, end in [(0, 30), (30, 50)]:
        path = str(tmp_path / f"chunk{first}.mp4")
        writer = VideoWriter(path, ".mp4", "h264", 25.0, 23, "medium", False, None, None, path,
                             times=SourceTimes(str(source), times[first] / 1000, 25.0))
        for n, i in enumerate(range(first, end)):
            writer.write(indexed_frame(i), n)
        writer.close()
        chunks.append(path)
    target, frames = joined(tmp_path, chunks, ".mp4", source=source)
    assert frames == 50
    assert shown_ms(target) == [(i, t) for i, t in enumerate(times)]


def test_an_output_set_to_one_frame_rate_is_joined_at_that_rate(tmp_path):
    # the output's fps keeps `nodegraph run`'s file at one rate, but the join put each chunk where its first
    # frame is in a variable-rate input (40 ms apart, then 120 ms): the second chunk began 0.8 s late
    times = [40 * i for i in range(30)] + [1200 + 120 * i for i in range(20)]
    source = vfr_clip(tmp_path / "phone.mkv", times)
    chunks = chunk_files(tmp_path, ".mp4", "h264", [(0, 40), (40, 50)], fps=25.0)  # fps set: no source times
    target, frames = joined(tmp_path, chunks, ".mp4", source=source, fps=25.0)
    assert frames == 50
    assert shown_ms(target) == [(i, 40 * i) for i in range(50)]
