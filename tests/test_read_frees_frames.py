"""Frames a VideoReader has handed on are freed at once, not left for the garbage collector: reading a
frame's side data (its display matrix) ties the frame to it in a reference cycle (PyAV), and a looped
source's process grew by hundreds of MiB over a few thousand frames before a full collection came."""

import gc

import av
import cv2
import numpy as np
import pytest
from clips import indexed_frame

from nodes.video_read import VideoReader

FRAMES = 40


def write_clip(path, degrees, mirror):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "bgr0"
        if degrees is not None:
            stream.set_display_rotation(degrees, **mirror)
        for i in range(FRAMES):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(i), "bgr24")))
        container.mux(stream.encode(None))


def frames_alive() -> int:
    return sum(isinstance(o, av.VideoFrame) for o in gc.get_objects())


@pytest.mark.parametrize("degrees, mirror, shown", [
    (None, {}, lambda image: image),
    (90, {}, lambda image: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)),
    (0, {"hflip": True}, lambda image: cv2.flip(image, 1))], ids=["plain", "portrait", "mirrored"])
def test_frames_read_are_freed_without_the_garbage_collector(tmp_path, degrees, mirror, shown):
    clip = tmp_path / "clip.mkv"
    write_clip(clip, degrees, mirror)
    reader = VideoReader(str(clip))
    gc.collect()
    gc.disable()
    try:
        # compared as read: a picture kept may hold its frame's memory, which is no leak
        shown_right = [np.array_equal(reader.read()[0], shown(indexed_frame(i))) for i in range(FRAMES)]
        alive = frames_alive()
        gc.collect()
        waiting = alive - frames_alive()  # frames only the collector could free (the decoder holds a few)
    finally:
        gc.enable()
        reader.close()
    assert waiting <= 1, f"{waiting} of {FRAMES} frames read were left for the garbage collector"
    assert all(shown_right)
