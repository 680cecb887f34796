"""When each frame of a run's source file is shown, by frame id, so that a written file keeps the source's
timing: a variable frame rate (phones record one) and the frames a realtime run dropped stay in step with the
audio, where counting frames at a fixed rate would drift."""

from __future__ import annotations

import heapq

import av

from .video_io import seek_before

# Packets read ahead of the frame asked for: a decoder shows a packet at most this many packets after it
# came (B-frame reordering; H.264 and HEVC hold back at most 16 pictures).
REORDER = 32


class SourceTimes:
    """The source's frame times from `first_time` (s, its first frame read), from the packets alone (no
    decoding), read as the frames are written: the file is read a second time, from the page cache, never
    all at once before the first frame."""

    def __init__(self, path: str, first_time: float):
        self.container = av.open(path)
        stream = self.container.streams.video[0]
        self.time_base = stream.time_base
        self.first = round(first_time / self.time_base)
        if self.first > (stream.start_time or 0):
            seek_before(self.container, stream, self.first)
        self._packets = (packet.pts for packet in self.container.demux(stream)
                         if packet.pts is not None and packet.size and packet.pts >= self.first)
        self._ahead: list[int] = []  # a heap of the times read but not yet given out
        self._next_id = 0

    def pts(self, frame_id: int) -> int | None:
        """Frame `frame_id`'s time after the first frame, in `time_base`; None past the file's end (a looping
        source's next pass) or for an id below one asked for before."""
        while True:
            while len(self._ahead) <= REORDER and (shown := next(self._packets, None)) is not None:
                heapq.heappush(self._ahead, shown)
            if not self._ahead or frame_id < self._next_id:
                return None
            shown = heapq.heappop(self._ahead)
            self._next_id += 1
            if self._next_id > frame_id:
                return shown - self.first

    def close(self) -> None:
        self.container.close()
