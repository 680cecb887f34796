"""Reading video files through PyAV: frame-exact, upright as players show them, from any start frame, and
counting the frames that decode (the writing side is `video_io`)."""

from __future__ import annotations

import contextlib
import logging
import os

import av
import cv2
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import VideoReformatter

from nodegraph.errors import InvalidInput

from .ffmpeg_log import ffmpeg_logs, ffmpeg_reason
from .ffv1_slices import SliceChecksums
from .video_damage import (
    BytesRead,
    FrameGaps,
    ReadDamage,
    SkippedBytes,
    cut_inside_a_packet,
    header_seconds,
    no_frame_said,
    short_of_header,
    unfinished_recording,
)

log = logging.getLogger("nodegraph")

# A file whose metadata is not UTF-8 must still open: PyAV before 19 fails on it unless told to replace what
# does not decode; PyAV 19 decodes it with surrogateescape itself and refuses the argument (TypeError).
OPEN_OPTIONS = {"metadata_errors": "replace"} if int(av.__version__.split(".")[0]) < 19 else {}
# the decoders that give a frame a colour profile (FFmpeg's "iCCP", "ICC_PROFILE", ICCP chunks): their frames'
# side data is not read (see VideoReader); such videos come from cameras and editors, not phones, so no display
# matrix is lost with it
PROFILED_CODECS = {"png", "apng", "mjpeg", "jpegls", "webp", "tiff", "jpegxl", "libjxl", "jpeg2000", "libopenjpeg",
                   "psd", "exr"}


def is_cover(stream) -> bool:
    """A video stream that is one still picture shown with the file (album art, a thumbnail a downloader
    embedded), not moving pictures."""
    return stream.type == "video" and bool(stream.disposition & av.stream.Disposition.attached_pic)


def is_shown(packet: av.Packet) -> bool:
    """A packet of a frame that plays. A clip cut without re-encoding (`ffmpeg -ss 1.3 -c copy`) keeps the
    frames from the keyframe before the cut, hidden by its edit list: the demuxer marks them discard."""
    return packet.pts is not None and packet.size > 0 and not packet.is_discard


def slice_checksums(stream) -> SliceChecksums | None:
    """What refuses an FFV1 stream's damaged frames (see `SliceChecksums`); None for other codecs."""
    return SliceChecksums(stream.codec_context.extradata) if stream.codec_context.name == "ffv1" else None


