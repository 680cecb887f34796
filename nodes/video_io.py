"""Writing video files through PyAV (FFmpeg's libraries inside its wheel; no ffmpeg binary): crash-safe, with
the source's audio copied and a metadata tag, all in this process (the reading side is `video_read`)."""

from __future__ import annotations

import functools
import io
import logging
import math
from fractions import Fraction

import av
import cv2
import numpy as np

from nodegraph.errors import InvalidInput, RunFailed

from .audio_copy import AudioCopy, header_at_once
from .ffmpeg_log import ffmpeg_logs, ffmpeg_reason, svt_log_level, x265_log_level
from .kept_scheduling import scheduling_kept
from .source_times import SourceTimes

log = logging.getLogger("nodegraph")

# codec choice -> (software encoder, hardware encoders tried first when asked for, pixel format, note)
CODECS = {
    "h264": ("libx264", ["h264_nvenc", "h264_videotoolbox", "h264_qsv"], "yuv420p", "H.264, plays everywhere"),
    "h265": ("libx265", ["hevc_nvenc", "hevc_videotoolbox", "hevc_qsv"], "yuv420p",
             "H.265/HEVC, about half the size of H.264, slower"),
    "av1": ("libsvtav1", ["av1_nvenc", "av1_qsv"], "yuv420p", "AV1, smallest, slowest"),
    "ffv1": ("ffv1", [], "bgr0", "lossless, large (.mkv, .avi)"),
    "prores": ("prores_ks", [], "yuv422p10le", "ProRes 422 for editing (.mov)"),
    "mp4v": ("mpeg4", [], "yuv420p", "MPEG-4 part 2, for old players"),
}
# How a YUV file says its pixels are coded (FFmpeg's AVColorSpace and AVColorRange): OpenCV and FFmpeg convert
# BGR with BT.601's matrix into limited range.
BT601, LIMITED_RANGE = 6, 1
SPEEDS = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
# Fragmented MP4/MOV: the index goes with every fragment (~1 s, one keyframe each), so a file cut short by
# a kill or a full disk plays up to its last whole fragment. Matroska is written in clusters anyway. Each
# fragment goes to the file as it is done, not when FFmpeg's 32 KiB write buffer fills (flush_packets). The
# header goes with the first fragment (delay_moov), so its edit list shows the first frame at its own time: a
# B-frame encoder decodes it before 0 (by as much as the first frames' gaps), and without the edit list the
# muxer moved the whole file that much later (1 s of nothing before the first frame of a variable-rate clip).
FLUSHED = {"flush_packets": "1"}
FRAGMENTED = {"movflags": "frag_keyframe+delay_moov+default_base_moof", "frag_duration": "1000000", **FLUSHED}
MIN_FPS = 0.01
SUBFRAMES = 100  # a frame at its source time is placed to 1/100 of a frame at the file's rate
REFUSED_HINT = "choose another codec or container, or set keep_audio to false"  # when FFmpeg refuses a file
# SVT-AV1 refuses a side under 4 px, and refusing it can corrupt the process's heap first (a writer stage died
# of "realloc(): invalid next size" at 1x1, once in about a hundred runs): such frames never reach it
SVT_MIN_SIDE = 4
FOUR_FOUR_FOUR = {"libx264", "libx265"}  # 4:2:0 needs even sizes; these keep odd ones in 4:4:4


def encoder_options(encoder: str, quality: int, speed: str) -> dict[str, str]:
    """The encoder's own options for a quality (0 best .. 51 smallest, like x264's CRF) and a speed preset."""
    level = SPEEDS.index(speed)
    if encoder == "libx264":
        return {"crf": str(quality), "preset": speed}
    if encoder == "libx265":
        return {"crf": str(quality), "preset": speed, "x265-params": f"log-level={x265_log_level()}"}
    if encoder == "libsvtav1":
        return {"crf": str(round(quality * 63 / 51)), "preset": str(12 - level)}
    if encoder.endswith("_nvenc"):
        return {"cq": str(quality), "preset": f"p{min(7, level + 1)}"}
    if encoder == "mpeg4":
        q = str(2 + round(quality * 29 / 51))
        return {"qmin": q, "qmax": q}
    if encoder == "ffv1":  # version 3 with a checksum per slice, which the reader checks (`ffv1_slices`)
        return {"level": "3", "slicecrc": "1"}
    return {}


