"""A frame's time through PyAV: variable frame rates read and seeked exactly and written with their own
timing, B-frames after long gaps, and one rate where the output must have one."""

import itertools
from fractions import Fraction

import av
import pytest
from clips import frame_index, indexed_frame, write_clip
from test_outputs import copy_video

from nodes.video_read import VideoReader


def vfr_clip(path, times_ms):
    """Indexed frames at the given times (ms): a genuinely variable frame rate. Lossless, but in MPEG-TS (whose
    time base is 1/90000) in MPEG-4 part 2."""
    with av.open(str(path), "w") as container:
        if str(path).endswith(".ts"):
            stream = container.add_stream("mpeg4", rate=30, options={"qmin": "2", "qmax": "3"})
            stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        else:
            stream = container.add_stream("ffv1", rate=30)
            stream.width, stream.height, stream.pix_fmt = 160, 120, "bgr0"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


VFR_TIMES = [i * 33 for i in range(30)] + [990 + i * 17 for i in range(30)] + [1500 + i * 100 for i in range(10)]


def test_variable_frame_rate_keeps_its_timing_and_seeks_exactly(tmp_path):
    times = VFR_TIMES
    path = vfr_clip(tmp_path / "vfr.mkv", times)
    for start in (0, 31, 45, 65):
        reader = VideoReader(str(path), start)
        try:
            decoded = iter(reader.read, None)
            got = [(frame_index(image), round(t * 1000)) for image, t in decoded]
        finally:
            reader.close()
        assert got == [(i, times[i]) for i in range(start, len(times))]


def shown_ms(path) -> list[tuple[int, int]]:
    """(frame index, time in ms) of every frame of a file."""
    with av.open(str(path)) as container:
        return [(frame_index(frame.to_ndarray(format="bgr24")), round(frame.time * 1000))
                for frame in container.decode(video=0)]


@pytest.mark.parametrize("ext, codec, start", [(".mp4", "h264", 0), (".mkv", "ffv1", 31), (".mov", "h264", 45)])
def test_a_variable_frame_rate_is_written_with_its_own_timing(tmp_path, ext, codec, start):
    # written at one rate, the 2.4 s clip became 2.3 s and drifted from its audio by up to 0.3 s
    source = vfr_clip(tmp_path / "vfr.mkv", VFR_TIMES)
    target = tmp_path / f"out{ext}"
    assert copy_video(source, target, start, codec=codec).frames == 70 - start
    shown = shown_ms(target)
    assert [i for i, _ in shown] == list(range(start, 70))
    # to the source's own precision (1 ms): a time that close to a whole number of 30 fps frames is that
    assert all(abs(t - (VFR_TIMES[i] - VFR_TIMES[start])) <= 1 for i, t in shown), shown


@pytest.mark.parametrize("codec, speed, ext", [("h264", "veryfast", ".mp4"), ("h265", "ultrafast", ".mp4"),
                                               ("h264", "veryfast", ".mov")])
def test_b_frames_after_long_gaps_keep_their_own_decoding_times(tmp_path, codec, speed, ext):
    # the first frames 0.5 s apart, then 33 ms: a B-frame encoder's first decoding time goes back a second, and
    # taking it for x265's garbage (a one-frame clip's) put it after the next one, which FFmpeg refused. The
    # muxer then moved every frame by that second: the file began with 1 s of nothing before its first frame
    times = [0, 500, 1000] + [1000 + 33 * i for i in range(1, 30)]
    source = vfr_clip(tmp_path / "gaps.mkv", times)
    target = tmp_path / f"out{ext}"
    assert copy_video(source, target, codec=codec, speed=speed).frames == 32
    shown = shown_ms(target)
    assert [i for i, _ in shown] == list(range(32))
    assert all(abs(t - times[i]) <= 1 for i, t in shown), shown  # the source's own times, to 1 ms


@pytest.mark.parametrize("source_ext, ext, output", [(".mkv", ".mp4", {"fps": 25.0}), (".mkv", ".avi", {}),
                                                     (".ts", ".mp4", {"codec": "mp4v"})])
def test_a_set_rate_an_avi_or_mp4v_writes_one_frame_rate(tmp_path, source_ext, ext, output):
    # a set fps is the user's; AVI holds one rate only; mpeg4 takes no time base finer than 1/65535 (TS: 1/90000)
    source = vfr_clip(tmp_path / f"vfr{source_ext}", VFR_TIMES)
    target = tmp_path / f"out{ext}"
    assert copy_video(source, target, **output).frames == 70
    shown = shown_ms(target)
    assert [i for i, _ in shown] == list(range(70))
    steps = {b - a for (_, a), (_, b) in itertools.pairwise(shown)}
    assert max(steps) - min(steps) <= 1, steps


def test_a_constant_rate_stored_in_milliseconds_is_written_exactly(tmp_path):
    # Matroska keeps times in ms: 29.97 fps is 0, 33, 67, 100 ...; the output must not copy that jitter
    source = write_clip(tmp_path / "ntsc.mkv", frames=90, fps=30000 / 1001, codec="ffv1")
    target = tmp_path / "out.mp4"
    assert copy_video(source, target).frames == 90
    with av.open(str(target)) as container:
        times = [frame.pts * frame.time_base for frame in container.decode(video=0)]
    assert times == [Fraction(1001 * i, 30000) for i in range(90)]
