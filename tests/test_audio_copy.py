"""The source's audio in a written video, with real codecs and muxers (PyAV writes the sources): copied where
the muxer takes it, else re-encoded to AAC; lined up with the first frame written; a file FFmpeg refuses is
refused before its first frame, and the file already there is kept."""

import hashlib
import logging
import re
from fractions import Fraction

import av
import numpy as np
import pytest
from clips import indexed_frame
from conftest import run_cli
from test_cli import node, write_preset
from test_outputs import copy_video

from nodes.audio_copy import copy_refusal
from nodes.frame_count import count_frames

FPS, RATE = 25, 48000


def clip(path, audio_codec, seconds=2.0, silent_until=0.0, rate=RATE, layout="mono", options=None, fmt=None,
         offset=0, audio_delay=0.0):
    """A 160x120 clip at 25 fps whose audio is silent until `silent_until` seconds, then a 440 Hz tone; its
    timestamps start at `offset` seconds, the audio's `audio_delay` seconds after the video's."""
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream(audio_codec, rate=rate, layout=layout, options=options or {})
        t = np.arange(int(rate * seconds)) / rate
        tone = ((t >= silent_until) * np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        channels = av.AudioLayout(layout).nb_channels
        samples = av.AudioFrame.from_ndarray(np.repeat(tone[:, None], channels, 1).reshape(1, -1).copy(),
                                             format="s16", layout=layout)
        samples.sample_rate, samples.pts = rate, round((offset + audio_delay) * rate)
        container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")
            frame.pts, frame.time_base = i + offset * FPS, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def audio_of(path) -> tuple[str, int, float, np.ndarray]:
    """(codec, sample rate, start time against the video's first frame in s, the first channel's samples)."""
    with av.open(str(path)) as container:
        video_start = next(container.decode(video=0)).time
        container.seek(0)
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
        samples = np.concatenate([frame.to_ndarray().reshape(frame.samples, -1)[:, 0] if frame.format.is_packed
                                  else frame.to_ndarray()[0] for frame in frames])
        return stream.codec_context.name, stream.rate, frames[0].time - video_start, samples.astype(np.float64)


def loudness(samples, rate, start, end) -> float:
    """RMS of the samples between `start` and `end` seconds, relative to full scale."""
    part = samples[int(start * rate):int(end * rate)]
    scale = 32768.0 if np.abs(samples).max() > 2 else 1.0
    return float(np.sqrt(np.mean((part / scale) ** 2)))


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("codec, source_ext, target_ext, rate, layout", [
    ("libopus", ".mkv", ".mov", RATE, "mono"), ("flac", ".mkv", ".mov", RATE, "mono"),
    ("ac3", ".mkv", ".mp4", RATE, "mono"), ("eac3", ".mkv", ".mp4", RATE, "mono"),
    ("flac", ".mkv", ".mov", 192000, "mono"), ("pcm_s24le", ".mkv", ".mp4", RATE, "2 channels")])
def test_audio_the_muxer_refuses_as_it_is_is_re_encoded_to_aac(tmp_path, caplog, codec, source_ext, target_ext,
                                                                rate, layout):
    # Opus and FLAC pass .mov's codec list and AC-3 passes .mp4's, yet the muxer refuses them once it starts
    # (AC-3 only in a fragmented file): copied, every frame failed and the earlier file became 0 bytes. PCM that
    # does not name its channels ("2 channels") goes to AAC as stereo.
    caplog.set_level(logging.INFO, "nodegraph")
    source = clip(tmp_path / f"in{source_ext}", codec, rate=rate, layout=layout)
    target = tmp_path / f"out{target_ext}"
    copy_video(source, tmp_path / "earlier.mp4", keep_audio=False)
    target.write_bytes((tmp_path / "earlier.mp4").read_bytes())
    assert copy_refusal(str(source), target_ext.lstrip("."), {"movflags": "frag_keyframe+empty_moov"})
    report = copy_video(source, target)
    assert report.frames == 50 and not report.error
    assert count_frames(target) == 50
    name, written_rate, start, samples = audio_of(target)
    assert name == "aac" and written_rate == min(rate, 96000)  # 192 kHz is past AAC: the nearest it takes
    assert abs(start) < 0.05 and 1.9 <= len(samples) / written_rate <= 2.1
    assert loudness(samples, written_rate, 0.2, 1.8) > 0.15  # the tone (0.17 of full scale), not silence
    assert "re-encoded to AAC" in caplog.text


@pytest.mark.parametrize("codec, target_ext", [("ac3", ".mkv"), ("libopus", ".mp4"), ("flac", ".mp4")])
def test_audio_the_muxer_takes_is_copied_as_it_is(tmp_path, codec, target_ext):
    source = clip(tmp_path / "in.mkv", codec)
    target = tmp_path / f"out{target_ext}"
    assert copy_video(source, target).frames == 50
    with av.open(str(source)) as container:
        source_codec = container.streams.audio[0].codec_context.name
    name, _, start, samples = audio_of(target)
    assert name == source_codec and abs(start) < 0.05 and loudness(samples, RATE, 0.2, 1.8) > 0.15


def test_the_re_encoding_names_the_container_without_a_wrong_article(tmp_path, caplog):
    # it said "a avi file cannot hold it" (and "a mp4 file"): the format's name, whatever sound it starts with
    caplog.set_level(logging.INFO, "nodegraph")
    target = tmp_path / "out.avi"
    assert copy_video(clip(tmp_path / "in.mkv", "libopus"), target).frames == 50
    assert f"{target}: the audio (opus) is re-encoded to AAC: avi files cannot hold it as it is (" in caplog.text

def test_the_earlier_file_is_kept_when_a_real_run_re_encodes_the_audio(tmp_path):
    # the report's case, in the real multiprocess runtime: Opus from .mkv into an existing .mov
    source = clip(tmp_path / "in.mkv", "libopus")
    target = tmp_path / "good.mov"
    copy_video(source, target, keep_audio=False)
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=str(source)),
                                                node("out", "VideoFileOutput", path=str(target))],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 0, result.stderr
    assert "errors" not in result.stderr and f"{target} holds 50 frames and plays" in result.stderr
    assert count_frames(target) == 50 and audio_of(target)[0] == "aac"


