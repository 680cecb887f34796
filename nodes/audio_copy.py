"""A source file's audio, carried into a video file as its frames are written: copied where the muxer takes
the codec as it is, else re-encoded to AAC, and lined up with the first frame written."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
from fractions import Fraction

import av
from av.bitstream import BitStreamFilterContext
from av.packet import PacketSideData

from .ffmpeg_log import ffmpeg_logs, ffmpeg_reason
from .video_streams import OPEN_OPTIONS

log = logging.getLogger("nodegraph")
PROBE_PACKETS = 3  # some muxers (fragmented MP4 with AC-3) refuse a codec only when its first packets come
# MPEG-TS and .aac files carry AAC with a header on every packet (ADTS); MP4 and MOV want it without, and
# the stream's config in the file header, which is what this FFmpeg filter makes of it, losslessly
ADTS_TO_RAW = "aac_adtstoasc"
# AVI lays its audio out from the file's start, whatever its timestamps say: audio that begins later than the
# first frame by more than this (s; lips look out of step from about 45 ms) plays early there, and is said
AVI_AUDIO_SLACK_S = 0.04
READ_THROUGH_S = 60.0  # audio before a start this close to the file's beginning is read through, not sought past


def adts_config(source: str) -> bytes:
    """The AAC config (AudioSpecificConfig) of `source`'s first audio track when its packets carry ADTS
    headers, as FFmpeg's aac_adtstoasc filter makes it from the first packet, else b"" (not ADTS AAC)."""
    with av.open(source, **OPEN_OPTIONS) as container:
        stream = container.streams.audio[0]
        if stream.codec_context.name != "aac" or stream.codec_context.extradata:
            return b""
        unwrap = BitStreamFilterContext(ADTS_TO_RAW, stream)
        with contextlib.suppress(av.FFmpegError):  # not ADTS after all: the filter refuses it
            for packet in container.demux(stream):
                if packet.dts is not None:
                    return next((bytes(PacketSideData.from_packet(raw, "new_extradata"))
                                 for raw in unwrap.filter(packet)), b"")
    return b""


def header_at_once(options: dict) -> dict:
    """`options` with an MP4/MOV header written when the file starts: a test file then meets the muxer's
    refusal there. Written with the first fragment (delay_moov), the refusal comes only when a fragment is cut,
    and closing the test file drops it."""
    flags = options.get("movflags")
    return {**options, "movflags": flags.replace("delay_moov", "empty_moov")} if flags else options


def copy_refusal(source: str, format_name: str, options: dict, config: bytes = b"") -> str:
    """Why a `format_name` file written with `options` cannot hold a copy of `source`'s first audio track, in
    FFmpeg's words, or "" when it can; with an ADTS `config`, the copy without ADTS headers. The muxer's codec
    list lets through codecs it then refuses (Opus or FLAC in .mov, AC-3 in fragmented .mp4, ADTS AAC in
    fragmented .mp4), and writing into such a file fails on every frame or crashes the process, so a header
    and the first packets are written into memory first."""
    with av.open(source, **OPEN_OPTIONS) as container:
        stream = container.streams.audio[0]
        packets = (packet for packet in container.demux(stream) if packet.dts is not None)
        with ffmpeg_logs() as logs:
            try:
                with av.open(io.BytesIO(), "w", format=format_name, options=header_at_once(options)) as test:
                    copy = test.add_stream_from_template(stream)
                    unwrap = copy_filter(stream, copy, config)
                    test.start_encoding()
                    for packet in itertools.islice(packets, PROBE_PACKETS):
                        for raw in unwrap(packet):
                            raw.stream = copy
                            test.mux(raw)
            except (av.FFmpegError, ValueError) as e:
                return ffmpeg_reason(e, logs)
    return ""


def copy_filter(source_stream, copy, config: bytes):
    """What a packet of `source_stream` becomes in `copy`: with an ADTS `config`, the packet without its ADTS
    header (and `copy` gets the config), else the packet as it is."""
    if not config:
        return lambda packet: (packet,)
    copy.codec_context.extradata = config
    return BitStreamFilterContext(ADTS_TO_RAW, source_stream).filter


def aac_rate(rate: int) -> int:
    """The sample rate AAC is encoded at: the source's, or the nearest that FFmpeg's AAC encoder takes."""
    rates = av.codec.Codec("aac", "w").audio_rates
    return rate if rate in rates else min(rates, key=lambda taken: abs(taken - rate))


def aac_layout(layout) -> str:
    """The channel layout AAC is encoded in: the source's, or where it does not say which channels it has (PCM
    from some tools: "2 channels"), FFmpeg's usual layout for that many ("2c": stereo)."""
    return f"{layout.nb_channels}c" if layout.name.endswith(" channels") else layout.name


