"""Generic outputs: video files, numbered picture sequences, and a sink that keeps nothing."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path as FsPath

import cv2

from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.node import Node
from nodegraph.params import Bool, Choice, Float, Int, Path
from nodegraph.types import Frame

log = logging.getLogger("nodegraph")

CODECS = {  # choice -> (fourcc, note)
    "mp4v": "MPEG-4 part 2, plays everywhere",
    "avc1": "H.264, where the OpenCV build has an encoder",
    "MJPG": "Motion JPEG, large files, fast",
    "FFV1": "lossless, for .mkv or .avi",
    "XVID": "MPEG-4 in .avi",
}
MIN_FREE_BYTES = 64 * 1024 * 1024  # stop before the disk is full, so what is written stays playable
SYNTHETIC_TAG = "synthetic: made with nodegraph (face swap)"  # the `comment` tag of disclosed videos
MUX_TIMEOUT_S = 600


def check_writable_folder(folder: FsPath, what: str) -> None:
    """Create the folder if needed and make sure we may write into it: an unwritable output is
    reported before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        file = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        why = f"{file} is a file, not a folder" if file else e.strerror
        raise InvalidInput(f"{what}: cannot create the folder {folder}: {why}; "
                           "choose another place") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
        why = "is on a read-only file system" if read_only else "is not writable"
        raise InvalidInput(f"{what}: {folder} {why}; choose a folder you may write into")
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


def mux(ffmpeg: str, video: FsPath, audio_from: str | None, comment: str | None) -> str | None:
    """Rewrite `video` in place with the audio of `audio_from` and a `comment` metadata tag (either may be
    None) through ffmpeg, without re-encoding the video. Returns None when all of it is done, else what
    is missing and why. `video` is only ever replaced by a complete new file."""
    temporary = video.with_name(f".{video.stem}.muxing{video.suffix}")
    tag = ["-metadata", f"comment={comment}"] if comment else []
    attempts = []  # (ffmpeg input and codec args, whether it carries the audio)
    if audio_from:
        streams = ["-i", str(video), "-i", audio_from, "-map", "0:v", "-map", "1:a?", "-shortest"]
        attempts.append((streams + ["-c", "copy"], True))
        attempts.append((streams + ["-c:v", "copy", "-c:a", "aac"], True))  # a container that refuses it
    if comment:
        attempts.append((["-i", str(video), "-map", "0:v", "-c", "copy"], False))
    problem = "nothing to do"
    try:
        for args, with_audio in attempts:
            command = [ffmpeg, "-nostdin", "-v", "error", "-y", *args, *tag, str(temporary)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=MUX_TIMEOUT_S)
                failed = done.returncode != 0 or not temporary.is_file() or temporary.stat().st_size == 0
                why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            except (OSError, subprocess.TimeoutExpired) as e:
                failed, why = True, str(e)
            if not failed:
                os.replace(temporary, video)
                return None if with_audio or not audio_from else f"the audio was not copied ({problem})"
            problem = why
    finally:
        temporary.unlink(missing_ok=True)
    return problem


class VideoFileOutput(Node):
    """Writes the frames to a video file, with the source's audio and a tag marking it as synthetic."""

    category = "Output"
    restartable = False  # a restarted stage would reopen the file and truncate what was written
    inputs = {"frame": Frame}
    params = {
        "path": Path(role="output", extensions=[".mp4", ".mkv", ".avi", ".mov"], help="the video file to write"),
        "codec": Choice(list(CODECS), default="mp4v", help="; ".join(f"{k}: {v}" for k, v in CODECS.items())),
        "fps": Float(0.0, 240.0, default=0.0, help="frames per second of the file; 0 takes the source's"),
        "keep_audio": Bool(True, help="copy the source video's audio track into the file (needs ffmpeg; in "
                                      "realtime mode dropped frames put it out of sync)"),
        "disclose": Bool(True, help=f"tag the file as synthetic (metadata comment '{SYNTHETIC_TAG}'; "
                                    "needs ffmpeg)"),
    }
    heavy = True
    cost_ms = 3.0  # mp4v at 640x480 on one core; larger frames cost more

    def setup(self):
        target = FsPath(self.path)
        if target.is_dir():
            raise InvalidInput(f"{self.path}: is a folder; give a file name such as {target / 'out.mp4'}")
        check_writable_folder(target.parent, self.path)
        self.writer = None
        self.frames_written = 0
        self._guard = DiskGuard(target.parent, self.path)
        self._ffmpeg = shutil.which("ffmpeg")
        self._audio_from = self.stream.media if self.keep_audio and self.stream.media else None
        if self._ffmpeg is None and (self._audio_from or self.disclose):
            lost = [f"the audio of {self._audio_from} (if it has any) is not copied"] * bool(self._audio_from)
            lost += ["the synthetic-media metadata tag is not written"] * self.disclose
            log.warning("node '%s' (VideoFileOutput): ffmpeg is not on PATH, so %s; install ffmpeg to keep "
                        "them", self.id, " and ".join(lost))

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
        if getattr(self, "writer", None) is None:
            return
        self.writer.release()
        self.writer = None
        comment = SYNTHETIC_TAG if self.disclose else None
        if self._ffmpeg and self.frames_written and (self._audio_from or comment):
            problem = mux(self._ffmpeg, FsPath(self.path), self._audio_from, comment)
            if problem:
                log.warning("node '%s' (VideoFileOutput): %s is written, but ffmpeg could not add all of the "
                            "source's audio and the synthetic-media tag: %s", self.id, self.path, problem)


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


class NullOutput(Node):
    """Discards frames; for benchmarks and soak tests."""

    category = "Output"
    inputs = {"frame": Frame}
    cost_ms = 0.0

    def process(self, frame):
        return {}
