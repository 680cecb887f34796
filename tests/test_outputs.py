"""Outputs: the video file's audio and synthetic-media tag (real ffmpeg), the visible label, the window
(real X server) and the virtual camera (real pyvirtualcam)."""

import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from clips import indexed_frame, read_frames
from conftest import repo_env, run_cli
from test_cli import node, write_preset

from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.sequential import SequentialRunner
from nodes.display import VirtualCameraOutput
from nodes.frame_count import count_frames
from nodes.label import SyntheticLabel, layout
from nodes.outputs import SYNTHETIC_TAG, VideoFileOutput


def clip_with_audio(path, audio_codec="aac", frames=20, fps=10):
    """A 160x120 clip with a 440 Hz tone as its audio track, written by PyAV."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream(audio_codec, rate=22050, layout="mono")
        seconds = frames / fps
        t = np.arange(int(22050 * seconds)) / 22050
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[None, :]
        samples = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        samples.sample_rate, samples.pts = 22050, 0
        container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
        for i in range(frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")))
        container.mux(video.encode(None))
    return path


def probe(path) -> dict:
    """The streams, comment tag and decodable frame count of a file, as PyAV reads them."""
    with av.open(str(path)) as container:
        streams = {s.type: s for s in container.streams}
        tags = {k.lower(): v for k, v in container.metadata.items()}
        audio_seconds = 0.0
        if "audio" in streams:
            audio_seconds = sum(f.samples / f.sample_rate for f in container.decode(audio=0))
    return {"streams": streams, "comment": tags.get("comment"), "frames": len(read_frames(path)),
            "audio_seconds": audio_seconds}


def copy_video(source, target, start=0, **params):
    """A VideoSource (from frame `start`) into a VideoFileOutput with `params`, run in this process."""
    graph = Graph()
    graph.add_node("VideoSource", {"path": str(source), "start": start}, node_id="src")
    graph.add_node("VideoFileOutput", {"path": str(target), **params}, node_id="out")
    graph.add_link(Link.parse("src.frame", "out.frame"))
    return SequentialRunner(graph).run()


# -- VideoFileOutput: audio and disclosure ---------------------------------------------------------------

@pytest.mark.parametrize("source_name, codec, container",
                         [("in.mp4", "aac", ".mp4"), ("in.mov", "pcm_s16le", ".mp4"),
                          ("in.mov", "pcm_s16le", ".mkv")])
def test_video_keeps_the_source_audio_and_carries_the_synthetic_tag(tmp_path, source_name, codec, container):
    source = clip_with_audio(tmp_path / source_name, codec)
    target = tmp_path / f"out{container}"
    report = copy_video(source, target)
    assert report.frames == 20 and not report.error
    info = probe(target)
    assert "audio" in info["streams"], info  # copied where the container takes it, else re-encoded to aac
    assert 1.8 <= info["audio_seconds"] <= 2.2  # the whole tone, cut to the video's 2 s
    assert info["comment"] == SYNTHETIC_TAG
    assert info["frames"] == 20 == count_frames(target)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_audio_and_tag_can_be_turned_off(tmp_path):
    source = clip_with_audio(tmp_path / "in.mp4")
    copy_video(source, tmp_path / "plain.mp4", keep_audio=False, disclose=False)
    info = probe(tmp_path / "plain.mp4")
    assert set(info["streams"]) == {"video"} and info["comment"] is None and info["frames"] == 20
    copy_video(source, tmp_path / "tagged.mp4", keep_audio=False)
    info = probe(tmp_path / "tagged.mp4")
    assert set(info["streams"]) == {"video"} and info["comment"] == SYNTHETIC_TAG


def test_audio_and_tag_need_no_ffmpeg_binary(tmp_path, monkeypatch):
    source = clip_with_audio(tmp_path / "in.mp4")
    empty = tmp_path / "no_tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    report = copy_video(source, tmp_path / "out.mp4")
    monkeypatch.undo()
    info = probe(tmp_path / "out.mp4")
    assert report.frames == 20 and info["frames"] == 20
    assert set(info["streams"]) == {"video", "audio"} and info["comment"] == SYNTHETIC_TAG


def test_a_run_refused_before_its_first_frame_leaves_the_file_there_as_it_was(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"an earlier result" * 100)
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=64, height=48, frames=5),
                                                node("out", "VideoFileOutput", path=str(target), codec="prores")],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 2, result.stderr
    assert f"param 'codec': {target}: .mp4 files cannot hold prores; with .mp4 use one of h264" in result.stderr
    assert target.read_bytes() == b"an earlier result" * 100
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_file_of_one_frame_is_said_to_hold_1_frame(tmp_path):
    target = tmp_path / "one.mp4"
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=64, height=48, frames=1),
                                                node("out", "VideoFileOutput", path=str(target))],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 0, result.stderr
    assert f"{target} holds 1 frame and plays" in result.stderr
    assert VideoFileOutput.describe_partial(str(target)) == "it holds 1 frame (up to its last whole fragment)"


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
    env = {k: v for k, v in repo_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    preset = window_preset(tmp_path, "merged")
    command = [sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--sequential"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert "node 'win' (WindowOutput): there is no display to open a window on" in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X display is Linux's window system here")
def test_window_on_a_display_no_x_server_answers_fails_at_setup_with_exit_2(tmp_path):
    # a DISPLAY left from a desktop or SSH session that is gone: OpenCV's Qt aborted the window's stage (SIGABRT,
    # exit 3, "could not load the Qt platform plugin xcb"), and at a restart mid-run it died three more times
    free = next(n for n in range(4000, 5000) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    result = run_cli("run", window_preset(tmp_path, "merged"), env={"DISPLAY": f":{free}"})
    assert result.returncode == 2, result.stderr
    assert f"node 'win' (WindowOutput): no X server answers at DISPLAY=:{free}" in result.stderr
    assert "SIGABRT" not in result.stderr


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


X_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
IGNORE_X_ERRORS = X_ERROR_HANDLER(lambda display, error: 0)  # module level: libX11 keeps only its address


@functools.cache
def x11() -> ctypes.CDLL:
    """libX11, with the types of the calls `window_titles` makes (found once: find_library runs ldconfig)."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, *[ctypes.POINTER(ctypes.c_ulong)] * 2,
                                ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)), ctypes.POINTER(ctypes.c_uint)]
    xlib.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSetErrorHandler.argtypes = [ctypes.c_void_p]
    return xlib