class AudioCopy:
    """The audio of a source file, fed into an output as the video advances. `start` is the source time (s) of
    the first frame written: the audio before it is left out, and the rest keeps its place against the video.
    A packet that cannot be written is skipped, and the log says so once."""

    def __init__(self, source: str, output, start: float = 0.0, what: str = ""):
        self.what = what or source
        self.source = av.open(source, **OPEN_OPTIONS)
        try:
            self._add_stream(source, output, start)
        except BaseException:
            self.source.close()
            raise

    def _add_stream(self, source: str, output, start: float) -> None:
        audio = self.source.streams.audio
        self.input = audio[0] if audio else None
        self.output, self.start, self.skipped, self.placed = output, start, 0, False
        self._jumped = 0.0  # s added to the source's times where they start again, so they keep going forward
        self._latest: tuple[float, float] | None = None  # (begin, end) of the latest packet, in those times
        if self.input is None:
            return
        format_name, options = output.format.name, dict(output.options)
        refused = copy_refusal(source, format_name, options)
        config = adts_config(source) if refused else b""  # ADTS AAC: refused as it is, taken without its headers
        if config and not copy_refusal(source, format_name, options, config):
            refused = ""
        self.copy = not refused
        if self.copy:
            self.stream = output.add_stream_from_template(self.input)
            self._unwrap = copy_filter(self.input, self.stream, config)
        else:
            rate = aac_rate(self.input.rate)
            log.info("%s: the audio (%s) is re-encoded to AAC%s: %s files cannot hold it as it is (%s)", self.what,
                     self.input.codec_context.name, f" at {rate} Hz" if rate != self.input.rate else "",
                     output.format.name, refused)
            self.stream = output.add_stream("aac", rate=rate, layout=aac_layout(self.input.layout))
        # straight to the start frame's audio, not through all the audio before it; but not for a start near the
        # beginning, which is read through: a seek by time in recordings joined end to end, whose times repeat,
        # may land in a later recording (MPEG-PS does), and its audio alone was written
        if start > float((self.input.start_time or 0) * self.input.time_base) + READ_THROUGH_S:
            with contextlib.suppress(av.FFmpegError):
                self.source.seek(int(start / self.input.time_base), stream=self.input, backward=True)
        self._packets = self.source.demux(self.input)

    def feed(self, until: float) -> None:
        """Write the audio up to `until` seconds of the output."""
        if self.input is None:
            return
        for packet in self._packets:
            if packet.dts is None or packet.pts is None:
                continue
            at = self._source_time(packet) - self.start
            if at < 0 and self.copy:  # a copied packet cannot be cut: the audio begins with the next one
                continue
            if not self.placed:
                self.placed = True
                if self.output.format.name == "avi" and at > AVI_AUDIO_SLACK_S:
                    log.warning("%s: the audio begins %.2f s after the first frame, which an .avi file cannot say: "
                                "it plays %.2f s early there; write .mp4, .mkv or .mov to keep it in step",
                                self.what, at, at)
            self._write(packet)
            if at > until:  # the packet straddling `until`: kept, then stop
                return

    def _source_time(self, packet) -> float:
        """When `packet` begins in the source (s). Where the times start again (MPEG-TS recordings joined end to
        end), the audio goes on right after the packet before, as VideoReader puts the frames after the frame
        before: the two stay in step to within the difference of the first recording's audio and video
        lengths."""
        begins = float(packet.pts * packet.time_base) + self._jumped
        if self._latest is not None and begins < self._latest[0]:
            self._jumped += self._latest[1] - begins
            begins = self._latest[1]
        self._latest = begins, begins + float((packet.duration or 0) * packet.time_base)
        return begins

    def _write(self, packet) -> None:
        try:
            if self.copy:
                shift = round((self.start - self._jumped) / packet.time_base)
                packet.pts -= shift
                packet.dts -= shift
                for raw in self._unwrap(packet):
                    raw.stream = self.stream
                    self.output.mux(raw)
                return
            for frame in packet.decode():
                begins = frame.time + self._jumped
                if begins + frame.samples / frame.sample_rate <= self.start:
                    continue
                frame.pts = round((begins - self.start) * frame.sample_rate)
                frame.time_base = Fraction(1, frame.sample_rate)
                self.output.mux(self.stream.encode(frame))
        except av.FFmpegError as e:  # a damaged packet: the audio goes on with the next
            self.skipped += 1
            if self.skipped == 1:
                log.warning("%s: an audio packet of %s could not be written and is left out (%s)", self.what,
                            self.source.name, e)

    def finish(self, until: float) -> None:
        self.feed(until)
        if self.input is not None and not self.copy:
            self.output.mux(self.stream.encode(None))
        if self.skipped > 1:
            log.warning("%s: %d audio packets of %s were left out", self.what, self.skipped, self.source.name)
        self.close()

    def close(self) -> None:
        self.source.close()