def moving_pictures(container) -> av.VideoStream | None:
    """The first video stream that is not a cover picture; an MP4 can list its cover first."""
    return next((stream for stream in container.streams.video if not is_cover(stream)), None)


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
        self.stream = moving_pictures(self.container)
        if self.stream is None:
            others = ", ".join("cover picture" if is_cover(stream) else stream.type
                               for stream in self.container.streams) or "no streams at all"
            self.container.close()
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
        self._header_frames = start + self.frames if start_pts is None and self.frames else None
        self._start, self._read, self._damage = start, 0, ReadDamage()
        self._last_time: float | None = None  # the latest frame's time in the file (s)
        self._times = FrameGaps(1 / (self.fps * self.stream.time_base))  # the timestamps of the frames read
        self._read_bytes = BytesRead()  # how far into the file the packets read go, of any stream
        self._passed = SkippedBytes()  # data the demuxer passed over, of any stream
        self._checksums = slice_checksums(self.stream)
        self._refused: set[int] = set()  # the times of frames whose packet's checksums show damage
        self._pictures_read = 0  # the packets of the video stream read that hold data
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
        damaged goes to `_damage`."""
        packets = self.container.demux()  # every stream's, whose positions tell data skipped (`SkippedBytes`)
        while True:
            try:
                packet = next(packets, None)
            except av.FFmpegError as e:
                self._damage.stopped = e.strerror or str(e)
                with contextlib.suppress(av.FFmpegError):  # the frames the decoder still holds
                    yield from self.stream.decode(None)
                break
            if packet is None:
                break
            self._passed.packet(packet.pos, packet.size)
            self._read_bytes.packet(packet.pos, packet.size)
            if packet.stream_index != self.stream.index:
                continue
            self._pictures_read += bool(packet.size)
            damaged = self._checksums is not None and not self._checksums.whole(memoryview(packet))
            try:
                frames = packet.decode()  # a damaged one too: the frames after it take its decoder's state
            except av.FFmpegError as e:
                self._damage.packet(e.strerror or str(e), False)
                continue
            marked = packet.is_corrupt or any(frame.is_corrupt for frame in frames)
            if damaged:
                if packet.pts is not None:  # its frame may come out later, from a decoder's thread
                    self._refused.add(packet.pts)
                self._damage.packet("its slices' checksums do not match", False)
            elif packet.size:
                self._damage.packet("", marked)
            else:  # the empty packet that ends the stream
                self._damage.flushed(marked)
            yield from frames

    def said_at_end(self) -> str | None:
        """Once `read` has given None: what went wrong reading the file, in a sentence naming it (damaged data;
        an end short of what its header gives: the file looks truncated), or None."""
        short, kind, _ = self._short_of_header()
        if not short and cut_inside_a_packet(self.container.format.name, os.path.getsize(self.path)):
            short, kind = "its last transport packet is cut short", "cut"
        return self._damage.said(self.path, short, kind, self._skipped_by_damage())

    def said_without_frames(self) -> str:
        """Once `read` has given None before any frame: why, in a sentence naming the file. It looks cut short
        where the packets read reach the file's end (as `cut_leaves` judges a cut) and are fewer than the frames
        its header gives, or it ends inside an MPEG-TS packet; a file whose header gives more packets than read
        at its end (a whole one damaged) is damage."""
        file_bytes = os.path.getsize(self.path)
        header_frames = self._header_frames or round((header_seconds(self.stream) or 0) * self.fps)
        cut = cut_inside_a_packet(self.container.format.name, file_bytes) or (
            self._pictures_read and self._pictures_read < header_frames and not self._damage.stopped
            and file_bytes - self._read_bytes.end <= 2 * self._read_bytes.largest)
        return no_frame_said(self.path, self._pictures_read, bool(cut))

    def undecoded(self) -> int:
        """Once `read` has given None: how many frames of the file were not read, damaged or cut off, as far as
        its header (a count, a length) and its frames' times tell. An MPEG-TS gives neither count nor length:
        the frames it lost after a cut are not known."""
        return self._short_of_header()[2] + self._skipped_by_damage()

    def _short_of_header(self) -> tuple[str, str, int]:
        shown_s = None if self._last_time is None else \
            self._last_time + 1 / self.fps - float((self.stream.start_time or 0) * self.stream.time_base)
        return short_of_header(self._start + self._read, self._header_frames, shown_s, header_seconds(self.stream),
                               self.fps, self._read_bytes, os.path.getsize(self.path))

    def _skipped_by_damage(self) -> int:
        """The frames missing between those read where the header gives no count to tell them (Matroska,
        MPEG-TS): a demuxer that skipped damaged data (Matroska's, to its next cluster) goes on at a later time.
        Where damage was met, every gap in the times is frames lost. Where Matroska's demuxer passed over data
        without failing a packet, the gaps in an otherwise constant frame rate are (see `FrameGaps`); a gap
        where no data was skipped is a variable frame rate, or a part cut out by an edit. A frame lasts 1 / fps:
        Matroska gives durations in whole milliseconds (33 for 33.3), which miscount a long gap."""
        if self._header_frames is not None:
            return 0
        if self._damage.met():
            return self._times.missing_in_span()
        matroska = self.container.format.name.startswith("matroska")
        return self._times.missing_at_gaps() if matroska and self._passed.found else 0

    def read(self, picture: bool = True) -> tuple[np.ndarray | None, float] | None:
        """The next frame and its time in seconds, or None at the end. Without `picture` the frame is decoded
        but not converted (a third less time at 1080p), and None stands for it."""
        frame = next(self._decoded, None)
        if frame is None:
            return None
        self._read, self._last_time = self._read + 1, float(frame.time or 0.0)
        if frame.pts is not None:
            self._times.add(frame.pts)
        seconds = self._last_time + self._jumped
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


def display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    """The frame's display matrix (3x3, row by row), or None: it has none, or side data of a type newer than
    PyAV (FFmpeg 8's EXIF on camera JPEGs) hides it."""
    try:
        matrix = frame.side_data.get(SideDataType.DISPLAYMATRIX)
    except ValueError:
        return None
    return None if matrix is None else np.frombuffer(bytes(matrix), np.int32)


def upright(image: np.ndarray, rotation: float, matrix: np.ndarray | None) -> np.ndarray:
    """The picture as players show it. A phone stores a portrait clip as landscape pictures and a display
    matrix (a rotation, maybe a mirror); this applies it as FFmpeg's autorotate does, so faces are found
    upright too. `rotation`: the frame's, which stands alone where the matrix could not be read."""
    clockwise = -round(rotation) % 360
    if matrix is None:
        return _turned(image, clockwise)
    m = matrix  # m[0] m[1] / m[3] m[4] turn the picture
    if clockwise % 90:  # VideoReader says so once
        return image
    if clockwise == 90:
        return cv2.transpose(image) if m[3] > 0 else cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if clockwise == 270:
        return cv2.flip(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), 0) if m[3] < 0 else \
            cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    mirror = {(True, True): -1, (True, False): 1, (False, True): 0}.get((clockwise == 180 and m[0] < 0, m[4] < 0))
    return image if mirror is None else cv2.flip(image, mirror)


def _turned(image: np.ndarray, clockwise: int) -> np.ndarray:
    """The picture turned `clockwise` degrees, a quarter turn (another angle leaves it as stored)."""
    turn = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(clockwise)
    return image if turn is None else cv2.rotate(image, turn)


def first_decoded_pts(path: str) -> int | None:
    """The timestamp of the file's first frame that decodes (None: none does). A recording cut in the middle of
    a group of pictures (an MPEG-TS cut with `tail -c`, a capture started mid-stream) begins with pictures whose
    references are missing: the decoder drops them, so they are no frames of the video."""
    with av.open(path, **OPEN_OPTIONS) as container:
        for packet in container.demux(moving_pictures(container)):
            with contextlib.suppress(av.FFmpegError):
                for frame in packet.decode():
                    return frame.pts
    return None


def seek_before(container, stream, pts: int) -> None:
    """Seek to a keyframe shown at or before `pts`. Demuxers seek by decoding time, which with B-frames (the
    pictures stored out of order) can land on the keyframe just after the frames before it: step back. MPEG-TS
    has no index, so its demuxer lands on any picture, and the decoder would drop those before the next
    keyframe: step back further, a second, then two, ..., until the packet landed on is a keyframe. The first
    keyframe is decoded before it is shown (B-frames): the steps go on to a second before the stream starts."""
    target, back = pts, max(1, round(1 / stream.time_base))
    floor = (stream.start_time or 0) - back
    for _ in range(100):
        container.seek(target, stream=stream, backward=True)
        landed = next((p for p in container.demux(stream) if p.pts is not None), None)
        if landed is not None and not landed.is_keyframe and target > floor:
            target = max(floor, min(target, landed.dts if landed.dts is not None else landed.pts) - back)
            back *= 2
            continue
        if landed is None or landed.pts <= pts or landed.dts is None or landed.dts - 1 >= target:
            break
        target = landed.dts - 1
    container.seek(target, stream=stream, backward=True)


def frame_timestamps(path: str) -> list[int]:
    """The presentation timestamp of every frame that decodes, in order (the stream's time base): frame i
    begins at the i-th. Reads every packet once, decodes only the last group of pictures. av.FFmpegError (a
    file that cannot be read to its end) is the caller's to say."""
    return timestamps_and_restart(path)[0]


def timestamps_and_restart(path: str) -> tuple[list[int], int | None]:
    """`frame_timestamps`, and how many frames the file shows before its times start again (MPEG-TS recordings
    joined end to end: their decoding times go back at the joint), None when they only go forward: one read."""
    with av.open(path, **OPEN_OPTIONS) as container:
        return _decodable_times(container, os.path.getsize(path))


def count_frames(path: str) -> int:
    """How many frames of a file decode (0 when it cannot be read)."""
    try:
        with av.open(path, **OPEN_OPTIONS) as container:
            return len(_decodable_times(container, os.path.getsize(path))[0])
    except av.FFmpegError:
        return 0


def _decodable_times(container, end: int) -> tuple[list[int], int | None]:
    """The sorted timestamps of the frames of the first video stream that decode. A packet the file (`end`
    bytes) ends inside (a fragment cut short by a kill or a full disk) does not count. Frames shown before the
    last keyframe are counted; the last group of pictures is decoded to be sure (its leading pictures, which
    need the group before, are among the counted). That keyframe may be hidden: a clip cut without re-encoding
    keeps the keyframe before the cut, and may have no other. An FFV1 frame whose slices' checksums show damage is
    not counted: the reader refuses it. Also: the frames shown before the decoding times
    first go back (see `timestamps_and_restart`), None when they never do."""
    stream = moving_pictures(container)
    if stream is None:
        return [], None
    times, tail = [], []  # times: pts of every whole shown packet; tail: the packets since the last keyframe
    latest, shown, restart = None, 0, None  # the latest decoding time, the packets shown so far
    checksums, refused = slice_checksums(stream), set()  # the reader refuses those frames (`VideoReader._decode`)
    for packet in container.demux(stream):
        if restart is None and packet.dts is not None:
            if latest is not None and packet.dts < latest:
                restart = shown
            latest = packet.dts
        shown += is_shown(packet)
        if packet.pts is None or not packet.size or (packet.pos is not None and packet.pos + packet.size > end):
            continue
        if checksums is not None and not checksums.whole(memoryview(packet)):
            refused.add(packet.pts)
        elif is_shown(packet):
            times.append(packet.pts)
        tail = [packet] if packet.is_keyframe else [*tail, packet]
    if not tail:
        return [], restart
    counted = sum(1 for t in times if t < tail[0].pts)
    for packet in [*tail, None]:
        with contextlib.suppress(av.FFmpegError):
            counted += sum(1 for frame in stream.decode(packet)
                           if frame.pts >= tail[0].pts and frame.pts not in refused)
    return sorted(times)[:counted], restart
