"""The two ends of a ring (`shm.Ring`): the writer (lossless: waits for its readers, takes the slot
released last; realtime: overwrites the oldest) and a reader (lossless: zero-copy views until
released; realtime: seqlock copies of the newest packet, drops counted)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from nodegraph import codec

from .shm_layout import (
    EOS_COMPLETE,
    EOS_CUT,
    G_ABORT,
    G_DATA_WORD,
    G_LAST_FRAME,
    G_MODE,
    G_SPACE_WORD,
    G_WRITE_SEQ,
    MODE_LOSSLESS,
    MODE_REALTIME,
    NO_FRAME,
    R_DROPS,
    R_NEXT,
    R_RELEASED,
    S_EOS,
    S_FRAME,
    S_LENGTH,
    S_STAMP,
    Packet,
)
from .shm_segments import RingAborted
from .shm_waits import WARM_BYTES, WARM_MISSES, WARM_RETRY, WARM_S, may_spin, spin_until_done

if TYPE_CHECKING:
    from .shm import Ring


class RingWriter:
    """Writes packets into a ring. Frame ids must increase from one packet to the next."""

    def __init__(self, ring: Ring, lossless: bool):
        self._ring = ring
        self.lossless = lossless
        ring._ctl[G_MODE] = MODE_LOSSLESS if lossless else MODE_REALTIME
        self._seq = int(ring._ctl[G_WRITE_SEQ])
        self._last_frame = int(ring._ctl[G_LAST_FRAME])
        if self._seq:  # a writer killed between publishing a packet and noting its frame: the packet says it
            meta = ring._meta[ring._index[(self._seq - 1) % ring.slots]]
            if meta[S_STAMP] == 2 * self._seq:
                self._last_frame = max(self._last_frame, int(meta[S_FRAME]))
        self._warm_misses = 0  # packets in a row readers did not give back within WARM_S

    @property
    def last_frame(self) -> int | None:
        """The frame id of the last packet in the ring (written by this or an earlier writer), if any."""
        return None if self._last_frame == NO_FRAME else self._last_frame

    def write(self, frame_id: int, capture_time: float, value, timeout: float | None = None,
              size: int | None = None) -> None:
        """Encode `value` into the next slot; `size` is its `codec.encoded_size`, when the caller has it.

        Lossless: waits (up to `timeout` seconds, then TimeoutError) until every reader
        released that slot. Realtime: never waits.
        """
        ring = self._ring
        if frame_id <= self._last_frame:
            raise ValueError(
                f"ring {ring.name}: frame {frame_id} written after frame {self._last_frame}; "
                "frame ids must increase"
            )
        if size is None:
            size = codec.encoded_size(value)
        if size > ring.slot_bytes:
            raise ValueError(
                f"ring {ring.name}: the packet of frame {frame_id} takes {size} bytes but its slots "
                f"hold {ring.slot_bytes}; size the ring for its largest packet"
            )
        self._publish(frame_id, capture_time, value, size, 0, timeout)
        self._last_frame = frame_id
        ring._ctl[G_LAST_FRAME] = frame_id

    def write_eos(self, timeout: float | None = None, complete: bool = True) -> None:
        """Mark the end of the stream: readers get a packet with `eos=True` after all earlier ones
        (`complete=False`: the stream was cut short)."""
        self._publish(-1, 0.0, None, codec.encoded_size(None), EOS_COMPLETE if complete else EOS_CUT, timeout)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every reader has released (lossless) or read past (realtime) all packets written.

        Returns False when `timeout` passed first.
        """
        ring = self._ring
        column = R_RELEASED if self.lossless else R_NEXT
        for _ in ring._waits(timeout, G_SPACE_WORD):
            if self._slowest(column) >= self._seq:
                return True
        return False

    def _publish(self, frame_id: int, capture_time: float, value, size: int, eos: int, timeout) -> None:
        ring = self._ring
        n = self._seq
        if self.lossless:
            if size >= WARM_BYTES and n and may_spin(time.perf_counter()):
                self._wait_for_warm_slot(n)
            for _ in ring._waits(timeout, G_SPACE_WORD):
                if (slot := self._warmest_free_slot()) is not None:
                    break
            else:
                raise TimeoutError(f"ring {ring.name}: readers did not release a slot within {timeout} s")
        elif ring._ctl[G_ABORT]:
            raise RingAborted(f"ring {ring.name} was aborted")
        else:
            slot = n % ring.slots  # overwrite the oldest packet, never the newest a reader may be copying
        meta = ring._meta[slot]
        meta[S_STAMP] = 2 * n + 1
        codec.encode_unchecked(value, ring._payload[slot])
        meta[S_FRAME] = frame_id
        ring._time[slot] = capture_time
        meta[S_LENGTH] = size
        meta[S_EOS] = eos
        meta[S_STAMP] = 2 * n + 2
        ring._index[n % ring.slots] = slot
        self._seq = n + 1
        ring._ctl[G_WRITE_SEQ] = n + 1
        ring._signal(G_DATA_WORD)

    def _wait_for_warm_slot(self, n: int) -> None:
        """Give readers up to WARM_S to release packet n-1, whose slot is still in cache, unless they
        have not lately: a large packet written into a cold slot costs up to twice as much."""
        if self._warm_misses >= WARM_MISSES and n % WARM_RETRY:
            return
        if spin_until_done(lambda: self._slowest(R_RELEASED) >= n, time.perf_counter() + WARM_S):
            self._warm_misses = 0
        else:
            self._warm_misses += 1

    def _slowest(self, column: int) -> int:
        """The lowest of the readers' cursors in `column` (next to read, or first not released)."""
        return min(self._ring._cursors[:, column].tolist())

    def _warmest_free_slot(self) -> int | None:
        """The slot every reader released last, or None while all are held (lossless).

        A slot's stamp says which packet it holds (2n+2: packet n; 0: never written); it is free once
        every reader released past that packet. A packet at or past the write sequence (an odd stamp,
        or a write a crashed writer never published) holds nothing.
        """
        ring = self._ring
        released = self._slowest(R_RELEASED)
        best, best_held = None, -2
        for slot, stamp in enumerate(ring._meta[:, S_STAMP].tolist()):
            held = stamp // 2 - 1
            if stamp % 2 or held >= self._seq:
                held = -1
            if held < released and held > best_held:
                best, best_held = slot, held
        return best


