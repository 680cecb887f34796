"""CameraSource on a machine without a camera: the real failure paths, and how long they take."""

from __future__ import annotations

import glob
import json
import sys
import threading
import time

import pytest

from nodegraph.errors import InvalidInput
from nodes.camera import START_TIMEOUT_S, CameraSource, call_with_timeout, open_capture

linux_without_cameras = pytest.mark.skipif(
    not sys.platform.startswith("linux") or bool(glob.glob("/dev/video*")),
    reason="needs a Linux machine with no video device")


@linux_without_cameras
@pytest.mark.parametrize("device", [0, 3])
def test_a_missing_camera_fails_fast_naming_the_device(device):
    camera = CameraSource("cam", {"device": device})
    start = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        camera.setup()
    assert time.monotonic() - start < 5.0
    message = str(caught.value)
    assert f"camera {device} (/dev/video{device}) not found" in message
    assert "no video device on this machine" in message and "node 'cam' (CameraSource)" in message


@linux_without_cameras
def test_the_command_line_run_of_a_camera_preset_fails_fast(tmp_path, cli):
    preset = tmp_path / "webcam.json"
    preset.write_text(json.dumps({
        "format": "nodegraph-preset", "version": 1, "name": "webcam",
        "nodes": [{"id": "cam", "type": "CameraSource", "params": {"device": 2}},
                  {"id": "out", "type": "ImageSequenceOutput", "params": {"path": "frames"}}],
        "links": [{"from": "cam.frame", "to": "out.frame"}],
    }))
    for engine, mode in ((["--sequential"], "sequential"), ([], None)):
        start = time.monotonic()
        done = cli("run", *engine, preset, "--stats-json", "stats.json", cwd=tmp_path, timeout=60)
        elapsed = time.monotonic() - start
        assert done.returncode == 2, done.stderr
        assert "camera 2 (/dev/video2) not found" in done.stderr
        assert elapsed < 20, f"{engine}: {elapsed:.1f} s"  # the interpreter and the stage processes start too
        stats = json.loads((tmp_path / "stats.json").read_text())
        # refused before its stream said which: the file said "lossless" for a run that would have been realtime
        assert stats["mode"] == mode and stats["frames"] == 0 and "camera 2" in stats["error"]


def test_opencv_failing_to_open_a_camera_is_a_clear_error_quickly():
    # Straight to OpenCV, past the /dev check: every backend is tried and each refuses device 9.
    start = time.monotonic()
    with pytest.raises(InvalidInput, match=r"camera 9 \(.*\) could not be opened with backend auto"):
        open_capture(9, "auto", 640, 480, 30.0)
    assert time.monotonic() - start < START_TIMEOUT_S


def test_a_backend_of_another_platform_is_refused():
    other = "avfoundation" if not sys.platform.startswith("darwin") else "dshow"
    with pytest.raises(InvalidInput, match=f"backend '{other}' is for"):
        CameraSource("cam", {"backend": other}).setup()


def test_a_call_that_hangs_is_abandoned_at_the_timeout_and_its_late_result_discarded():
    release, discarded = threading.Event(), []

    def stuck_open():  # a driver call that answers only after the caller gave up
        release.wait(10)
        return "capture"

    start = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(stuck_open, 0.3, discard=discarded.append)
    assert 0.3 <= time.monotonic() - start < 1.0
    release.set()
    deadline = time.monotonic() + 5
    while not discarded and time.monotonic() < deadline:
        time.sleep(0.01)
    assert discarded == ["capture"]
    assert call_with_timeout(lambda: 42, 1.0) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, 1.0)


def test_a_camera_is_a_live_source_of_unknown_length():
    camera = CameraSource("cam", {})
    assert camera.is_live() and camera.length() is None
