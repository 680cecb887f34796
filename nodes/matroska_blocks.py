"""Whether Matroska's demuxer passed over blocks between two it gave, and how many: where a block is damaged it goes
on at its next cluster without failing a packet, so the frames lost there show only as a gap in the frames'
times, which a variable frame rate hides. Read
from the file's element headers between the blocks given (PyAV says nothing of it, and FFmpeg's log cannot be
captured while threaded decoders run): from the end of one block, the elements there (a cluster's start and
time, a block group's other parts) lead to the next block given, or to others first, each counted; and from the
first cluster to the first block given, and from the last to the Segment's end."""

from __future__ import annotations

import os

EBML, SEGMENT = 0x1A45DFA3, 0x18538067  # a Matroska file's header, and the element holding all the rest
CLUSTER, BLOCK_GROUP = 0x1F43B675, 0xA0  # entered: the blocks are inside them
BLOCKS = (0xA3, 0xA1)  # SimpleBlock, a block group's Block
MOST_BLOCKS_BETWEEN = 10_000  # a walk over more is no walk over damage: the demuxer skips one cluster at a time


def _ebml_number(data: bytes, keep_marker: bool) -> tuple[int | None, int] | None:
    """The variable-length number `data` begins with (an element's ID keeps its length marker, a size drops it)
    and its length in bytes; None where the bytes are none. A size of all ones is unknown: None for its value
    (a cluster written live)."""
    if not data or not data[0]:
        return None
    length = 9 - data[0].bit_length()
    if length > len(data):
        return None
    value = int.from_bytes(data[:length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (None if value == (1 << (7 * length)) - 1 else value), length


def element_header(data: bytes) -> tuple[int, int | None, int] | None:
    """The EBML element whose header `data` begins with: its ID, its size (None: unknown, as a cluster written
    live leaves it) and the header's length; None where the bytes read as none."""
    element = _ebml_number(data, keep_marker=True)
    size = element and _ebml_number(data[element[1]:], keep_marker=False)
    return size and (element[0], size[0], element[1] + size[1])


def segment_span(file) -> tuple[int, int] | None:
    """Where a Matroska file's (an open binary file) Segment's contents begin and where it ends; None where its
    header does not read as Matroska's, or the writer left the Segment's size open (a live stream)."""
    file.seek(0)
    ebml = element_header(file.read(16))
    if ebml is None or ebml[0] != EBML or ebml[1] is None:
        return None
    segment_start = ebml[2] + ebml[1]
    file.seek(segment_start)
    segment = element_header(file.read(16))
    if segment is None or segment[0] != SEGMENT or segment[1] is None:
        return None
    return segment_start + segment[2], segment_start + segment[2] + segment[1]


class SkippedBlocks:
    """Fed the packets a Matroska file's demuxer gives, in order (`packet`, their position and size, and whether
    they are the video's): `found` once a block was passed over between two of them; `lost`, how many of those
    were the video's frames (any block passed over in a file of one track); `unidentified`, how many were of no
    track a block given has (their track number damaged), in a file of several. `uncounted`: somewhere the bytes
    between two blocks given did not read as elements (overwritten data), so the blocks lost there are not known.
    A packet's position is its block's data, after the block's element header; the data begins with its track
    number. The frames of a laced block share it. `from_first_block`: the packets are given from the file's
    first (no seek), so the blocks before the first given were passed over; `ended` once they were all given."""

    def __init__(self, path: str, one_track: bool, from_first_block: bool):
        self.found = self.uncounted = False
        self._one_track = one_track
        self._video_track: int | None = None  # the video's track number, read from its first block
        self._tracks: set[int | None] = set()  # the track numbers of the blocks given
        self._passed: list[int | None] = []  # the track numbers of the blocks passed over
        self._file = open(path, "rb", buffering=0)  # a few bytes read at each packet; closed with the reader
        self._block: int | None = None  # the position of the latest block given
        self._from_first_block = from_first_block
        self._ended = False

    def packet(self, pos: int | None, size: int, video: bool) -> int:
        """How many blocks that may have been the video's frames were passed over just before this one."""
        if pos is None or not size or pos == self._block:
            return 0
        track = self._track(pos)
        self._tracks.add(track)
        if video and self._video_track is None:
            self._video_track = track
        passed: list[int | None] = []
        if self._block is not None:
            walks = (self._passed_over(end, pos) for end in self._block_ends(self._block))
            passed = self._add(next((walk for walk in walks if walk is not None), None))
        elif self._from_first_block and (first_cluster := self._first_cluster()) is not None:
            passed = self._add(self._passed_over(first_cluster, pos))
        self._block = pos
        return self._maybe_video(passed)

    def ended(self) -> int:
        """Every packet was given: the blocks after the last one given, to the Segment's end, were passed over
        (where the file is as long as its Segment: a file cut short is judged by its length). How many of them
        may have been the video's frames, the first time it is called."""
        if self._ended or self._block is None:
            return 0
        self._ended = True
        span = segment_span(self._file)
        if span is None or os.fstat(self._file.fileno()).st_size < span[1]:
            return 0
        walks = (self._passed_over(end, span[1], to_block=False) for end in self._block_ends(self._block))
        return self._maybe_video(self._add(next((walk for walk in walks if walk is not None), None)))

    def _add(self, passed: list[int | None] | None) -> list[int | None]:
        """The blocks a walk passed over (None: it could not tell), given back (none for None)."""
        if passed is None:
            self.found = self.uncounted = True
        elif passed:
            self.found = True
            self._passed += passed
        return passed or []

    def _maybe_video(self, passed: list[int | None]) -> int:
        """How many of the blocks passed over may have been the video's frames."""
        return sum(self._one_track or track == self._video_track or track not in self._tracks for track in passed)

    @property
    def lost(self) -> int:
        return len(self._passed) if self._one_track else self._passed.count(self._video_track)

    @property
    def unidentified(self) -> int:
        return 0 if self._one_track else sum(track not in self._tracks for track in self._passed)

    def close(self) -> None:
        self._file.close()

    def _read(self, at: int, count: int) -> bytes:
        self._file.seek(at)  # unbuffered: reads these bytes alone (os.pread is not on Windows)
        return self._file.read(count)

    def _track(self, data_at: int) -> int | None:
        number = _ebml_number(self._read(data_at, 8), keep_marker=False)
        return number and number[0]

    def _block_ends(self, data_at: int) -> list[int]:
        """Where the block whose data begins at `data_at` ends, from its element's header just before: its ID and
        size take 2 to 9 bytes, so each length that reads as a block's header is a candidate."""
        before = self._read(max(0, data_at - 9), min(9, data_at))
        ends = []
        for size_length in range(1, min(8, len(before) - 1) + 1):
            if before[-size_length - 1] in BLOCKS:
                size = _ebml_number(before[-size_length:], keep_marker=False)
                if size is not None and size[0] is not None and size[1] == size_length:
                    ends.append(data_at + size[0])
        return ends

    def _first_cluster(self) -> int | None:
        """Where the Segment's first cluster begins, walking the elements before it; None where there is none."""
        span = segment_span(self._file)
        at = span and span[0]
        while span and at < span[1]:
            header = element_header(self._read(at, 12))
            if header is None or header[0] != CLUSTER and header[1] is None:
                return None
            if header[0] == CLUSTER:
                return at
            at += header[2] + header[1]
        return None

    def _passed_over(self, at: int, target: int, to_block: bool = True) -> list[int | None] | None:
        """The track numbers of the blocks between `at` and the block whose data begins at `target` (`to_block`
        False: to `target` itself, an end), walking the elements between; None where they do not read as
        elements that lead there."""
        passed = []
        while at < target and len(passed) < MOST_BLOCKS_BETWEEN:
            header = element_header(self._read(at, 12))
            if header is None:
                return None
            element, size, length = header
            if element in BLOCKS and at + length == target:
                return passed
            if element in (CLUSTER, BLOCK_GROUP):
                at += length
            elif size is None:
                return None
            else:
                if element in BLOCKS:
                    passed.append(self._track(at + length))
                at += length + size
        return passed if at == target and not to_block else None
