"""Generic outputs: video files and numbered picture sequences."""

from __future__ import annotations

import os
import shutil
from pathlib import Path as FsPath

import cv2

from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.node import Node
from nodegraph.params import Choice, Float, Int, Path
from nodegraph.types import Frame

CODECS = {  # choice -> (fourcc, note)
    "mp4v": "MPEG-4 part 2, plays everywhere",
    "avc1": "H.264, where the OpenCV build has an encoder",
    "MJPG": "Motion JPEG, large files, fast",
    "FFV1": "lossless, for .mkv or .avi",
    "XVID": "MPEG-4 in .avi",
}
MIN_FREE_BYTES = 64 * 1024 * 1024  # stop before the disk is full, so what is written stays playable


def check_writable_folder(folder: FsPath, what: str) -> None:
    """Create the folder if needed and make sure we may write into it: an unwritable output is
    reported before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidInput(f"{what}: cannot create the folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInput(f"{what}: no permission to write into {folder}")
    if shutil.disk_usage(folder).free < MIN_FREE_BYTES:
        raise InvalidInput(f"{what}: the disk holding {folder} is full (less than "
                           f"{MIN_FREE_BYTES // 2**20} MiB free); free some space or choose another place")


class DiskGuard:
    """Checks the free space now and then while writing; raises RunFailed before it runs out."""

    def __init__(self, folder: FsPath, what: str, every: int = 30):
        self.folder, self.what, self.every, self.count = folder, what, every, 0

    def check(self) -> None:
        self.count += 1
        if self.count % self.every == 0 and shutil.disk_usage(self.folder).free < MIN_FREE_BYTES // 2:
            raise RunFailed(f"{self.what}: the disk is almost full; stopped writing so the file stays playable")


class VideoFileOutput(Node):
    """Writes the frames to a video file."""

    category = "Output"
    inputs = {"frame": Frame}
    params = {
        "path": Path(role="output", extensions=[".mp4", ".mkv", ".avi", ".mov"], help="the video file to write"),
        "codec": Choice(list(CODECS), default="mp4v", help="; ".join(f"{k}: {v}" for k, v in CODECS.items())),
        "fps": Float(0.0, 240.0, default=0.0, help="frames per second of the file; 0 takes the source's"),
    }
    heavy = True
    cost_ms = 6.0

    def setup(self):
        target = FsPath(self.path)
        if target.is_dir():
            raise InvalidInput(f"{self.path}: is a folder; give a file name such as {target / 'out.mp4'}")
        check_writable_folder(target.parent, self.path)
        self.writer = None
        self.frames_written = 0
        self._guard = DiskGuard(target.parent, self.path)

    def _open(self, frame):
        h, w = frame.shape[:2]
        fps = self.fps or self.stream.fps or 30.0
        self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*self.codec), fps, (w, h))
        if not self.writer.isOpened():
            self.writer = None
            raise RunFailed(f"{self.path}: OpenCV cannot write codec {self.codec} into this container; "
                            "try codec mp4v with .mp4, or FFV1/MJPG with .avi")
        self._size = (h, w)

    def process(self, frame):
        if self.writer is None:
            self._open(frame)
        if frame.shape[:2] != self._size:
            frame = cv2.resize(frame, (self._size[1], self._size[0]), interpolation=cv2.INTER_AREA)
        self._guard.check()
        self.writer.write(frame)
        self.frames_written += 1
        return {}

    def close(self):
        if getattr(self, "writer", None) is not None:
            self.writer.release()
            self.writer = None


class ImageSequenceOutput(Node):
    """Writes every frame as a numbered picture (frame id in the name) into a folder."""

    category = "Output"
    inputs = {"frame": Frame}
    params = {
        "path": Path(role="output", folder=True, help="the folder to write into"),
        "format": Choice(["png", "jpg", "bmp", "tif"], default="png", help="png and tif are lossless"),
        "jpeg_quality": Int(1, 100, default=95, help="for jpg only"),
    }
    heavy = True
    cost_ms = 8.0

    def setup(self):
        self.folder = FsPath(self.path)
        if self.folder.exists() and not self.folder.is_dir():
            raise InvalidInput(f"{self.path}: is a file; give a folder to write the pictures into")
        check_writable_folder(self.folder, self.path)
        self._guard = DiskGuard(self.folder, self.path)
        flags = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality] if self.format == "jpg" else []
        self._flags = flags

    def process(self, frame):
        self._guard.check()
        name = self.folder / f"frame_{self.frame_id:06d}.{self.format}"
        ok, data = cv2.imencode(f".{self.format}", frame, self._flags)
        if not ok:
            raise RunFailed(f"{name}: could not encode the frame as {self.format}")
        try:
            data.tofile(str(name))
        except OSError as e:
            raise RunFailed(f"{name}: cannot write: {e.strerror}") from None
        return {}
