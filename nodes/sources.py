"""Generic sources: video files, pictures, folders of pictures and a synthetic test pattern."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from nodegraph.errors import InvalidInput, Problem
from nodegraph.letterbox import letterbox
from nodegraph.node import Node, StreamInfo
from nodegraph.params import Bool, Choice, Float, Int, Path
from nodegraph.types import Frame

from .file_extent import unfinished_recording
from .media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    check_readable_file,
    check_utf8_path,
    limit_size,
    list_images,
    read_image,
)
from .video_read import VideoReader

log = logging.getLogger("nodegraph")

MAX_SIZE_HELP = "frames larger than this (longest side, px) are scaled down; 0 keeps them as they are"


class Pacer:
    """Sleeps so frames come out at their time in real time (for files played as if live)."""

    def __init__(self):
        self.start = None  # when the stream's second 0 is due (monotonic)

    def pace(self, node: Node, seconds: float) -> None:
        """Sleep until the frame stamped `seconds` into its stream is due (variable frame rates keep their
        timing). The node's capture time is when it came out, as a camera would stamp it, so the wait does
        not count as the pipeline's latency; its `waited_s` is the sleep, which is not the node's work. (A
        frame late by more than one is skipped by the runner: see `due_frame`.)"""
        now = time.monotonic()
        node.capture_time, node.waited_s = now, 0.0
        if self.start is None:
            self.start = now - seconds
            return
        delay = self.start + seconds - now
        if delay > 0:
            node.stoppable_sleep(delay)
            node.capture_time = time.monotonic()
            node.waited_s = node.capture_time - now

    def seconds_due(self) -> float | None:
        """How far into its stream the frame due now is; None before the first frame."""
        return None if self.start is None else time.monotonic() - self.start

    def due_frame(self, fps: float) -> int | None:
        """The id of the newest frame due now, for a stream of `fps` frames a second from frame 0."""
        seconds = self.seconds_due()
        return None if seconds is None else int(seconds * fps)


class VideoSource(Node):
    """Frames of a video file, decoded by PyAV, from any frame exactly."""

    category = "Sources"
    outputs = {"frame": Frame}
    params = {
        "path": Path(role="input", extensions=list(VIDEO_EXTENSIONS), help="the video file to read"),
        "start": Int(0, 100_000_000, default=0, help="the first frame to read (0: the first of the file); exact "
                                                    "whatever the keyframes and frame rate"),
        # 2**31 - 1: the editor's integer fields are 32-bit
        "start_pts": Int(-1, 2**31 - 1, default=-1, help="for `nodegraph farm`: the start frame's timestamp (in "
                                                        "the stream's time base), so the file is not read from "
                                                        "its beginning to find it; -1 finds it"),
        "loop": Bool(False, help="start again at the end instead of stopping"),
        "realtime": Bool(False, help="pace frames at the file's own timestamps, as a camera would"),
        "max_size": Int(0, 16384, default=4096, help=MAX_SIZE_HELP),
    }

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        if not problems and params["path"] and (unfinished := unfinished_recording(params["path"])):
            problems.append(Problem(unfinished, param="path"))  # read from atoms' headers: cheap for the editor
        return problems

    def setup(self):
        check_readable_file(self.path)
        check_utf8_path(self.path)
        self._open()
        if self.reader.is_picture:
            log.warning("node '%s' (VideoSource): %s: is a picture (%s), not a video; it is read as a video of one "
                        "frame", self.id, self.path, self.reader.container.format.name.removesuffix("_pipe"))
        self._first = self.reader.read()
        if self._first is None:
            said = self.reader.said_without_frames()
            self.reader.close()
            raise InvalidInput(said)
        self._media_start = self._first[1]
        self._frames = self.reader.frames  # from `start`: a reader opened later by a seek counts from there
        # the file's first frame's size, also where reading starts later in (a farm's chunk): one size for every
        # cut of the file, or the chunks of a clip whose size changes mid-way would be joined at two sizes
        self._size = self._first_size_of_file() if self.start else None
        self._fitted = None  # the latest other size said
        self._index = 0
        self._time_offset = 0.0  # a loop's timestamps go on from the end of the previous pass
        self._damage_said: str | None = None  # what the reader met in the file, said once (every pass meets it)
        self._undecoded = 0  # its frames that could not be read, counted once (every pass meets them)
        self._pacer = Pacer()

    def _first_size_of_file(self) -> tuple[int, int] | None:
        reader = VideoReader(self.path)
        try:
            first = reader.read()
        finally:
            reader.close()
        return None if first is None else limit_size(first[0], self.max_size).shape[:2]

    def _open(self):
        self.reader = VideoReader(self.path, self.start, self.start_pts if self.start_pts >= 0 else None)
        self._fps = self.reader.fps

    def length(self):
        return None if self.loop else self._frames

    def undecoded(self):
        return self._undecoded

    def is_live(self):
        return self.realtime

    def stream_info(self):
        return StreamInfo(fps=self._fps, frames=self.length(), media=self.path, media_start=self._media_start)

    def due_frame(self):
        seconds = self._pacer.seconds_due() if self.realtime else None
        return None if seconds is None else self.frame_id + int((seconds - self._last_time) * self._fps)

    def process(self):
        if self._index == 0 and self.frame_id > self._fps and not self.loop and not self._seek(self.frame_id):
            return None  # a realtime stage restarted far in, past the end
        while self._index < self.frame_id:  # frames a realtime run skipped: decoded, not converted
            if self._next(picture=False) is None:
                return None
            self._index += 1
        decoded = self._next(picture=True)
        if decoded is None:
            return None
        if self.realtime:
            self._pacer.pace(self, self._last_time)
        self._index += 1
        frame = limit_size(decoded[0], self.max_size)
        if self._size is None:
            self._size = frame.shape[:2]
        elif frame.shape[:2] != self._size:
            # A stream whose frame size changes mid-way: keep the first size so every node
            # and the output file see one geometry; said once for each size it changes to.
            if frame.shape[:2] != self._fitted:
                log.warning("node '%s' (VideoSource): %s: frame %d is %dx%d where the first frame is %dx%d: frames "
                            "of another size are scaled to fit and padded with black", self.id, self.path,
                            self.start + self._index - 1, frame.shape[1], frame.shape[0], self._size[1], self._size[0])
                self._fitted = frame.shape[:2]
            frame = letterbox(frame, self._size[1], self._size[0])
        return {"frame": frame}

    def _seek(self, frame_id: int) -> bool:
        """Go to frame `frame_id` without decoding every frame before it (its time is found from every packet's,
        a second for a two-hour file: done once, when a restarted stage begins); False past the end."""
        try:
            reader = VideoReader(self.path, self.start + frame_id)
        except InvalidInput:
            return False
        self.reader.close()
        self.reader, self._first, self._index = reader, None, frame_id
        return True

    def _next(self, picture: bool) -> tuple[np.ndarray | None, float] | None:
        """The reader's next frame (`VideoReader.read`), the one setup read first; a loop's next pass after
        the end. Its time, a loop's passes one after the other, goes to `_last_time`."""
        decoded, self._first = self._first, None
        if decoded is None:
            decoded = self.reader.read(picture)
            if decoded is None:
                self._say_damage()
            if decoded is None and self.loop and self._index > 0:
                self.reader.close()
                self._open()
                decoded = self.reader.read(picture)
                if decoded is not None:  # the new pass goes on one frame after the last one of the old
                    self._time_offset = self._last_time + 1.0 / self._fps - decoded[1]
            if decoded is None:
                return None
        self._last_time = decoded[1] + self._time_offset
        return decoded

    def _say_damage(self) -> None:
        """What the reader met in the file it read to the end (damage, an end short of its header), once."""
        said = self.reader.said_at_end()
        self._undecoded = max(self._undecoded, self.reader.undecoded())
        if said is not None and said != self._damage_said:
            self._damage_said = said
            log.warning("node '%s' (VideoSource): %s", self.id, said)

    def close(self):
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()


