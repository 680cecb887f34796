"""When each frame of a run's source file is shown, by frame id, so that a written file keeps the source's
timing: a variable frame rate (phones record one) and the frames a realtime run dropped stay in step with the
audio, where counting frames at a fixed rate would drift."""

from __future__ import annotations

import heapq
from fractions import Fraction

import av

from .video_read import VideoReader
from .video_streams import OPEN_OPTIONS, moving_pictures, seek_before

# Packets read ahead of the frame asked for: a decoder shows a packet at most this many packets after it
# came (B-frame reordering; H.264 and HEVC hold back at most 16 pictures).
REORDER = 32


class SourceTimes:
    """The source's frame times (s) after `first_time` (its first frame read), from the packets alone (no
    decoding), read as the frames are written: the file is read a second time, from the page cache, never all
    at once before the first frame. A time within one tick of the source's time base of a whole number of
    frames at `fps` is that number exactly: a constant rate stored in milliseconds (Matroska) stays exact. A
    looping source's passes follow one another, one frame apart, as VideoSource's timestamps do."""

    def __init__(self, path: str, first_time: float, fps: float):
        self.container = av.open(path, **OPEN_OPTIONS)
        self.stream = moving_pictures(self.container)
        self.first_time, self.tick = first_time, self.stream.time_base
        self.frame = 1 / Fraction(fps).limit_denominator(1001 * 1000)  # as VideoWriter takes its rate
        self.first = round(first_time / self.tick)
        self._offset = Fraction(0)  # where this pass begins, after the first frame read
        self._latest: int | None = None  # the time of this pass's latest frame given out
        self._ahead: list[int] = []  # a heap of the times read but not yet given out
        self._next_id = 0
        self._went_back = False  # the times went back: no longer known
        self._start_pass(seek=self.first > (self.stream.start_time or 0))

    def _start_pass(self, seek: bool) -> None:
        if seek:
            seek_before(self.container, self.stream, self.first)
        self._packets = (packet.pts for packet in self.container.demux(self.stream)
                         if packet.pts is not None and packet.size and packet.pts >= self.first)

    def seconds(self, frame_id: int) -> Fraction | None:
        """Frame `frame_id`'s time after the first frame read; None for an id below one asked for before, or
        for a file without frames."""
        if frame_id < self._next_id:
            return None
        while self._next_id <= frame_id:
            shown = self._next_shown()
            if shown is None:
                return None
            self._next_id += 1
        nearest = round(shown / self.frame) * self.frame
        return nearest if abs(shown - nearest) <= self.tick else shown

    def _next_shown(self) -> Fraction | None:
        self._read_ahead()
        if not self._ahead and self._latest is not None:  # past the end: a looping source's next pass
            self._offset += (self._latest - self.first) * self.tick + self.frame
            self._latest = None
            self._start_pass(seek=True)
            self._read_ahead()
        if not self._ahead or self._went_back:
            return None
        shown = heapq.heappop(self._ahead)
        if self._latest is not None and shown <= self._latest:  # MPEG-TS recordings joined end to end: the
            self._went_back = True  # times start again, and the writer places frames at the frame rate
            return None
        self._latest = shown
        return self._offset + (self._latest - self.first) * self.tick

    def _read_ahead(self) -> None:
        while len(self._ahead) <= REORDER and (shown := next(self._packets, None)) is not None:
            heapq.heappush(self._ahead, shown)

    def close(self) -> None:
        self.container.close()


def whole_file_times(path: str) -> SourceTimes:
    """The frame times of a whole file, from its first frame that decodes, at the rate its reader gives."""
    reader = VideoReader(path)
    try:
        first = reader.read()
    finally:
        reader.close()
    return SourceTimes(path, first[1] if first else 0.0, reader.fps)
