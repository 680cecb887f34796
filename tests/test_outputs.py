"""Outputs: the video file's audio and synthetic-media tag (real ffmpeg), the visible label, the window
(real X server) and the virtual camera (real pyvirtualcam)."""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from clips import read_frames
from conftest import REPO, run_cli
from test_cli import node, write_preset

from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.sequential import SequentialRunner
from nodes.display import VirtualCameraOutput
from nodes.label import SyntheticLabel, layout
from nodes.outputs import SYNTHETIC_TAG, mux

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(not (FFMPEG and shutil.which("ffprobe")),
                                  reason="ffmpeg/ffprobe not on PATH")


def clip_with_audio(path, audio_codec="aac", frames=20, fps=10):
    """A 160x120 clip with a 440 Hz tone as its audio track, made by ffmpeg."""
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x120:rate={fps}",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050", "-t", str(frames / fps),
                    "-c:v", "mpeg4", "-c:a", audio_codec, str(path)], check=True, timeout=60)
    return path


def probe(path) -> dict:
    result = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                             "stream=codec_type,nb_read_frames:format_tags", "-of", "json", str(path)],
                            capture_output=True, text=True, check=True, timeout=60)
    info = json.loads(result.stdout)
    streams = {s["codec_type"]: s for s in info["streams"]}
    tags = {k.lower(): v for k, v in info.get("format", {}).get("tags", {}).items()}
    return {"streams": streams, "comment": tags.get("comment"),
            "frames": int(streams["video"]["nb_read_frames"]) if "video" in streams else 0}


def copy_video(source, target, **params):
    graph = Graph()
    graph.add_node("VideoSource", {"path": str(source)}, node_id="src")
    graph.add_node("VideoFileOutput", {"path": str(target), **params}, node_id="out")
    graph.add_link(Link.parse("src.frame", "out.frame"))
    return SequentialRunner(graph).run()


# -- VideoFileOutput: audio and disclosure ---------------------------------------------------------------

@needs_ffmpeg
@pytest.mark.parametrize("source_name, codec, container",
                         [("in.mp4", "aac", ".mp4"), ("in.mov", "pcm_s16le", ".mp4"),
                          ("in.mov", "pcm_s16le", ".mkv")])
def test_video_keeps_the_source_audio_and_carries_the_synthetic_tag(tmp_path, source_name, codec, container):
    source = clip_with_audio(tmp_path / source_name, codec)
    target = tmp_path / f"out{container}"
    report = copy_video(source, target)
    assert report.frames == 20 and not report.error
    info = probe(target)
    assert "audio" in info["streams"], info  # pcm does not go into mp4: it is re-encoded to aac
    assert info["comment"] == SYNTHETIC_TAG
    assert info["frames"] == 20 == len(read_frames(target))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@needs_ffmpeg
def test_audio_and_tag_can_be_turned_off(tmp_path):
    source = clip_with_audio(tmp_path / "in.mp4")
    copy_video(source, tmp_path / "plain.mp4", keep_audio=False, disclose=False)
    info = probe(tmp_path / "plain.mp4")
    assert set(info["streams"]) == {"video"} and info["comment"] is None and info["frames"] == 20
    copy_video(source, tmp_path / "tagged.mp4", keep_audio=False)
    info = probe(tmp_path / "tagged.mp4")
    assert set(info["streams"]) == {"video"} and info["comment"] == SYNTHETIC_TAG