def test_audio_aac_cannot_hold_stops_the_run_before_its_first_frame_and_keeps_the_file(tmp_path):
    # 16-channel Opus: .mov refuses Opus, and AAC takes at most 8 channels; FFmpeg says so when the file starts
    source = clip(tmp_path / "in.mkv", "libopus", layout="hexadecagonal", options={"mapping_family": "255"})
    target = tmp_path / "good.mov"
    copy_video(source, target, keep_audio=False)
    before = digest(target)
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=str(source)),
                                                node("out", "VideoFileOutput", path=str(target))],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--sequential")
    assert result.returncode == 3, result.stderr
    assert f"{target}: FFmpeg cannot start this file: Unsupported channel layout" in result.stderr
    assert "set keep_audio to false" in result.stderr
    assert digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.mov", "in.mkv", "p.json"]  # no temporary left
    assert run_cli("run", preset, "--set", "out.keep_audio=false").returncode == 0
    assert count_frames(target) == 50


@pytest.mark.parametrize("codec, target_ext", [("aac", ".mp4"), ("libopus", ".mov")])
def test_the_kept_audio_starts_at_the_source_start_frame(tmp_path, codec, target_ext):
    # silent for the first second, then the tone: from frame 25 (1 s) the output's audio is the tone at once
    source = clip(tmp_path / "in.mkv", codec, seconds=3.0, silent_until=1.0)
    target = tmp_path / f"out{target_ext}"
    assert copy_video(source, target, keep_audio=True).frames == 75
    _, rate, _, samples = audio_of(target)
    assert loudness(samples, rate, 0.5, 0.9) < 0.01 < 0.15 < loudness(samples, rate, 1.1, 2.9)

    from_1s = tmp_path / f"from_1s{target_ext}"
    assert copy_video(source, from_1s, start=25).frames == 50
    _, rate, start, samples = audio_of(from_1s)
    assert abs(start) < 0.05 and 1.9 <= len(samples) / rate <= 2.1
    assert loudness(samples, rate, 0.05, 1.9) > 0.15


def test_audio_that_begins_after_the_video_is_said_to_play_early_in_avi(tmp_path, caplog):
    # AVI lays the audio out from its start: audio 0.5 s late in the source played 0.5 s early, and nothing said so
    source = clip(tmp_path / "in.mkv", "aac", seconds=2.0, audio_delay=0.5)
    with caplog.at_level(logging.WARNING, logger="nodegraph"):
        assert copy_video(source, tmp_path / "out.mp4").frames == 50
        assert "early" not in caplog.text  # an .mp4 keeps the audio's place
        assert copy_video(source, tmp_path / "out.avi").frames == 50
    said = re.search(r"the audio begins (\d\.\d\d) s after the first frame, which an \.avi file", caplog.text)
    assert said and abs(float(said[1]) - 0.5) < 0.05 and "write .mp4, .mkv or .mov" in caplog.text