class PicturesAtFps(Node):
    """A source of still pictures: sent at its `fps` param, or at once where that is 0."""

    def setup(self):
        self._pacer = Pacer()

    def is_live(self):
        return self.fps > 0

    def due_frame(self):
        return self._pacer.due_frame(self.fps) if self.fps else None

    def stream_info(self):
        return StreamInfo(fps=self.fps or None, frames=self.length(), media=None)

    def pace(self) -> None:
        """Wait until this frame is due, where fps is set."""
        if self.fps:
            self._pacer.pace(self, self.frame_id / self.fps)


class ImageSource(PicturesAtFps):
    """One picture, sent as a stream of frames."""

    category = "Sources"
    outputs = {"frame": Frame}
    params = {
        "path": Path(role="input", extensions=list(IMAGE_EXTENSIONS), help="the picture to read"),
        "repeat": Int(0, 1_000_000, default=1, help="how many frames to send; 0 sends it forever"),
        "fps": Float(0.0, 240.0, default=0.0, help="pace the frames at this rate; 0 sends them at once"),
        "max_size": Int(0, 16384, default=4096, help=MAX_SIZE_HELP),
    }

    def setup(self):
        super().setup()
        self.image = read_image(self.path, self.max_size)

    def length(self):
        return self.repeat or None

    def process(self):
        if self.repeat and self.frame_id >= self.repeat:
            return None
        self.pace()
        return {"frame": self.image}