@needs_ffmpeg
def test_without_ffmpeg_the_video_is_written_and_the_loss_is_said_once(tmp_path, monkeypatch, caplog):
    source = clip_with_audio(tmp_path / "in.mp4")
    empty = tmp_path / "no_tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with caplog.at_level(logging.WARNING, logger="nodegraph"):
        report = copy_video(source, tmp_path / "out.mp4")
    warnings = [r.getMessage() for r in caplog.records if "ffmpeg is not on PATH" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert f"the audio of {source} (if it has any) is not copied" in warnings[0]
    assert "the synthetic-media metadata tag is not written" in warnings[0]
    monkeypatch.undo()
    assert report.frames == 20 and len(read_frames(tmp_path / "out.mp4")) == 20
    assert set(probe(tmp_path / "out.mp4")["streams"]) == {"video"}


@needs_ffmpeg
def test_mux_never_loses_the_video(tmp_path):
    source = clip_with_audio(tmp_path / "in.mp4")
    video = tmp_path / "out.mp4"
    copy_video(source, video, keep_audio=False, disclose=False)
    problem = mux(FFMPEG, video, str(tmp_path / "gone.mp4"), SYNTHETIC_TAG)  # the audio source vanished
    assert problem.startswith("the audio was not copied (") and "gone.mp4" in problem
    info = probe(video)
    assert info["frames"] == 20 and info["comment"] == SYNTHETIC_TAG and "audio" not in info["streams"]
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    assert mux(FFMPEG, garbage, str(source), SYNTHETIC_TAG)  # fails, says why
    assert garbage.read_bytes() == b"not a video at all" * 100
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- SyntheticLabel -------------------------------------------------------------------------------------

@pytest.mark.parametrize("corner", ["bottom_right", "bottom_left", "top_right", "top_left"])
def test_label_is_drawn_in_its_corner_only(corner):
    frame = np.full((240, 320, 3), 90, np.uint8)
    out = SyntheticLabel("label", {"corner": corner, "opacity": 1.0}).process(frame=frame)["frame"]
    x0, y0, x1, y1 = layout(frame.shape, "AI-generated", corner, 0.05).box
    touched = np.nonzero(np.any(out != frame, axis=2))
    assert y0 <= touched[0].min() and touched[0].max() < y1
    assert x0 <= touched[1].min() and touched[1].max() < x1
    box = out[y0:y1, x0:x1]
    assert (box.max(axis=2) > 200).sum() > 50 and (box.max(axis=2) == 0).sum() > 50  # white text on black
    assert (y0 < 120) == corner.startswith("top") and (x0 < 160) == corner.endswith("left")
    np.testing.assert_array_equal(frame, 90)  # the input frame is not drawn on


def test_label_opacity_size_and_empty_text():
    frame = np.full((480, 640, 3), 200, np.uint8)
    faint = SyntheticLabel("l", {"opacity": 0.25}).process(frame=frame)["frame"]
    x0, y0, x1, y1 = layout(frame.shape, "AI-generated", "bottom_right", 0.05).box
    assert faint[y0 + 1, x0 + 1].tolist() == [150, 150, 150]  # background darkened by a quarter
    small = layout(frame.shape, "AI-generated", "bottom_right", 0.03).box
    large = layout(frame.shape, "AI-generated", "bottom_right", 0.1).box
    assert (large[2] - large[0]) > 2.5 * (small[2] - small[0])
    blank = SyntheticLabel("l", {"text": "  "}).process(frame=frame)["frame"]
    np.testing.assert_array_equal(blank, SyntheticLabel("l", {}).process(frame=frame)["frame"])


# -- WindowOutput --------------------------------------------------------------------------------------------

def window_preset(tmp_path, view):
    return write_preset(tmp_path / "window.json",
                        [node("src", "TestPattern", width=96, height=64, frames=5),
                         node("label", "SyntheticLabel"), node("win", "WindowOutput", view=view)],
                        [("src.frame", "label.frame"), ("label.frame", "win.frame"),
                         ("src.frame", "win.source_frame")])


def test_window_without_a_display_fails_at_setup_with_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(REPO)
    preset = window_preset(tmp_path, "merged")
    command = [sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--sequential"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert "node 'win' (WindowOutput): there is no display to open a window on" in result.stderr


@pytest.fixture
def x_display():
    """A real X server (Xvfb) for the window tests; yields its DISPLAY."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed")
    read, write = os.pipe()
    command = ["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"]
    server = subprocess.Popen(command, pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.gui
@pytest.mark.parametrize("view", ["merged", "side_by_side"])
def test_window_shows_frames_on_a_real_display(tmp_path, x_display, view):
    result = run_cli("run", window_preset(tmp_path, view), "--sequential", env={"DISPLAY": x_display})
    assert result.returncode == 0, result.stderr
    assert "done: 5 frames" in result.stderr


# -- VirtualCameraOutput --------------------------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux") or any(
    p.startswith("video") for p in os.listdir("/dev")), reason="needs a Linux machine without video devices")
def test_virtual_camera_without_a_device_says_how_to_get_one(tmp_path):
    camera = VirtualCameraOutput("cam", {})
    with pytest.raises(InvalidInput) as error:
        camera.setup()
    message = str(error.value)
    assert "node 'cam' (VirtualCameraOutput): no virtual camera could be opened" in message
    assert "No v4l2 loopback device found" in message  # pyvirtualcam's own reason
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in message

    named = VirtualCameraOutput("cam", {"backend": "v4l2loopback", "device": "/dev/video9", "width": 64,
                                        "height": 48})
    with pytest.raises(InvalidInput, match=r"Device /dev/video9 does not exist.*To get one: install v4l2"):
        named.setup()
    with pytest.raises(InvalidInput, match=r"backend 'obs' does not exist on this system; it has: v4l2"):
        VirtualCameraOutput("cam", {"backend": "obs"}).setup()

    nodes = [node("src", "TestPattern", width=64, height=48, frames=3), node("cam", "VirtualCameraOutput")]
    preset = write_preset(tmp_path / "cam.json", nodes, [("src.frame", "cam.frame")])
    result = run_cli("run", preset, "--sequential")
    assert result.returncode == 2 and "modprobe v4l2loopback" in result.stderr