def test_mpeg_ts_audio_lines_up_with_its_video(tmp_path):
    # a broadcast's timestamps start where the recording began, not at 0: the audio keeps its place
    source = clip(tmp_path / "in.ts", "aac", seconds=3.0, silent_until=1.0, fmt="mpegts", offset=600)
    with av.open(str(source)) as container:
        assert container.streams.video[0].start_time * container.streams.video[0].time_base >= 600
    target = tmp_path / "out.mp4"
    assert copy_video(source, target).frames == 75
    _, rate, start, samples = audio_of(target)
    assert abs(start) < 0.05
    assert loudness(samples, rate, 0.2, 0.9) < 0.01 < 0.15 < loudness(samples, rate, 1.1, 2.8)


@pytest.mark.parametrize("codec, target_ext, fmt", [("aac", ".mp4", "mpegts"), ("aac", ".mkv", "mpegts"),
                                                     ("ac3", ".mp4", "mpegts"), ("mp2", ".mp4", "mpeg")])
def test_recordings_joined_end_to_end_keep_all_their_audio(tmp_path, codec, target_ext, fmt):
    # MPEG-TS recordings joined with `cat` start their times again: every audio packet after the joint was
    # refused as out of order (copied) or left before the start (re-encoded), and the second half was silent.
    # MPEG-PS (.mpg) ones: the seek to the first frame's audio landed in the second recording,
    # whose audio alone was written, from the start
    ext = {"mpegts": ".ts", "mpeg": ".mpg"}[fmt]
    segment = clip(tmp_path / f"segment{ext}", codec, seconds=2.0, silent_until=1.0, fmt=fmt)
    joined = tmp_path / f"joined{ext}"
    joined.write_bytes(segment.read_bytes() * 2)
    target = tmp_path / f"out{target_ext}"
    assert copy_video(joined, target).frames == 100
    _, rate, start, samples = audio_of(target)
    assert abs(start) < 0.05 and abs(len(samples) / rate - 4.0) < 0.06
    # each half's tone with its own frames (1 to 2 s and 3 to 4 s), the silence before it too
    assert loudness(samples, rate, 2.2, 2.9) < 0.01 < 0.15 < loudness(samples, rate, 3.1, 3.9)


def test_an_audio_only_input_is_named_as_such(tmp_path):
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w", format="mp4") as container:
        audio = container.add_stream("aac", rate=RATE, layout="mono")
        samples = av.AudioFrame.from_ndarray(np.zeros((1, RATE), np.int16), format="s16", layout="mono")
        samples.sample_rate = RATE
        container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=str(path)),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 2
    assert (f"nodegraph: node 'src' (VideoSource): {path}: has no video stream (it holds audio); give a video "
            "file") in result.stderr


def test_adts_aac_from_mpeg_ts_is_copied_into_mp4_without_loss(tmp_path, caplog):
    # MPEG-TS carries AAC with a header on every packet (ADTS), which a fragmented .mp4 refuses as it is: the
    # headers come off and the packets go in unchanged, where they used to be decoded and encoded again
    caplog.set_level(logging.INFO, "nodegraph")
    source = clip(tmp_path / "in.ts", "aac", seconds=2.0, fmt="mpegts")
    target = tmp_path / "out.mp4"
    assert copy_refusal(str(source), "mp4", {"movflags": "frag_keyframe+empty_moov"})
    assert copy_video(source, target).frames == 50
    assert "re-encoded" not in caplog.text
    name, rate, start, samples = audio_of(target)
    assert name == "aac" and abs(start) < 0.05 and loudness(samples, rate, 0.2, 1.8) > 0.15
    with av.open(str(source)) as ts, av.open(str(target)) as mp4:
        adts = [bytes(p)[7:] for p in ts.demux(audio=0) if p.size]  # a 7-byte ADTS header (no CRC)
        raw = [bytes(p) for p in mp4.demux(audio=0) if p.size]
    # the same packets, less the encoder's priming packet that comes before the first frame
    assert len(raw) >= len(adts) - 1 and raw == adts[len(adts) - len(raw):]