class FolderSource(PicturesAtFps):
    """The pictures of a folder, in natural order (frame2 before frame10). A stream has one frame size, the
    first picture's: a picture of another size is scaled to fit it whole and padded with black, never
    stretched. A picture that cannot be read is skipped, and the log says which (as a camera that drops a
    frame), unless `unreadable` is "stop"; a folder none of whose pictures reads is an error."""

    category = "Sources"
    outputs = {"frame": Frame}
    params = {
        "path": Path(role="input", folder=True, help="the folder of pictures"),
        "loop": Bool(False, help="start again after the last picture"),
        "fps": Float(0.0, 240.0, default=0.0, help="pace the frames at this rate; 0 sends them at once"),
        "max_size": Int(0, 16384, default=4096, help=MAX_SIZE_HELP),
        "unreadable": Choice(["skip", "stop"], help="a picture that cannot be read: skip it (the log names it), "
                                                    "or stop the run there"),
    }

    def setup(self):
        super().setup()
        self.files = list_images(self.path)
        self._size, self._fitted = None, False
        self._unreadable: set[int] = set()
        self._skipped = 0  # frame i is picture i + this
        self._name = ""  # the latest picture's file name

    def length(self):
        return None if self.loop else len(self.files) - len(self._unreadable)  # those found so far

    def process(self):
        frame = self._next_picture()
        if frame is None:
            return None
        self.pace()
        if self._size is None:
            self._size = frame.shape[:2]
        elif frame.shape[:2] != self._size:
            if not self._fitted:
                log.warning("node '%s' (FolderSource): %s is %dx%d where the first picture is %dx%d: pictures "
                            "of another size are scaled to fit and padded with black", self.id,
                            self._name, frame.shape[1], frame.shape[0], self._size[1], self._size[0])
                self._fitted = True
            frame = letterbox(frame, self._size[1], self._size[0])
        return {"frame": frame}

    def _next_picture(self) -> np.ndarray | None:
        while len(self._unreadable) < len(self.files):
            index = self.frame_id + self._skipped
            if index >= len(self.files):
                if not self.loop:
                    return None
                index %= len(self.files)
            if index not in self._unreadable:
                try:
                    self._name = self.files[index].name
                    return read_image(str(self.files[index]), self.max_size)
                except InvalidInput as e:
                    if self.unreadable == "stop":
                        raise
                    log.warning("node '%s' (FolderSource): %s; skipped", self.id, e)
                    self._unreadable.add(index)
            self._skipped += 1
        if len(self.files) == 1:
            raise InvalidInput(f"{self.path}: its one picture cannot be read (the log says why)")
        raise InvalidInput(f"{self.path}: none of its {len(self.files)} pictures can be read (the log names each)")


class TestPattern(Node):
    """A moving synthetic picture (no files needed): colour bars, a bouncing disc and the
    frame number. Frame n is always the same picture."""

    __test__ = False  # not a pytest test class despite the name
    category = "Sources"
    outputs = {"frame": Frame}
    params = {
        "width": Int(16, 7680, default=640, help="frame width, px"),
        "height": Int(16, 4320, default=480, help="frame height, px"),
        "frames": Int(0, 10_000_000, default=300, help="how many frames; 0 runs forever"),
        "fps": Float(1.0, 240.0, default=30.0, help="the stream's frame rate"),
        "realtime": Bool(False, help="pace frames at fps, as a camera would"),
        "loop": Bool(False, help="after the last frame, start again at frame 0 (runs until stopped)"),
    }

    def setup(self):
        w, h = self.width, self.height
        bars = np.array([[192, 192, 192], [0, 192, 192], [192, 192, 0], [0, 192, 0],
                         [192, 0, 192], [0, 0, 192], [192, 0, 0]], np.uint8)
        columns = (np.arange(w) * len(bars) // w)
        self.background = np.ascontiguousarray(np.broadcast_to(bars[columns], (h, w, 3)))
        ramp = np.linspace(0, 255, w, dtype=np.float32).astype(np.uint8)
        self.background[h * 3 // 4:] = ramp[None, :, None]
        self._pacer = Pacer()

    def length(self):
        return None if self.loop else self.frames or None

    def is_live(self):
        return self.realtime

    def due_frame(self):
        return self._pacer.due_frame(self.fps) if self.realtime else None

    def stream_info(self):
        return StreamInfo(fps=self.fps, frames=self.length(), media=None)

    def process(self):
        n = self.frame_id
        if self.frames and n >= self.frames:
            if not self.loop:
                return None
            n %= self.frames
        if self.realtime:
            self._pacer.pace(self, self.frame_id / self.fps)
        w, h = self.width, self.height
        frame = self.background.copy()
        radius = max(4, min(w, h) // 8)
        t = n / self.fps
        cx = int(radius + (w - 2 * radius) * (0.5 + 0.5 * np.sin(t * 1.3)))
        cy = int(radius + (h * 3 // 4 - 2 * radius) * (0.5 + 0.5 * np.sin(t * 2.1 + 1.0)))
        cv2.circle(frame, (cx, cy), radius, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(frame, (cx, cy), radius // 2, (40, 40, 200), -1, cv2.LINE_AA)
        scale = max(0.4, h / 480)
        stroke = max(1, int(3 * scale))
        for colour, width in (((0, 0, 0), stroke + max(2, stroke)), ((255, 255, 255), stroke)):  # outlined: it
            cv2.putText(frame, f"{n:06d}", (int(10 * scale), int(h - 20 * scale)),  # sits on the dark end of the ramp
                        cv2.FONT_HERSHEY_SIMPLEX, 1.5 * scale, colour, width, cv2.LINE_AA)
        return {"frame": frame}
