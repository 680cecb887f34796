"""The checksums of an FFV1 file's slices (version 3 on, FFmpeg's `slicecrc`, on by default): FFmpeg checks them
as it decodes, but says a mismatch only in its log (which PyAV cannot capture while threaded decoders run) and
hides the damaged slice behind the previous frame's, so a damaged frame decodes to wrong pixels as if whole.
This checks them again, from the packets."""

from __future__ import annotations

import zlib

# FFmpeg's AV_CRC_32_IEEE (the bits of each byte from the highest, no final xor) from zlib's CRC-32, which takes
# them from the lowest: the same over each byte's bits reversed, with the register reversed
_REVERSED_BYTES = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))
# where a slice's checksum starts (`crcref`): 0 in version 3, this in version 4 (`ec` 2)
CRC_STARTS = (0, 0x7A8C4079)
TRAILER = 8  # a slice ends with its size (3 bytes, big-endian, less the trailer), a status byte and its CRC


def _reversed32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def crc32_ieee(data, start: int) -> int:
    """FFmpeg's `av_crc(av_crc_get_table(AV_CRC_32_IEEE), start, data, len)`."""
    reversed_bytes = bytes(data).translate(_REVERSED_BYTES)
    return _reversed32(zlib.crc32(reversed_bytes, _reversed32(start) ^ 0xFFFFFFFF) ^ 0xFFFFFFFF)


def slices_check(data, start: int) -> bool | None:
    """Whether every slice of a packet of an FFV1 stream with checksums (`data`, its bytes) is as written: its
    slices, from the last, each end in a trailer giving its size, and a slice's CRC from `start` (with the CRC it
    carries) comes to `start`. None where the slices do not chain to the packet's start (a stream without
    checksums, whose slices end in their size alone)."""
    data = memoryview(data).cast("B")
    end = len(data)
    while end > 0:
        if end < TRAILER or (size := int.from_bytes(data[end - TRAILER:end - TRAILER + 3], "big") + TRAILER) > end:
            return None
        if crc32_ieee(data[end - size:end], start) != start:
            return False
        end -= size
    return True


class SliceChecksums:
    """The slice checksums of one FFV1 stream: `whole(packet)` for each packet read. A stream has them when its
    header (version 3 on, which carries a CRC too) checks and its first packet's slices chain by the sizes in
    their trailers, whether or not their CRCs then match (a damaged first packet): a stream without them
    (versions 0 to 2, `slicecrc=0`) has no such trailers, and is not checked."""

    def __init__(self, extradata: bytes | None):
        self.start = next((start for start in CRC_STARTS if extradata and crc32_ieee(extradata, start) == start), None)
        self.checked = None  # decided at the first packet

    def whole(self, data) -> bool:
        """False for a packet whose slices' checksums show damage; True for the others (an unchecked stream's)."""
        if self.start is None or not len(data):
            return True
        whole = slices_check(data, self.start)
        if self.checked is None:
            self.checked = whole is not None
        return whole is True or not self.checked
