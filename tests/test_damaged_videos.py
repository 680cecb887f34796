"""A video file damaged in the middle is read past the damage, as FFmpeg's player does, and the run says once
what was damaged and how many frames it lost, naming the node and the file: a demuxer that skips damaged data
without failing (Matroska's), an FFV1 frame whose checksums fail, were read shortened in silence."""

import json
import os
import re
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from clips import frame_index, indexed_frame, write_clip
from conftest import run_cli
from spoilt_files import (
    block_damaged,
    damaged,
    damaged_near_end,
    detailed_first_keyframe_webm,
    ffv1_clip,
    first_picture_spoilt,
    flipped_in_packet,
    read_through,
)
from test_bad_media import preset_file, run, written

from nodegraph.errors import InvalidInput
from nodes.frame_count import count_frames
from nodes.video_read import VideoReader


def place(first, last=None, fps=30):
    """How a place frames were lost at is said, for a clip under a minute long."""
    if last is None or last == first:
        return f"frame {first} (0:{first / fps:05.2f})"
    return f"frames {first}-{last} (0:{first / fps:05.2f}-0:{last / fps:05.2f})"


FOR_THOSE = ("the frames around the damage are used (they may show blocks until the next keyframe); copy or "
             "download it again for those frames")


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


def test_frames_a_damaged_matroska_lost_are_counted(tmp_path):
    # Matroska gives a length, not a count: its demuxer skips from the damage to the next cluster, and the
    # 30 frames in between went unsaid beside the damaged packet named
    clip = damaged(write_clip(tmp_path / "clip.mkv", frames=600, codec="h264"))
    reader = VideoReader(clip)
    shown = list(iter(reader.read, None))
    assert 500 < len(shown) < 600
    assert reader.undecoded() == 600 - len(shown)
    said = reader.said_at_end()
    assert said.startswith(f"{clip}: 1 damaged packet skipped (Invalid data found when processing input); "
                           f"{600 - len(shown)} frames are missing around the damage (the frames' times skip them); "
                           "the damage is at frames ") and said.endswith(FOR_THOSE)
    # one place, from the first frame the damage spoilt, holding the frames lost
    first, last = map(int, re.search(r"the damage is at frames (\d+)-(\d+) \(", said).groups())
    assert len(re.findall(r"\(0:\d\d\.\d\d", said)) == 1 and place(first, last) in said
    spoilt = next(index for index, (image, _) in enumerate(shown) if frame_index(image) != index)
    assert first <= spoilt < first + 5 and 600 - len(shown) <= last - first + 1 < 40
    reader.close()
    assert read_through(write_clip(tmp_path / "whole.mkv", frames=600, codec="h264")) is None


