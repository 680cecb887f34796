"""What one reading of a video file met, gathered as `VideoReader` reads, and what it comes to at the end: the
file was whole, damaged (and how many frames it lost), or cut short; said in one sentence naming the file."""

from __future__ import annotations

import os

from .file_extent import declared_end
from .frame_places import FramePlaces, clock
from .matroska_blocks import SkippedBlocks
from .video_damage import (
    BytesRead,
    FrameGaps,
    ReadDamage,
    cut_inside_a_packet,
    header_seconds,
    no_frame_said,
    short_of_header,
)


class ReadVerdict:
    """The packets and frames a reader met in `path` (`container`, its video `stream` at `fps`), reading from frame
    `start`; `header_frames`: the file's frames from its first as its header counts them (None: no count);
    `seeks`: the reader seeks before its first packet."""

    def __init__(self, path: str, container, stream, fps: float, start: int, header_frames: int | None,
                 seeks: bool):
        self.path, self.container, self.stream, self.fps = path, container, stream, fps
        self.start, self.header_frames = start, header_frames
        self.damage = ReadDamage(FramePlaces(fps))
        self._read = 0  # the frames given
        self._last_time: float | None = None  # the latest frame's time in the file (s)
        self._origin = stream.start_time or 0  # the first frame's timestamp
        self._tick_s = float(stream.time_base)
        # the timestamps of the frames given
        self._times = FrameGaps(1 / (fps * stream.time_base), self._origin, FramePlaces(fps))
        self._passed_places = FramePlaces(fps)  # where Matroska's demuxer passed over blocks (`SkippedBlocks`)
        self._latest_video: int | None = None  # the number of the latest video packet's frame
        self._after_last: int | None = None  # the number of the frame after the latest one given, where timed
        self._read_bytes = BytesRead()  # how far into the file the packets read go, of any stream
        self.pictures_read = 0  # the packets of the video stream read that hold data
        end = declared_end(path, container.format.name)
        # whether the file is as long as its structure says: a file shorter was cut; None where it does not say
        self.whole_length = None if end is None else os.path.getsize(path) >= end
        matroska = container.format.name.startswith("matroska")
        # the blocks the demuxer passed over, of any stream; opened last, as nothing after can fail to close it
        self._passed = SkippedBlocks(path, len(container.streams) == 1, not seeks) if matroska else None

    def packet(self, packet) -> None:
        """A packet demuxed, of any stream."""
        video = packet.stream_index == self.stream.index
        frame = self.frame_number(packet.pts) if video else None
        if self._passed is not None and (passed := self._passed.packet(packet.pos, packet.size, video)):
            # right after the latest frame given, where the damage began: at a variable rate the next frame's
            # time is as far from them as the frame rate is from constant
            after = self._latest_video if self._latest_video is not None else (frame or 0) - passed - 1
            self._passed_places.add(max(0, after + 1), max(0, after + passed))
        self._read_bytes.packet(packet.pos, packet.size)
        if video:
            self.pictures_read += bool(packet.size)
            if frame is not None:
                self._latest_video = max(frame, self._latest_video or 0)

    def frame_number(self, pts: int | None) -> int | None:
        """The number of the frame at `pts` (the stream's time base), counted from the file's first at its rate."""
        return None if pts is None else round((pts - self._origin) * self._tick_s * self.fps)

    def frame(self, pts: int | None, time: float) -> None:
        """A frame given, at `pts` (the stream's time base), `time` s into the file."""
        self._read, self._last_time = self._read + 1, time
        if pts is not None:
            self._times.add(pts)
            self._after_last = max(self.frame_number(pts) + 1, self._after_last or 0)

    def said_at_end(self) -> str | None:
        """Once the file was read to its end: what went wrong, in a sentence naming it (damaged data; an end short
        of what its header gives: the file looks truncated), or None."""
        short, kind, _ = self._short_of_header()
        if not short and self.whole_length:
            kind = "lost"  # a damaged last packet is damage, not the cut it is in a file that gives no length
        if not short and cut_inside_a_packet(self.container.format.name, os.path.getsize(self.path)):
            short, kind = "its last transport packet is cut short", "cut"
        unidentified = self._passed_to_end().unidentified if self._passed is not None else 0
        skipped = self._skipped_by_damage()
        read_to = self._after_last if self._after_last is not None else self.start + self._read
        return self.damage.said(self.path, short, kind, skipped, unidentified, self._places(kind, skipped, read_to),
                                f"frame {read_to} ({clock(read_to / self.fps)})")

    def _places(self, kind: str, skipped: int, read_to: int) -> FramePlaces:
        """Where frames were lost, as far as the frames' times, the blocks passed over and the header tell (the
        damaged packets' own frames are added by `ReadDamage.said`)."""
        places = FramePlaces(self.fps)
        # the gaps in the times are frames lost where they were counted so: not at a variable frame rate, nor where
        # the header counts the frames (an AVI's or an MP4's times after damage can be anything)
        if skipped and (self.damage.met() or self._times.missing_at_gaps()):
            places.join(self._times.places)
        if self._passed is not None and (self._passed.lost or self._passed.unidentified):
            places.join(self._passed_places)
        if self.damage.met() and (missing_at_start := self._lost_at_start()):
            places.add(0, missing_at_start - 1)
        missing_at_end = self._short_of_header()[2] if kind == "stopped" else self._lost_at_end()
        if missing_at_end:
            places.add(read_to, read_to + missing_at_end - 1)
        return places

    def said_without_frames(self) -> str:
        """Once the file ended before any frame: why, in a sentence naming the file. It looks cut short where the
        packets read reach the file's end (as `cut_leaves` judges a cut) and are fewer than the frames its header
        gives, or it ends inside an MPEG-TS packet; a file whose header gives more packets than read at its end
        (a whole one damaged) is damage."""
        file_bytes = os.path.getsize(self.path)
        header_frames = self.header_frames or round((header_seconds(self.stream) or 0) * self.fps)
        cut = cut_inside_a_packet(self.container.format.name, file_bytes) or self.pictures_read and (
            self.whole_length is False or self.whole_length is None and self.pictures_read < header_frames
            and not self.damage.stopped and file_bytes - self._read_bytes.end <= 2 * self._read_bytes.largest)
        return no_frame_said(self.path, self.pictures_read, bool(cut))

    def close(self) -> None:
        if self._passed is not None:
            self._passed.close()

    def undecoded(self) -> int:
        """Once the file was read to its end: how many of its frames were not read, damaged or cut off, as far as
        its header (a count, a length) and its frames' times tell. An MPEG-TS gives neither count nor length: the
        frames it lost after a cut are not known."""
        return self._short_of_header()[2] + self._skipped_by_damage()

    def _shown_s(self) -> float | None:
        """Where the last frame read ends, in seconds: from the stream's first frame where the header gives a
        count of frames, from the file's start where it gives a length, as Matroska's DURATION is the track's end
        (FFmpeg's muxer: a video from 0.5 s to 1.5 s gives 1.5 s)."""
        if self._last_time is None:
            return None
        start_s = float((self.stream.start_time or 0) * self.stream.time_base) if self.header_frames else 0.0
        return self._last_time + 1 / self.fps - start_s

    def _short_of_header(self) -> tuple[str, str, int]:
        shown_s = self._shown_s()
        return short_of_header(self.start + self._read, self.header_frames, shown_s, header_seconds(self.stream),
                               self.fps, self._read_bytes, os.path.getsize(self.path), self.whole_length)

    def _skipped_by_damage(self) -> int:
        """The frames missing between those read where the header gives no count to tell them (Matroska,
        MPEG-TS): a demuxer that skipped damaged data (Matroska's, to its next cluster) goes on at a later time.
        Where damage was met, every gap in the times is frames lost. Where Matroska's demuxer passed over blocks
        without failing a packet, the video's blocks passed over are frames lost, at any frame rate, and so are
        the gaps in an otherwise constant frame rate (see `FrameGaps`), which count the frames after them that
        did not decode too; a gap where no block was skipped is a variable frame rate, or a part cut out by an
        edit. A frame lasts 1 / fps:
        Matroska gives durations in whole milliseconds (33 for 33.3), which miscount a long gap."""
        if self.header_frames is not None:
            return 0
        if self.damage.met():
            return self._times.missing_in_span() + self._lost_at_end() + self._lost_at_start()
        if self._passed is None or not self._passed_to_end().found:
            return 0
        if self._passed.uncounted:
            return self._times.missing_at_gaps()
        return max(self._times.missing_at_gaps(), self._passed.lost)

    def _passed_to_end(self) -> SkippedBlocks:
        """`_passed`, with the blocks after the last one given (placed right after the latest frame given)."""
        if passed := self._passed.ended():
            after = self._latest_video if self._latest_video is not None else -1
            self._passed_places.add(after + 1, after + passed)
        return self._passed

    def _lost_at_start(self) -> int:
        """Where damage was met in a file read from its first frame: the frames before the first one given (its
        first keyframe damaged, as an FFV1 packet whose checksums fail is)."""
        if self.start or self._times.span is None:
            return 0
        return max(0, self.frame_number(self._times.span[0]))

    def _lost_at_end(self) -> int:
        """Where damage was met in a file as long as its structure says: the frames after the last one read, up to
        the length its header gives, too few for `short_of_header` (which allows a whole file's length to be
        a few frames off its last frame's end) to call its end short."""
        header_s, shown_s = header_seconds(self.stream), self._shown_s()
        if not self.whole_length or not header_s or shown_s is None or self._short_of_header()[0]:
            return 0
        return max(0, round((header_s - shown_s) * self.fps))
