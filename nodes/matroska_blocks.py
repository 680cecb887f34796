"""Whether Matroska's demuxer passed over blocks between two it gave, and how many: where a block is damaged it goes
on at its next cluster without failing a packet, so the frames lost there show only as a gap in the frames'
times, which a variable frame rate hides. Read
from the file's element headers between the blocks given (PyAV says nothing of it, and FFmpeg's log cannot be
captured while threaded decoders run): from the end of one block, the elements there (a cluster's start and
time, a block group's other parts) lead to the next block given, or to others first, each counted."""

from __future__ import annotations

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


class SkippedBlocks:
    """Fed the packets a Matroska file's demuxer gives, in order (`packet`, their position and size, and whether
    they are the video's): `found` once a block was passed over between two of them; `lost`, how many of those
    were the video's frames (any block passed over in a file of one track); `unidentified`, how many were of no
    track a block given has (their track number damaged), in a file of several. `uncounted`: somewhere the bytes
    between two blocks given did not read as elements (overwritten data), so the blocks lost there are not known.
    A packet's position is its block's data, after the block's element header; the data begins with its track
    number. The frames of a laced block share it."""

    def __init__(self, path: str, one_track: bool):
        self.found = self.uncounted = False
        self._one_track = one_track
        self._video_track: int | None = None  # the video's track number, read from its first block
        self._tracks: set[int | None] = set()  # the track numbers of the blocks given
        self._passed: list[int | None] = []  # the track numbers of the blocks passed over
        self._file = open(path, "rb", buffering=0)  # a few bytes read at each packet; closed with the reader
        self._block: int | None = None  # the position of the latest block given

    def packet(self, pos: int | None, size: int, video: bool) -> int:
        """How many blocks that may have been the video's frames were passed over just before this one."""
        if pos is None or not size or pos == self._block:
            return 0
        track = self._track(pos)
        self._tracks.add(track)
        if video and self._video_track is None:
            self._video_track = track
        passed = None
        if self._block is not None:
            walks = (self._passed_over(end, pos) for end in self._block_ends(self._block))
            passed = next((walk for walk in walks if walk is not None), None)
            if passed is None:
                self.found = self.uncounted = True
            elif passed:
                self.found = True
                self._passed += passed
        self._block = pos
        return sum(self._one_track or track == self._video_track or track not in self._tracks
                   for track in passed or [])

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

    def _passed_over(self, at: int, target: int) -> list[int | None] | None:
        """The track numbers of the blocks between `at` and the block whose data begins at `target`, walking the
        elements between; None where they do not read as elements that lead there."""
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
        return None