def variable_rate_mkv(path) -> str:
    """40 MJPEG frames in Matroska, whose default duration says 1/30 s a frame: the last 20 last 1/10 s each."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 160, 120, "yuvj420p", Fraction(1, 30)
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")
            frame.pts, frame.time_base = i if i < 20 else 20 + (i - 20) * 3, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return str(path)


def test_a_variable_frame_rate_is_no_frames_missing(tmp_path):
    reader = VideoReader(variable_rate_mkv(tmp_path / "vfr.mkv"))
    assert len(list(iter(reader.read, None))) == 40
    assert reader.undecoded() == 0 and reader.said_at_end() is None
    reader.close()


def test_frames_a_variable_rate_matroska_skips_are_counted(tmp_path):
    # its times' gaps are no sign of loss at a variable rate: the frames the demuxer passed over went unsaid
    clip = block_damaged(variable_rate_mkv(tmp_path / "vfr.mkv"), 30)
    reader = VideoReader(clip)
    frames = list(iter(reader.read, None))
    shown = [frame_index(image) for image, _ in frames]
    lost = sorted(set(range(40)) - set(shown))
    assert lost and lost[0] == 30 and len(shown) + len(lost) == 40
    assert reader.undecoded() == len(lost)
    said = reader.said_at_end()
    assert said.startswith(f"{clip}: {len(lost)} frame{'s are' if len(lost) > 1 else ' is'} missing")
    # at a variable rate the frames passed over are placed right after the last one before them, at the file's
    # rate; the gaps of its slower part are no loss, and no place
    after = round(frames[shown.index(29)][1] * 30)
    assert f"the damage is at {place(after + 1, after + len(lost))}; the frames around" in said
    reader.close()


@pytest.mark.parametrize("codec", ["MJPG", "mp4v"])  # each picture a keyframe; a keyframe a cluster
def test_frames_matroska_skips_without_a_failed_packet_are_counted(tmp_path, codec):
    # the frames after the damaged block decode, and the run read 90 or 98 of 100 frames in silence
    clip = block_damaged(write_clip(tmp_path / "clip.mkv", frames=100, codec=codec), 50)
    reader = VideoReader(clip)
    shown = [frame_index(image) for image, _ in iter(reader.read, None)]
    lost = sorted(set(range(100)) - set(shown))
    assert lost and lost[0] == 50 and len(shown) + len(lost) == 100
    assert reader.undecoded() == len(lost)
    assert lost == list(range(lost[0], lost[-1] + 1))
    assert reader.said_at_end() == (f"{clip}: {len(lost)} frames are missing around the damage (the frames' times "
                                    f"skip them); the damage is at {place(lost[0], lost[-1])}; {FOR_THOSE}")
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


@pytest.mark.parametrize("name", ["clip.mkv", "clip.avi"])
@pytest.mark.parametrize("damaged_frame", [12, 0])
def test_an_ffv1_frame_damaged_inside_is_refused_by_its_slices_checksums(tmp_path, name, damaged_frame):
    # FFmpeg says a slice's CRC mismatch in its log only and shows the frame before in its place: the frame
    # decoded to wrong pixels, used and counted as whole, and so did the 17 after it (up to the next keyframe);
    # the first packet's damage went unsaid, its stream taken for one without checksums, and the frame was used
    clip = ffv1_clip(tmp_path / name)
    assert read_through(clip) is None  # whole (the writer's slices carry checksums), it says nothing
    result = run_cli("run", preset_file(tmp_path, "VideoSource", flipped_in_packet(clip, damaged_frame)),
                     "--sequential", "--stats-json", tmp_path / "stats.json")
    assert result.returncode == 0, result.stderr
    shown = [cv2.imread(str(p)) for p in written(tmp_path)]
    expected = [index for index in range(40) if index != damaged_frame]
    assert [frame_index(picture) for picture in shown] == expected
    assert all((picture == indexed_frame(index, 160, 120)).all()
               for picture, index in zip(shown, expected, strict=True))
    assert "1 damaged packet skipped (its slices' checksums do not match)" in result.stderr
    assert f"the damage is at {place(damaged_frame)}; {FOR_THOSE}" in result.stderr
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
    assert said.endswith(f"bytes before the file's end: the data there is damaged; the damage is at "
                         f"{place(len(shown), 99)}; the frames before it are used; copy or download it again for "
                         "the rest")


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


def test_a_matroska_damaged_near_its_end_is_said_damaged_not_cut(tmp_path):
    # its last frame's packet fails: with no frame count to fall short of, the file was said to look truncated,
    # and the frame lost went uncounted (99 read, 0 undecoded), though the file is as long as its Segment says
    clip = damaged_near_end(write_clip(tmp_path / "clip.mkv", frames=100, codec="MJPG"), 4000)
    reader = VideoReader(clip)
    shown = [frame_index(image) for image, _ in iter(reader.read, None)]
    said = reader.said_at_end()
    assert len(shown) == 99 and reader.undecoded() == 1
    reader.close()
    assert said == (f"{clip}: 1 damaged packet skipped (Invalid data found when processing input); 1 frame is "
                    f"missing around the damage (the frames' times skip them); the damage is at {place(99)}; "
                    f"{FOR_THOSE}")


def test_a_small_block_matroska_skips_is_counted(tmp_path):
    # a damaged block under 256 bytes, the last of its cluster: the demuxer goes on at the next cluster, and the
    # bytes it passed over were too few for the 256 a whole file might hold between two blocks: 1 frame lost unsaid
    clip = str(tmp_path / "small.mkv")
    with av.open(clip, "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.options = 96, 48, "yuv420p", {"qmin": "20", "qmax": "31"}
        stream.codec_context.gop_size = 1  # each picture a keyframe: the frames after the damage decode
        for index in range(100):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(index, 96, 48), "bgr24")))
        container.mux(stream.encode(None))
    with av.open(clip) as container:
        blocks = [(packet.pos, packet.size) for packet in container.demux(video=0) if packet.size]
    last_of_a_cluster = next(index for index in range(20, 99)  # a cluster's start and time follow it
                             if blocks[index + 1][0] - sum(blocks[index]) > 16)
    assert blocks[last_of_a_cluster][1] < 200
    data = bytearray(open(clip, "rb").read())
    data[blocks[last_of_a_cluster][0]] ^= 0x02  # one bit of its track number: a track the file does not have
    open(clip, "wb").write(data)
    reader = VideoReader(clip)
    shown = [frame_index(image) for image, _ in iter(reader.read, None)]
    assert shown == [index for index in range(100) if index != last_of_a_cluster]
    assert reader.undecoded() == 1
    assert reader.said_at_end() == (f"{clip}: 1 frame is missing around the damage (the frames' times skip them); "
                                    f"the damage is at {place(last_of_a_cluster)}; {FOR_THOSE}")
    reader.close()


def test_a_damaged_block_of_a_matroska_with_sound_is_said(tmp_path):
    # its track number zeroed, the block is of no stream the file has: with sound beside the video it may have
    # been either's, and at a variable rate no gap in the times tells: 1 of 40 frames lost unsaid
    clip = str(tmp_path / "vfr.mkv")
    with av.open(clip, "w") as container:
        video = container.add_stream("mjpeg", rate=30)
        video.width, video.height, video.pix_fmt, video.time_base = 160, 120, "yuvj420p", Fraction(1, 30)
        sound = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")
            frame.pts, frame.time_base = i if i < 20 else 20 + (i - 20) * 3, Fraction(1, 30)
            container.mux(video.encode(frame))
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            samples.sample_rate, samples.pts = 8000, i * 800
            container.mux(sound.encode(samples))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    spoilt = block_damaged(clip, 30)
    reader = VideoReader(spoilt)
    shown = [frame_index(image) for image, _ in iter(reader.read, None)]
    lost = sorted(set(range(40)) - set(shown))
    assert lost[0] == 30
    said = reader.said_at_end()
    # right after frame 29, at 47/30 s: the block whose stream is not known, and the video's one after it
    assert f"the damage is at {place(48, 49)}; " in said
    assert reader.undecoded() == len(lost) - 1  # the frames after it in its cluster, whose blocks are whole
    assert said.startswith(f"{spoilt}: ")
    assert ("1 damaged block whose stream cannot be told was passed over (a frame is missing for each that was the "
            "video's)") in said
    reader.close()


def test_a_damaged_picture_is_placed_at_its_own_frame_not_where_the_decoder_gave_it(tmp_path):
    # a threaded decoder gives a frame a few packets after its own: the first keyframe's damage was said at
    # frame 2, the packet read as it came out
    clip = flipped_in_packet(write_clip(tmp_path / "clip.mp4", frames=60, codec="mp4v"), 0)
    said = read_through(clip)
    assert said == (f"{clip}: 1 damaged packet was decoded as well as could be; the damage is at {place(0)}; "
                    f"{FOR_THOSE}")


def test_a_file_whose_header_counts_its_frames_places_damage_at_its_damaged_packets_only(tmp_path):
    # an AVI's times after a damaged first keyframe are no timeline: their gaps were said as damage at frames
    # 12-59, the 48 frames that decoded whole after the next keyframe
    clip = first_picture_spoilt(write_clip(tmp_path / "clip.avi", frames=60, codec="mp4v"), "damaged")
    said = read_through(clip)
    assert said.startswith(f"{clip}: 1 damaged packet skipped (Invalid data found when processing input); only 59 "
                           "of the 60 frames its header gives decode")
    places = re.search(r"the damage is at (.*?); the frames around", said).group(1)
    spans = re.findall(r"frames? (\d+)(?:-(\d+))? \(", places)
    assert spans and all(int(number) < 12 for span in spans for number in span if number), places


@pytest.mark.parametrize("frame", [0, 29], ids=["first", "last"])
def test_a_damaged_first_or_last_block_of_a_matroska_is_counted(tmp_path, frame):
    # only the bytes between two blocks given were walked: the blocks before the first and after the last went
    # unsaid (29 of 30 frames read, nothing said, none undecoded)
    clip = block_damaged(write_clip(tmp_path / "clip.mkv", frames=30, codec="MJPG"), frame)
    reader = VideoReader(clip)
    shown = [frame_index(image) for image, _ in iter(reader.read, None)]
    lost = sorted(set(range(30)) - set(shown))
    assert lost and lost[0] == frame and len(shown) + len(lost) == 30
    assert reader.undecoded() == len(lost)
    said = reader.said_at_end()
    assert said.startswith(f"{clip}: {len(lost)} frame")
    assert frame == 0 or f"the damage is at {place(29)}" in said
    reader.close()
    with av.open(clip) as container:
        times = [packet.pts for packet in container.demux(video=0) if packet.size]
    reader = VideoReader(clip, start_pts=times[-10])  # from a seek, the blocks before it were not passed over
    assert len(list(iter(lambda: reader.read(picture=False), None))) == 10
    assert reader.undecoded() == (frame == 29)
    reader.close()


def test_a_reader_refused_leaves_no_file_open(tmp_path):
    # a start past the end was refused with the container still open, held by the error's traceback
    clip = write_clip(tmp_path / "clip.mkv", frames=10, codec="MJPG")
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(InvalidInput, match="start frame 10 is past the end") as refused:
        VideoReader(clip, start=10)
    assert refused.traceback  # the error, and its traceback, still held
    assert len(os.listdir("/proc/self/fd")) == open_before
