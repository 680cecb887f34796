"""Rings that follow the size of their packets.

A packet's size is unknown before the first frame, so a writer creates its ring on its first
packet, sized for it with headroom. When a later packet does not fit, the writer creates the
next generation, larger, then writes end-of-stream into the old one; a reader that meets
end-of-stream looks for the next generation: there, it carries on in it; absent, the stream
has really ended. The writer closes (and unlinks its generations) only once its readers have
read everything (`drain`), so a reader that opens a ring late, or follows a generation late,
still finds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .. import codec, shm
from ..shm import Packet, Ring

HEADROOM = 1.25
MIN_SLOT_BYTES = 4096
ATTACH_POLL_S = 0.002  # a realtime reader that looked only every POLL_S missed a source's first frame


def _try_attach(name: str) -> Ring | None:
    """The ring, or None while it does not exist or its creator has not finished it."""
    try:
        return Ring.attach(name)
    except (shm.ShmError, ValueError, OSError):
        return None


class Outlet:
    """The writing end: one port's packets, in frame order, into generations of rings."""

    def __init__(self, run_id: str, suffix: Callable[[int], str], readers: int, slots: int, lossless: bool,
                 resume: bool = False, on_create: Callable[[str], None] | None = None):
        self.run_id, self._suffix = run_id, suffix
        self.readers, self.slots, self.lossless = readers, slots, lossless
        self._on_create = on_create
        self.ring: Ring | None = None
        self.writer = None
        self.generation = -1
        self.last_frame = -1  # frames up to here are in the ring already (a restart skips them)
        self._rings: list[Ring] = []
        self._owned: list[Ring] = []  # the generations this process created, unlinked at close
        self._retiring = None  # the previous generation's writer, still owing its end-of-stream
        if resume:
            self._resume()

    def _name(self, generation: int) -> str:
        return shm.segment_name(self.run_id, self._suffix(generation))

    def _resume(self) -> None:
        """Carry on writing where a crashed predecessor stopped: its newest generation."""
        generation = 0
        while (ring := _try_attach(self._name(generation))) is not None:
            if self.ring is not None:
                self.ring.close()
            self.ring, self.generation = ring, generation
            generation += 1
        if self.ring is not None:
            self._rings.append(self.ring)
            self.writer = self.ring.writer(self.lossless)
            last = self.writer.last_frame
            self.last_frame = -1 if last is None else last

    def _grow(self, size: int) -> None:
        generation = self.generation + 1
        ring = Ring.create(self._name(generation), max(MIN_SLOT_BYTES, int(size * HEADROOM)),
                           self.slots, self.readers)
        self._rings.append(ring)
        self._owned.append(ring)
        if self._on_create:
            self._on_create(ring.name)
        if self.writer is not None:
            self._retiring = self.writer
        self.ring, self.writer, self.generation = ring, ring.writer(self.lossless), generation

    def _retire(self, timeout: float | None) -> None:
        if self._retiring is not None:
            self._retiring.write_eos(timeout)
            self._retiring = None

    def write(self, frame_id: int, capture_time: float, value, timeout: float | None = None) -> None:
        """Lossless: may raise TimeoutError after `timeout` s; calling again with the same packet is safe."""
        if frame_id <= self.last_frame:
            return
        self._retire(timeout)
        size = codec.encoded_size(value)
        if self.ring is None or size > self.ring.slot_bytes:
            self._grow(size)
            self._retire(timeout)
        self.writer.write(frame_id, capture_time, value, timeout, size)
        self.last_frame = frame_id

    def write_eos(self, timeout: float | None = None, complete: bool = True) -> None:
        """The end of the stream; `complete=False`: it was cut short (a stop or a failure)."""
        if self.ring is None:
            self._grow(0)  # readers wait for a ring to appear: give them one that says the end
        self._retire(timeout)
        self.writer.write_eos(timeout, complete)

    def drain(self, timeout: float) -> None:
        """Wait until every reader has read (realtime) or released (lossless) all that was written,
        end-of-stream included; TimeoutError after `timeout` s. A reader that finished the newest
        generation has left the older ones."""
        if self.writer is not None and not self.writer.drain(timeout):
            raise TimeoutError(f"ring {self.ring.name}: readers are still reading")

    def abort(self) -> None:
        for ring in self._rings:
            ring.abort()

    def close(self) -> None:
        """Unmap every generation and unlink the ones this process created."""
        for ring in self._rings:
            ring.detach()
        for ring in self._owned:
            ring.unlink()
        self._rings, self._owned = [], []
        self.ring = self.writer = self._retiring = None


class Inlet:
    """The reading end: one reader's packets of one port, following the writer's generations."""

    def __init__(self, run_id: str, suffix: Callable[[int], str], reader: int, lossless: bool,
                 resume: bool = False):
        self.run_id, self._suffix, self.index, self.lossless = run_id, suffix, reader, lossless
        self.ring: Ring | None = None
        self.reader = None
        self.generation = 0
        self._resume = resume
        self._earlier_drops = 0
        self.ended = False  # end-of-stream was read
        self.complete = False  # once ended: the stream ran to its end (not cut short by a stop or a failure)

    def _name(self, generation: int) -> str:
        return shm.segment_name(self.run_id, self._suffix(generation))

    @property
    def drops(self) -> int:
        return self._earlier_drops + (self.reader.drops if self.reader is not None else 0)

    def _attach(self) -> bool:
        ring = _try_attach(self._name(self.generation))
        if ring is None:
            return False
        self.ring, self.reader = ring, ring.reader(self.index)
        if self._resume:
            self._resume = False
            self._find_place()
            # the ring's counter holds the dead process's drops, which its own stats reported: count afresh
            self._earlier_drops = -self.reader.drops
        return True

    def _find_place(self) -> None:
        """After a restart: lossless, the generation holding the first packet not released
        (read again); realtime, the newest generation."""
        if self.lossless:
            self.reader.rewind()
        while (following := _try_attach(self._name(self.generation + 1))) is not None:
            if self.lossless:
                packet = self.reader.read(0)
                if packet is None or not packet.eos:
                    self.reader.rewind()
                    following.close()
                    return
            self._switch(following)
            if self.lossless:
                self.reader.rewind()

    def _switch(self, ring: Ring) -> None:
        self.reader.release()
        self._earlier_drops += self.reader.drops
        self.ring.detach()  # a node may still hold a view into it: the mapping goes with the view
        self.ring, self.reader = ring, ring.reader(self.index)
        self.generation += 1

    def read(self, timeout: float, oldest: bool = False) -> Packet | None:
        """The next packet (lossless) or the newest (realtime; `oldest`: the oldest unread one still
        in the ring); None when none came within `timeout`."""
        if self.ring is None:  # the writer makes its ring with its first frame: look for it often
            deadline = time.monotonic() + timeout
            while not self._attach():
                if (left := deadline - time.monotonic()) <= 0:
                    return None
                time.sleep(min(ATTACH_POLL_S, left))
            timeout = max(0.0, deadline - time.monotonic())
        packet = self.reader.read(timeout, oldest)
        if packet is not None and packet.eos:
            following = _try_attach(self._name(self.generation + 1))
            if following is not None:  # the writer moved to a larger ring, not the end
                self._switch(following)
                return self.read(0, oldest)
            self.ended, self.complete = True, packet.complete
        return packet

    def release(self) -> None:
        if self.reader is not None:
            self.reader.release()

    def abort(self) -> None:
        if self.ring is not None:
            self.ring.abort()

    def close(self) -> None:
        if self.ring is not None:
            self.ring.detach()
        self.ring = self.reader = None