class FlushedFile(io.BufferedWriter):
    """A file that each write reaches whole before it returns, or raises: for FFmpeg to write through. Of a
    file it opens itself, FFmpeg drops the error of the last write when it closes it, so a disk that filled
    with the last fragment went unnoticed and the short file replaced the one there."""

    def write(self, data) -> int:
        written = super().write(data)
        self.flush()  # what FFmpeg's flush_packets gives: a fragment is in the file once muxed (crash safety)
        return written


class VideoWriter:
    """Encodes BGR frames into a crash-safe file: the encoder opens with the first frame's size."""

    def __init__(self, path: str, container_ext: str, codec: str, fps: float, quality: int, speed: str,
                 hardware: bool, audio_from: str | None, comment: str | None, what: str, audio_start: float = 0.0,
                 times: SourceTimes | None = None):
        """`audio_from`: the file whose audio goes with the frames, from `audio_start` (s, that file's time of
        the first frame read). `times`: that file's frame times, which the frames keep (else `fps`, constant)."""
        self.what, self.codec, self.quality, self.speed = what, codec, quality, speed
        self.rate = Fraction(fps).limit_denominator(1001 * 1000)
        self.times, self._base = times, None  # the first frame's time in the source (s)
        self._timing(SUBFRAMES if times else 1)
        self.encoders = choose_encoders(codec, hardware)
        self.frames = 0
        self._file = FlushedFile(io.FileIO(path, "w"))
        try:
            self.container = av.open(self._file, "w", format=CONTAINERS[container_ext],
                                     options=FRAGMENTED if container_ext in (".mp4", ".mov") else FLUSHED)
        except BaseException:
            self._file.close()
            raise
        if times is not None and not self.container.format.flags & av.format.Flags.variable_fps.value:
            self._constant_rate()  # AVI holds one frame rate, not a time per frame
        if comment:
            self.container.metadata["comment"] = comment
        self.audio_from, self.audio_start, self.audio, self.stream = audio_from, audio_start, None, None
        self.broken = False  # FFmpeg refused the file: muxing into it again may crash the process

    def _open_video(self, width: int, height: int) -> None:
        software, _, pix_fmt, _ = CODECS[self.codec]
        odd = width % 2 or height % 2
        four_four_four = odd and pix_fmt == "yuv420p" and software in FOUR_FOUR_FOUR
        if odd and pix_fmt == "yuv420p":
            pix_fmt = "yuv444p" if four_four_four else pix_fmt
            self.encoders = [software]
        if self.times is not None and encoder_problem(software, width, height, pix_fmt, self.rate,
                                                      encoder_options(software, self.quality, self.speed),
                                                      self.time_base):
            self._constant_rate()  # mpeg4 takes no time base finer than 1/65535 (29.97 fps in hundredths)
        problems = []
        for encoder in self.encoders:
            options = encoder_options(encoder, self.quality, self.speed)
            problem = encoder_problem(encoder, width, height, pix_fmt, self.rate, options, self.time_base)
            if problem:
                problems.append(f"{encoder}: {problem}")
                continue
            if problems:
                log.warning("%s: %s; using %s", self.what, "; ".join(problems), encoder)
            self.stream = self.container.add_stream(encoder, rate=self.rate, options=options)
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
            self.stream.codec_context.time_base = self.time_base
            # a keyframe and a fragment a second; FFV1's other frames take on the one before's state, so damage
            # to one spoils those after it: every frame is a keyframe (1% larger)
            self.stream.codec_context.gop_size = 1 if encoder == "ffv1" else max(1, round(self.rate))
            if pix_fmt.startswith("yuv"):  # said, not left for players to guess (untagged HD: BT.709)
                context = self.stream.codec_context
                context.colorspace, context.color_range = BT601, LIMITED_RANGE
            break
        if self.stream is None:
            raise RunFailed(f"{self.what}: cannot encode {width}x{height} frames as {self.codec}: "
                            f"{'; '.join(problems).rstrip('.')}; choose another codec (h264 and ffv1 take frames "
                            "of any size)")
        if four_four_four:  # said once the encoder took the frames: frames too small for it stop the run
            log.warning("%s: frames are %dx%d; %s in 4:2:0 needs even sizes, so this file is 4:4:4 to keep every "
                        "pixel (some players, browsers among them, play only 4:2:0: give an even size for those)",
                        self.what, width, height, self.codec)

    def _open_audio(self) -> None:
        """The audio from the source time of the first frame written."""
        start = self.audio_start + float(self._base or 0)
        try:
            self.audio = AudioCopy(self.audio_from, self.container, start, self.what)
        except (av.FFmpegError, ValueError) as e:
            log.warning("%s: the audio of %s is not copied: %s", self.what, self.audio_from, e)

    def _timing(self, subframes: int) -> None:
        """Frames at `fps` (1) or at their source times, to 1/`subframes` of a frame, and never less than 1 ms
        apart (Matroska's time base: two frames at one time there would be out of order)."""
        self.time_base, self._ticks = 1 / (self.rate * subframes), subframes
        self._gap = max(1, math.ceil(Fraction(1, 1000) / self.time_base))
        self._last = -self._ticks  # the last frame's pts: the first goes at 0

    def _constant_rate(self) -> None:
        self.times.close()
        self.times = None
        self._timing(1)

    def _pts(self, frame_id: int | None) -> int:
        """Where a frame goes in the file, in time_base: at its source time after the first frame written,
        where the source's times are known; else one frame at `fps` after the one before."""
        shown = self.times.seconds(frame_id) if self.times is not None and frame_id is not None else None
        if shown is None:
            return self._last + self._ticks
        if self._base is None:
            self._base = shown
        return max(round((shown - self._base) / self.time_base), self._last + self._gap)

    def write(self, image: np.ndarray, frame_id: int | None = None) -> None:
        """Encode a frame; `frame_id` (the run's) finds its time in `times`."""
        first = self.stream is None
        if first:
            self._open_video(image.shape[1], image.shape[0])
        pts = self._pts(frame_id)
        if first:
            if self.audio_from:
                self._open_audio()
            self._start()
        if image.shape[:2] != (self.stream.height, self.stream.width):  # one file, one frame size: the first
            image = cv2.resize(image, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
        if self.stream.pix_fmt == "yuv420p" and not (image.shape[0] % 2 or image.shape[1] % 2):
            # FFmpeg's own bgr24 to yuv420p is 2-4 levels dark, and 5x slower (OpenCV's takes even sizes only)
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        else:  # converted by FFmpeg with the same BT.601 matrix
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=self.stream.pix_fmt)
        if self.stream.pix_fmt.startswith("yuv"):  # ProRes takes its tags from each frame, not its settings
            frame.colorspace, frame.color_range = BT601, LIMITED_RANGE
        frame.pts, frame.time_base = pts, self.time_base
        try:
            self.container.mux(self._encoded(frame))
        except av.FFmpegError:
            self.broken = True
            raise
        self.frames += 1
        self._last = pts
        if self.audio is not None:
            self.audio.feed(self._end())

    def _end(self) -> float:
        """Where the last frame written ends, in seconds of the file."""
        return float((self._last + self._ticks) * self.time_base)

    def _encoded(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        """The encoder's packets for `frame` (None: the end). x265 given fewer frames than its B-frame delay (a
        clip of one or two frames) returns decoding times it never set, days before the first frame, which
        MP4 refuses ("not yet implemented"); a stream that short is in display order: decoded as shown. A
        B-frame encoder's own early decoding times go back at most as far as the frames given span."""
        given = max(self._end(), float((frame.pts + self._ticks) * self.time_base) if frame is not None else 0.0)
        packets = self.stream.encode(frame)
        for packet in packets:
            if packet.dts is not None and packet.dts * packet.time_base < -(given + 1.0):
                packet.dts = packet.pts
        return packets

    def close(self) -> None:
        """Flush the encoder and close the file (it plays even when this raises midway)."""
        try:
            if self.stream is not None and not self.broken:
                self.container.mux(self._encoded(None))
                if self.audio is not None:
                    self.audio.finish(self._end())
        finally:
            if self.audio is not None:
                self.audio.close()  # finish() did, unless the file broke first
            if self.times is not None:
                self.times.close()
            try:
                self.container.close()
            finally:
                self._file.close()

    def _start(self) -> None:
        """Start the file now, so that a muxer refusing its streams says so before any frame (what an MP4 header,
        written with the first fragment, would refuse, `container_refusal` and `copy_refusal` found before)."""
        with scheduling_kept(), svt_log_level(), ffmpeg_logs() as logs:
            try:
                self.container.start_encoding()
            except av.FFmpegError as e:
                self.broken = True
                raise RunFailed(f"{self.what}: FFmpeg cannot start this file: {ffmpeg_reason(e, logs)}; "
                                f"{REFUSED_HINT}") from None


def encoder_problem(encoder: str, width: int, height: int, pix_fmt: str, rate: Fraction, options: dict,
                    time_base: Fraction | None = None) -> str:
    """Why `encoder` cannot open for these frames (FFmpeg's words), or "" when it can: tried on its own, so a
    hardware encoder that fails leaves no stream behind in the file. The time base is 1/rate unless given."""
    if encoder == "libsvtav1" and min(width, height) < SVT_MIN_SIDE:
        return f"frames must be at least {SVT_MIN_SIDE}x{SVT_MIN_SIDE} px"
    context = av.CodecContext.create(encoder, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base, context.framerate, context.options = time_base or 1 / rate, rate, options
    with scheduling_kept(), svt_log_level(), ffmpeg_logs() as logs:
        try:
            context.open()
        except (av.FFmpegError, OSError, ValueError) as e:
            return ffmpeg_reason(e, logs)
    return ""


def choose_encoders(codec: str, hardware: bool) -> list[str]:
    """The encoders to try in order: the hardware ones the wheel has when asked for, then the software one."""
    software, hardware_encoders, _, _ = CODECS[codec]
    have = [name for name in hardware_encoders if name in av.codecs_available] if hardware else []
    return [*have, software]


def check_encoder(codec: str, container_ext: str, fps: float, what: str) -> None:
    """A codec, container or frame rate that cannot work is found before the first frame, with FFmpeg's own
    reason: the container must take the codec, and the encoder must open at this rate."""
    if fps and fps < MIN_FPS:
        raise InvalidInput(f"{what}: fps {fps:g} is too low to write: a file's time base is a fraction of whole "
                           f"numbers (1/fps); use at least {MIN_FPS} fps, or 0 for the source's rate")
    software, _, pix_fmt, _ = CODECS[codec]
    check_container(codec, container_ext, what)
    rate = Fraction(fps or 30).limit_denominator(1001 * 1000)
    problem = encoder_problem(software, 64, 64, pix_fmt, rate, encoder_options(software, 23, "ultrafast"))
    if problem:
        raise InvalidInput(f"{what}: cannot write {codec} at {float(rate):g} fps: {problem}; choose another codec "
                           "or frame rate")


def check_container(codec: str, container_ext: str, what: str) -> None:
    """InvalidInput naming the codecs a `container_ext` file takes and the containers that take `codec`, when
    it cannot hold `codec`."""
    if CODECS[codec][0] not in av.codecs_available:
        raise InvalidInput(f"{what}: this PyAV build has no {CODECS[codec][0]} encoder for {codec}; choose another "
                           "codec")
    refused = container_refusal(codec, container_ext)
    if refused:
        fits = [name for name in CODECS if name != codec and not container_refusal(name, container_ext)]
        holders = [ext for ext in CONTAINERS if ext != container_ext and not container_refusal(codec, ext)]
        raise InvalidInput(f"{what}: {container_ext} files cannot hold {codec}; with {container_ext} use one of "
                           f"{', '.join(fits)}, or write {codec} to {', '.join(holders)} (FFmpeg: {refused})")


@functools.cache  # the same for every call in a process: validate, a run's start and the editor's checks ask again
def container_refusal(codec: str, container_ext: str) -> str:
    """Why a `container_ext` file cannot hold `codec`, in FFmpeg's words, or "" when it can. A header is
    written into memory: the muxer's codec list lets through codecs its header then refuses (AV1 in .mov). An
    encoder this PyAV build lacks is refused too (its UnknownCodecError is a ValueError)."""
    encoder, _, pix_fmt, _ = CODECS[codec]
    options = header_at_once(FRAGMENTED) if container_ext in (".mp4", ".mov") else FLUSHED
    with scheduling_kept(), svt_log_level(), ffmpeg_logs() as logs:
        try:
            with av.open(io.BytesIO(), "w", format=CONTAINERS[container_ext], options=options) as container:
                stream = container.add_stream(encoder, rate=30, options=encoder_options(encoder, 23, "ultrafast"))
                stream.width, stream.height, stream.pix_fmt = 64, 64, pix_fmt
                container.start_encoding()
        except (av.FFmpegError, ValueError) as e:
            return ffmpeg_reason(e, logs)
    return ""
