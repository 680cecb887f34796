"""The layout of a ring's segment (see `shm`), and the packets read from it."""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = int.from_bytes(b"ngring01", "little")
VERSION = 2
LINE = 64
G_MAGIC, G_VERSION, G_SLOT_BYTES, G_SLOTS, G_READERS = range(5)
G_ABORT, G_MODE, G_WRITE_SEQ, G_LAST_FRAME, G_DATA_WORD, G_SPACE_WORD = range(8, 14)
GLOBAL_BYTES = 2 * LINE
R_NEXT, R_RELEASED, R_DROPS = range(3)
S_STAMP, S_FRAME, S_TIME, S_LENGTH, S_EOS = range(5)
MODE_UNSET, MODE_LOSSLESS, MODE_REALTIME = range(3)
EOS_COMPLETE, EOS_CUT = 1, 2  # a slot's eos: the stream ran to its end, or it was cut short (a stop, a failure)
NO_FRAME = -(2**63)


def ring_bytes(slot_bytes: int, slots: int, readers: int) -> int:
    """Size of the segment `Ring.create` allocates for this geometry."""
    return GLOBAL_BYTES + readers * LINE + index_bytes(slots) + slots * slot_stride(slot_bytes)


def index_bytes(slots: int) -> int:
    return -(-slots * 8 // LINE) * LINE


def slot_stride(slot_bytes: int) -> int:
    return LINE + -(-slot_bytes // LINE) * LINE



@dataclass(frozen=True, slots=True)
class Packet:
    """One packet read from a ring. An end-of-stream packet has `eos=True`, frame id -1 and no value;
    `complete` is False when the stream was cut short (a stop or a failure upstream). `size`: the bytes
    its value took in the ring (its `codec.encoded_size`), which a reader that keeps packets counts."""

    frame_id: int
    capture_time: float
    value: object
    eos: bool = False
    complete: bool = True
    size: int = 0