def window_titles(display: str) -> list[str]:
    """The names of the windows on `display`'s root window (Xvfb has no window manager: they are the top ones).
    A window gone between the listing and the reading of its name is left out: libX11's own handler of that error
    (BadWindow) ended the process, the test's pytest worker."""
    xlib = x11()
    connection = xlib.XOpenDisplay(display.encode())
    if not connection:
        return []
    before = xlib.XSetErrorHandler(ctypes.cast(IGNORE_X_ERRORS, ctypes.c_void_p))
    root, parent, count = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_uint()
    children = ctypes.POINTER(ctypes.c_ulong)()
    titles = []
    try:
        if xlib.XQueryTree(connection, xlib.XDefaultRootWindow(connection), ctypes.byref(root),
                           ctypes.byref(parent), ctypes.byref(children), ctypes.byref(count)):
            for i in range(count.value):
                name = ctypes.c_char_p()
                if xlib.XFetchName(connection, children[i], ctypes.byref(name)) and name.value:
                    titles.append(name.value.decode())
                    xlib.XFree(name)
            if children:
                xlib.XFree(children)
    finally:
        xlib.XCloseDisplay(connection)
        xlib.XSetErrorHandler(before)
    return titles


CHURN = """import ctypes, ctypes.util, sys
x = ctypes.CDLL(ctypes.util.find_library("X11"))
x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
x.XCreateSimpleWindow.restype = ctypes.c_ulong
x.XCreateSimpleWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong, *[ctypes.c_int] * 2, *[ctypes.c_uint] * 3,
                                  *[ctypes.c_ulong] * 2]
x.XStoreName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_char_p]
x.XDestroyWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
display = x.XOpenDisplay(sys.argv[1].encode())
while True:
    window = x.XCreateSimpleWindow(display, x.XDefaultRootWindow(display), 0, 0, 8, 8, 0, 0, 0)
    x.XStoreName(display, window, b"short-lived")
    x.XSync(display, 0)
    x.XDestroyWindow(display, window)
    x.XSync(display, 0)
"""


@pytest.mark.gui
def test_window_titles_reads_a_display_whose_windows_come_and_go(x_display):
    # a window gone between the listing and the reading of its name (BadWindow) ended the process that read them,
    # the pytest worker: "X Error of failed request: BadWindow"
    churn = subprocess.Popen([sys.executable, "-c", CHURN, x_display])
    try:
        read = subprocess.run([sys.executable, "-c", "import sys; from test_outputs import window_titles\n"
                               "for _ in range(500): window_titles(sys.argv[1])", x_display],
                              cwd=os.path.dirname(__file__), env=repo_env(), capture_output=True, text=True,
                              timeout=120)
    finally:
        churn.kill()
        churn.wait()
    assert read.returncode == 0, read.stderr


@pytest.mark.gui
def test_two_windows_of_one_title_in_one_process_are_two_windows(tmp_path, x_display):
    # OpenCV names a window by its title: the before and after views took turns in one window called "nodegraph"
    preset = write_preset(tmp_path / "two.json",
                          [node("src", "TestPattern", width=96, height=64, frames=0, realtime=True),
                           node("label", "SyntheticLabel"), node("before", "WindowOutput"),
                           node("after", "WindowOutput")],
                          [("src.frame", "label.frame"), ("src.frame", "before.frame"), ("label.frame", "after.frame")])
    command = [sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--sequential"]
    run = subprocess.Popen(command, env=repo_env({"DISPLAY": x_display}), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30.0  # the run's start: seconds on a loaded machine (the suite's workers)
        while len(shown := [t for t in window_titles(x_display) if t.startswith("nodegraph")]) < 2 \
                and run.poll() is None and time.monotonic() < deadline:  # a run that ended: its stderr below
            time.sleep(0.1)
        assert sorted(shown) == ["nodegraph", "nodegraph (after)"]  # Qt has windows of its own there
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=20) == 130, run.stderr.read()


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
