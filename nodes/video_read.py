"""Reading video files through PyAV: frame-exact, upright as players show them, from any start frame (what
decides the file was damaged or cut short is `read_verdict`; counting its frames, `frame_count`; the writing side
is `video_io`)."""

from __future__ import annotations

import contextlib
import logging

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from nodegraph.errors import InvalidInput

from .ffmpeg_log import ffmpeg_logs, ffmpeg_reason
from .file_extent import unfinished_recording
from .read_verdict import ReadVerdict
from .upright import display_matrix, upright
from .video_streams import (
    OPEN_OPTIONS,
    first_decoded_pts,
    is_cover,
    is_shown,
    moving_pictures,
    seek_before,
    slice_checksums,
)

log = logging.getLogger("nodegraph")

# the decoders that give a frame a colour profile (FFmpeg's "iCCP", "ICC_PROFILE", ICCP chunks): their frames'
# side data is not read (see VideoReader); such videos come from cameras and editors, not phones, so no display
# matrix is lost with it
PROFILED_CODECS = {"png", "apng", "mjpeg", "jpegls", "webp", "tiff", "jpegxl", "libjxl", "jpeg2000", "libopenjpeg",
                   "psd", "exr"}


class VideoReader:
    """The frames of a video file as upright BGR arrays with their time (s), from frame `start` exactly.
    Finding frame `start` reads every packet of the file; a caller that knows that frame's timestamp
    (`start_pts`, in the stream's time base, as `frame_timestamps` gives it) seeks straight to it instead.
    Damaged data and an end short of the header's are gathered for `said_at_end`."""

    def __init__(self, path: str, start: int = 0, start_pts: int | None = None):
        self.path = path
        with ffmpeg_logs() as logs:
            try:
                self.container = av.open(path, **OPEN_OPTIONS)
            except av.FFmpegError as e:
                raise InvalidInput(unfinished_recording(path) or (
                    f"{path}: not a video PyAV can open ({ffmpeg_reason(e, logs)}); is it really a video? "
                    "supported containers include .mp4, .mov, .mkv, .avi, .webm")) from None
        try:
            self._set_up(start, start_pts)
        except BaseException:  # a file refused (a start past its end) or a failed seek: nothing is left open
            self.container.close()
            if hasattr(self, "_verdict"):
                self._verdict.close()
            raise

    def _set_up(self, start: int, start_pts: int | None) -> None:
        """The video stream, its rate and count, the frame to start at, and the decoding from there."""
        path = self.path
        self.stream = moving_pictures(self.container)
        if self.stream is None:
            others = ", ".join("cover picture" if is_cover(stream) else stream.type
                               for stream in self.container.streams) or "no streams at all"
            raise InvalidInput(f"{path}: has no video stream (it holds {others}); give a video file")
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate and 1.0 <= float(rate) <= 1000.0 else 30.0
        self.frames = (self.stream.frames - start) if self.stream.frames > start else None  # the header's count
        self.is_picture = self.container.format.name.endswith("_pipe") or self.container.format.name == "image2"
        # PyAV 18 frees twice the side data of a frame that holds an ICC profile with a name (the process dies with
        # SIGSEGV once the frame is collected): a picture's, or a video of PNG or other picture codecs in a MOV
        self._reads_side_data = not self.is_picture and self.stream.codec_context.name not in PROFILED_CODECS
        self._start_pts = start_pts
        if not start and start_pts is None and self.container.format.name.startswith("mov"):
            self._count_shown()
        if start and start_pts is None:
            checksums = slice_checksums(self.stream)  # frame `start` of those read, as counted from the first
            times = sorted(packet.pts for packet in self.container.demux(self.stream)
                           if is_shown(packet) and (checksums is None or checksums.whole(memoryview(packet))))
            first = first_decoded_pts(path)  # a recording cut mid-way begins with pictures that cannot decode
            times = [t for t in times if first is None or t >= first]
            if start >= len(times):
                raise InvalidInput(f"{path}: start frame {start} is past the end (the file has {len(times)} frames)")
            self._start_pts, self.frames = times[start], len(times) - start
        # the file's frames from its first, which one cut short falls short of; a seek by timestamp (a farm's
        # chunk) counts a clip's frames hidden by its edit list too, so it has none
        header_frames = start + self.frames if start_pts is None and self.frames else None
        self._verdict = ReadVerdict(path, self.container, self.stream, self.fps, start, header_frames,
                                    self._start_pts is not None)
        self._checksums = slice_checksums(self.stream)
        self._refused: set[int] = set()  # the times of frames whose packet's checksums show damage
        if self._start_pts is not None:
            seek_before(self.container, self.stream, self._start_pts)
        self._decoded = self._decode()
        self._to_bgr = VideoReformatter()  # one for the whole stream: a new one a frame costs 1 ms at 640x480
        self._shown: float | None = None  # the latest frame's time (s)
        self._told_angle = False  # that a rotation other than quarter turns is not applied
        self._matrix_of: tuple[float, np.ndarray | None] | None = None  # (a rotation, its display matrix)
        self._jumped = 0.0  # added to the stream's times where they went back, so they keep going forward

    def _count_shown(self) -> None:
        """An MP4 or MOV whose edit list hides frames (a clip cut without re-encoding) says it holds them all:
        count those that play, from the packets, and go back to the start. Others are left unread."""
        packets = self.container.demux(self.stream)
        first = next((packet for packet in packets if packet.size), None)
        if first is None:
            return
        if first.is_discard:
            self.frames = sum(1 for packet in packets if is_shown(packet))
        seek_before(self.container, self.stream, first.pts)

    def _decode(self):
        for frame in self._frames():
            if frame.pts in self._refused:  # FFmpeg hid the damage behind the frame before: wrong pixels
                continue
            if self._start_pts is None or frame.pts is None or frame.pts >= self._start_pts:
                yield frame

    def _frames(self):
        """The decoded frames. A damaged packet is skipped and decoding goes on, as FFmpeg's player does (the
        pictures after it may show blocks until the next keyframe); a file cut short ends at the cut. What was
        damaged goes to the verdict (`ReadVerdict`)."""
        packets = self.container.demux()  # every stream's, whose positions tell blocks skipped (`SkippedBlocks`)
        while True:
            try:
                packet = next(packets, None)
            except av.FFmpegError as e:
                self._verdict.damage.stopped = e.strerror or str(e)
                with contextlib.suppress(av.FFmpegError):  # the frames the decoder still holds
                    yield from self.stream.decode(None)
                break
            if packet is None:
                break
            self._verdict.packet(packet)
            if packet.stream_index != self.stream.index:
                continue
            damaged = self._checksums is not None and not self._checksums.whole(memoryview(packet))
            try:
                frames = packet.decode()  # a damaged one too: the frames after it take its decoder's state
            except av.FFmpegError as e:
                self._verdict.damage.packet(e.strerror or str(e), False, self._verdict.frame_number(packet.pts))
                continue
            corrupt = next((frame for frame in frames if frame.is_corrupt), None)  # a threaded decoder's comes later
            marked = packet.is_corrupt or corrupt is not None
            if damaged:
                if packet.pts is not None:  # its frame may come out later, from a decoder's thread
                    self._refused.add(packet.pts)
                self._verdict.damage.packet("its slices' checksums do not match", False,
                                            self._verdict.frame_number(packet.pts))
            elif packet.size:
                where = corrupt.pts if corrupt is not None and not packet.is_corrupt else packet.pts
                self._verdict.damage.packet("", marked, self._verdict.frame_number(where))
            else:  # the empty packet that ends the stream
                self._verdict.damage.flushed(marked)
            yield from frames

    def said_at_end(self) -> str | None:
        """Once `read` has given None: what went wrong reading the file, in a sentence naming it, or None."""
        return self._verdict.said_at_end()

    def said_without_frames(self) -> str:
        """Once `read` has given None before any frame: why, in a sentence naming the file."""
        return self._verdict.said_without_frames()

    def undecoded(self) -> int:
        """Once `read` has given None: how many frames of the file were not read, damaged or cut off."""
        return self._verdict.undecoded()

    def read(self, picture: bool = True) -> tuple[np.ndarray | None, float] | None:
        """The next frame and its time in seconds, or None at the end. Without `picture` the frame is decoded
        but not converted (a third less time at 1080p), and None stands for it."""
        frame = next(self._decoded, None)
        if frame is None:
            return None
        time = float(frame.time or 0.0)
        self._verdict.frame(frame.pts, time)
        seconds = time + self._jumped
        if self._shown is not None and seconds <= self._shown:  # back in time: MPEG-TS recordings joined end to end
            self._jumped += self._shown + 1 / self.fps - seconds
            seconds = self._shown + 1 / self.fps
        self._shown = seconds
        if not picture:
            return None, seconds
        # Pixels that are not square (HDV, DV, DVD; ffmpeg's scale without setsar) are made square, as players
        # show them, widened or narrowed: faces are found, and files written, undistorted.
        aspect = self.stream.codec_context.sample_aspect_ratio
        square = aspect is None or aspect == 1 or not 0.25 <= aspect <= 4
        width = frame.width if square else 2 * round(frame.width * aspect / 2)  # an even width keeps 4:2:0
        bgr = self._to_bgr.reformat(frame, format="bgr24", width=width, height=frame.height)
        if not self._told_angle and round(frame.rotation) % 90:
            self._told_angle = True
            log.warning("%s: its display rotation (%d degrees, as ffprobe gives it) is not a quarter turn, and is "
                        "not applied: it is read as stored", self.path, round(frame.rotation))
        matrix = self._display_matrix(frame) if self._reads_side_data else None  # then its rotation alone turns it
        return upright(bgr.to_ndarray(), frame.rotation, matrix), seconds

    def _display_matrix(self, frame: av.VideoFrame) -> np.ndarray | None:
        """The frame's display matrix, read again only when its rotation changes: reading a frame's side data
        ties the two in a reference cycle (PyAV), so every frame read would wait for a full garbage collection,
        and a looped source's process grew by hundreds of MiB."""
        if self._matrix_of is None or self._matrix_of[0] != frame.rotation:
            self._matrix_of = frame.rotation, display_matrix(frame)
        return self._matrix_of[1]

    def close(self) -> None:
        self._decoded.close()
        self.container.close()
        self._verdict.close()