class RingReader:
    """Reads one reader's packets from a ring, in order."""

    def __init__(self, ring: Ring, index: int):
        self._ring = ring
        self.index = index
        self._next = int(ring._cursors[index, R_NEXT])

    @property
    def drops(self) -> int:
        """Packets this reader skipped because it fell behind (realtime mode)."""
        return int(self._ring._cursors[self.index, R_DROPS])

    def read(self, timeout: float | None = None, oldest: bool = False) -> Packet | None:
        """The next packet (lossless) or the newest (realtime), or None when none came within
        `timeout` seconds (None: wait forever).

        Lossless: arrays are read-only views into the ring, valid until `release()`.
        Realtime: the value is this reader's own copy; `oldest` takes the oldest unread packet
        still in the ring instead of the newest (a join that matches frame ids wants them all).
        """
        ring = self._ring
        cursor = ring._cursors[self.index]
        if ring._ctl[G_MODE] == MODE_LOSSLESS and self._next - cursor[R_RELEASED] >= ring.slots:
            raise RuntimeError(
                f"ring {ring.name} reader {self.index} holds all {ring.slots} slots: "
                "release() before reading more"
            )
        for _ in ring._waits(timeout, G_DATA_WORD):
            if ring._ctl[G_WRITE_SEQ] > self._next:  # the mode is set before the first packet
                if ring._ctl[G_MODE] == MODE_LOSSLESS:
                    packet = self._view(self._next)
                    self._next += 1
                    break
                packet = self._copy(oldest)
                if packet is not None:
                    break
        else:
            return None
        cursor[R_NEXT] = self._next
        if ring._ctl[G_MODE] != MODE_LOSSLESS:
            ring._signal(G_SPACE_WORD)  # a realtime writer's drain waits for readers to read
        return packet

    def rewind(self) -> None:
        """Go back to the first packet not released yet, so a consumer restarted after a crash
        reads again what its previous incarnation read but did not finish (lossless mode)."""
        self._next = int(self._ring._cursors[self.index, R_RELEASED])

    def release(self) -> None:
        """Hand back every packet read so far (their views must not be used after this)."""
        ring = self._ring
        if ring._cursors[self.index, R_RELEASED] != self._next:
            ring._cursors[self.index, R_RELEASED] = self._next
            ring._signal(G_SPACE_WORD)

    def _view(self, n: int) -> Packet:
        ring = self._ring
        slot = int(ring._index[n % ring.slots])
        meta = ring._meta[slot]
        if meta[S_EOS]:
            return Packet(-1, 0.0, None, True, meta[S_EOS] == EOS_COMPLETE)
        length = int(meta[S_LENGTH])
        value = codec.decode(ring._payload_ro[slot][:length], copy=False)
        return Packet(int(meta[S_FRAME]), float(ring._time[slot]), value, size=length)

    def _copy(self, oldest: bool) -> Packet | None:
        """Copy the newest (or oldest unread) packet out, counting the unread ones before it as drops;
        None when it was overwritten during the copy (or its slot is torn): the caller tries again
        after a pause."""
        ring = self._ring
        written = int(ring._ctl[G_WRITE_SEQ])
        n = max(self._next, written - ring.slots) if oldest else written - 1
        if n > self._next and ring._meta[n % ring.slots][S_EOS]:
            n -= 1  # the stream's last frame before its end, never a drop (nothing is written after the end)
        slot = n % ring.slots  # a realtime writer keeps packet n there
        meta = ring._meta[slot]
        stamp = 2 * n + 2
        if meta[S_STAMP] != stamp:
            return None
        frame_id, capture_time = int(meta[S_FRAME]), float(ring._time[slot])
        length, eos = int(meta[S_LENGTH]), int(meta[S_EOS])
        if not 0 <= length <= ring.slot_bytes:
            return None
        data = bytearray(ring._payload[slot][:length])
        if meta[S_STAMP] != stamp:
            return None
        if n > self._next:
            ring._cursors[self.index, R_DROPS] += n - self._next
        self._next = n + 1
        if eos:
            return Packet(-1, 0.0, None, True, eos == EOS_COMPLETE)
        return Packet(frame_id, capture_time, codec.decode(data, copy=False), size=length)

