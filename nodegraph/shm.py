"""Ring buffers in shared memory that carry port values between the processes of a run.

One writer, one or more readers, each reader with its own cursor. A packet is written
once, straight into its slot (see `codec`), and never pickled.

Lossless mode: the writer waits until every reader released some slot, so readers get every
packet as zero-copy, read-only views that stay valid until `release()`. Of the free slots it
takes the one released last: while readers keep up, frames go to the same one or two slots,
whose memory is still in cache, and the others only absorb bursts. Where spinning is allowed
(`allow_spinning`), it waits a few microseconds for readers that give packets back at once, so a
large packet goes to the slot of the one before.
Realtime mode: the writer never waits and overwrites the oldest slot; a reader copies
the newest packet out under a seqlock (slot stamp checked before and after the copy) so it
never returns a torn packet, and counts the older packets it skipped as drops.

Segment layout (all counters int64, each group on its own 64-byte line):
  global   magic, version, slot_bytes, slots, readers | abort, mode, write_seq, last frame,
           data word, space word (int32 counters bumped when packets come / slots free up,
           for `wakeup`)
  reader   next seq, released seq, drops                 (one line per reader)
  index    the slot of packet n at [n % slots]             (padded to whole lines)
  slot     stamp, frame id, capture time, length, eos | payload   (stamp 2n+1 while packet n is
           written, 2n+2 once it is complete)

Segments are named `ng<run_id>_<suffix>`; a run id embeds the creating process's pid, so
`cleanup()` can tell what a killed run left behind.
"""

from __future__ import annotations

import time
from multiprocessing import shared_memory

import numpy as np

from nodegraph import wakeup

from .shm_ends import RingReader, RingWriter
from .shm_layout import (
    G_ABORT,
    G_DATA_WORD,
    G_LAST_FRAME,
    G_MAGIC,
    G_READERS,
    G_SLOT_BYTES,
    G_SLOTS,
    G_SPACE_WORD,
    G_VERSION,
    GLOBAL_BYTES,
    LINE,
    MAGIC,
    NO_FRAME,
    S_TIME,
    VERSION,
    Packet,
    index_bytes,
    ring_bytes,
    slot_stride,
)
from .shm_segments import (
    MAX_NAME,
    NAME_RE,
    ON_LINUX,
    SHM_DIR,
    RingAborted,
    ShmError,
    ShmSpaceError,
    check_free_space,
    cleanup,
    created_here,
    mib,
    new_run_id,
    open_untracked,
    reserve,
    segment_name,
    segments,
    unlink_own,
)
from .shm_waits import MAX_SLEEP, MIN_SLEEP, SIGNALLED_WAIT, SPIN_S, allow_spinning, may_spin, spin_until_done

__all__ = ["MAX_NAME", "SHM_DIR", "Packet", "Ring", "RingAborted", "RingReader", "RingWriter", "ShmError",
           "ShmSpaceError", "allow_spinning", "check_free_space", "cleanup", "new_run_id", "ring_bytes",
           "segment_name", "segments"]


class Ring:
    """A ring of fixed-size slots in one shared-memory segment, for one writer and `readers` readers.

    `with Ring.create(...)` closes and unlinks at exit; `with Ring.attach(...)` only closes.
    """

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool):
        self._shm = shm
        self._owner = owner
        self.name = shm.name.lstrip("/")
        buf = shm.buf
        self._ctl = np.ndarray((GLOBAL_BYTES // 8,), np.int64, buf, 0)
        self._words = np.ndarray((GLOBAL_BYTES // 4,), np.int32, buf, 0)  # field f's word: [2 * f]
        self._ctl_address = self._ctl.ctypes.data  # where field f's word is for the futex: + 8 * f
        if self._ctl[G_MAGIC] != MAGIC or self._ctl[G_VERSION] != VERSION:
            self._ctl = None
            shm.close()
            raise ShmError(
                f"shared memory segment {self.name!r} is not a nodegraph ring (version {VERSION})"
            )
        self.slot_bytes = int(self._ctl[G_SLOT_BYTES])
        self.slots = int(self._ctl[G_SLOTS])
        self.readers = int(self._ctl[G_READERS])
        self._cursors = np.ndarray((self.readers, LINE // 8), np.int64, buf, GLOBAL_BYTES)
        index_at = GLOBAL_BYTES + self.readers * LINE
        self._index = np.ndarray((self.slots,), np.int64, buf, index_at)
        first = index_at + index_bytes(self.slots)
        stride = slot_stride(self.slot_bytes)
        self._meta = np.ndarray((self.slots, LINE // 8), np.int64, buf, first, (stride, 8))
        self._time = np.ndarray((self.slots,), np.float64, buf, first + 8 * S_TIME, (stride,))
        self._payload = [buf[first + i * stride + LINE :][: self.slot_bytes] for i in range(self.slots)]
        self._payload_ro = [p.toreadonly() for p in self._payload]
        self._short_wait = True  # the last wait here that had to wait ended within SPIN_S

    @classmethod
    def create(cls, name: str, slot_bytes: int, slots: int = 4, readers: int = 1) -> Ring:
        """Create the segment `name` (see `segment_name`) for packets of up to `slot_bytes` bytes."""
        if not NAME_RE.match(name) or len(name) > MAX_NAME:
            raise ValueError(
                f"bad ring name {name!r}: use segment_name(run_id, suffix) (ng<run id>_<suffix>, "
                f"at most {MAX_NAME} characters)"
            )
        if slot_bytes < 1 or slots < 2 or readers < 1:
            raise ValueError(
                f"ring {name}: need slot_bytes >= 1, slots >= 2 and readers >= 1, "
                f"not {slot_bytes}, {slots} and {readers}"
            )
        size = ring_bytes(slot_bytes, slots, readers)
        readers_text = f"{readers} reader{'s' * (readers != 1)}"
        check_free_space(size, f"ring {name} ({slots} slots of {mib(slot_bytes)}, {readers_text})")
        try:
            shm = shared_memory.SharedMemory(name, create=True, size=size)
        except FileExistsError:
            raise ShmError(
                f"shared memory segment {name} already exists (a reused run id?); try `nodegraph cleanup`"
            ) from None
        created_here.add(name)
        if ON_LINUX:
            reserve(shm, name, size)
        ctl = np.ndarray((GLOBAL_BYTES // 8,), np.int64, shm.buf, 0)
        ctl[[G_VERSION, G_SLOT_BYTES, G_SLOTS, G_READERS]] = (VERSION, slot_bytes, slots, readers)
        ctl[G_LAST_FRAME] = NO_FRAME
        ctl[G_MAGIC] = MAGIC  # last: an attacher sees a ring only once it is complete
        del ctl
        return cls(shm, owner=True)

    @classmethod
    def attach(cls, name: str) -> Ring:
        """Open a ring another process created; its geometry comes from the segment's header."""
        try:
            shm = open_untracked(name)
        except FileNotFoundError:
            raise ShmError(f"ring {name} does not exist (its run ended, or it was cleaned up)") from None
        return cls(shm, owner=False)

    def writer(self, lossless: bool) -> RingWriter:
        """The ring's writer (one per ring); `lossless` picks the mode for the whole ring."""
        return RingWriter(self, lossless)

    def reader(self, index: int) -> RingReader:
        """Reader number `index` (0 .. readers-1); each index belongs to one consumer."""
        if not 0 <= index < self.readers:
            raise ValueError(f"ring {self.name} has readers 0..{self.readers - 1}, not {index}")
        return RingReader(self, index)

    def abort(self) -> None:
        """Make every wait on this ring, in every process, raise RingAborted."""
        self._ctl[G_ABORT] = 1
        self._signal(G_DATA_WORD)
        self._signal(G_SPACE_WORD)

    @property
    def aborted(self) -> bool:
        return bool(self._ctl[G_ABORT])

    def close(self) -> None:
        """Unmap the segment from this process (it stays for the others).

        Raises ShmError while arrays read from it are still referenced: drop them and close
        again, or `detach()`.
        """
        if self._shm is None:
            return
        self._ctl = self._words = self._cursors = self._index = self._meta = self._time = None
        self._payload = self._payload_ro = []
        try:
            self._shm.close()
        except BufferError:
            raise ShmError(
                f"ring {self.name}: arrays read from it are still referenced; drop them before close()"
            ) from None
        self._shm = None

    def detach(self) -> None:
        """Close, and when arrays read from the ring are still referenced, leave the mapping to
        them: it is unmapped when the last of them goes (not at exit with a BufferError)."""
        try:
            self.close()
        except ShmError:
            handle, self._shm = self._shm, None
            handle._buf = handle._mmap = None  # the arrays' buffer exports keep the mapping alive
            handle.close()  # the file descriptor

    def unlink(self) -> None:
        """Destroy the segment (creator only); harmless when `cleanup()` already removed it."""
        if not self._owner:
            raise ShmError(f"ring {self.name}: only the process that created it unlinks it")
        if self.name in created_here:
            unlink_own(self.name)

    def __del__(self) -> None:
        # drop the slot views first: SharedMemory's own __del__ cannot unmap while they live
        if getattr(self, "_shm", None) is not None:
            self.detach()

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc) -> None:
        if self._owner:
            self.unlink()
        self.close()

    def _signal(self, field: int) -> None:
        """Bump a word and wake whoever waits on it: packets came (data) or slots freed up (space).

        Not atomic: two readers releasing at once may bump the space word to the same value, and a
        waiter that saw the old one an instant before sleeps on until its bounded wait ends (10 ms).
        """
        self._words[2 * field] = (int(self._words[2 * field]) + 1) & 0x7FFFFFFF
        wakeup.wake(self._ctl_address + 8 * field)

    def _waits(self, timeout: float | None, field: int):
        """Yield until the caller breaks out; in between, wait for the word `field` to change.

        Stops once `timeout` seconds have passed; raises RingAborted when the ring is aborted.
        The word is read before each yield, so a change after the caller looked ends the wait.
        Where spinning is allowed and the last wait was short, spins up to SPIN_S before sleeping.
        """
        began = time.perf_counter()
        deadline = None if timeout is None else began + timeout
        spin_until = began + SPIN_S if self._short_wait and may_spin(began) else began
        if deadline is not None:
            spin_until = min(spin_until, deadline)
        words, i = self._words, 2 * field
        address = self._ctl_address + 8 * field
        delay = SIGNALLED_WAIT if wakeup.SIGNALLED else MIN_SLEEP
        first = True
        while True:
            seen = int(words[i])  # before the abort flag: abort() sets it, then bumps
            if self._ctl[G_ABORT]:
                raise RingAborted(f"ring {self.name} was aborted")
            if not first:  # the caller may be done after this yield: say how long it took
                self._short_wait = time.perf_counter() - began <= SPIN_S
            first = False
            yield
            if spin_until > began:
                if spin_until_done(lambda seen=seen: words[i] != seen, spin_until):
                    continue
                spin_until = began  # spun out (or the core is contended): sleep from now on
            pause = delay
            if deadline is not None:
                pause = min(pause, deadline - time.perf_counter())
                if pause <= 0:
                    return
            wakeup.wait(address, seen, pause)
            if not wakeup.SIGNALLED:
                delay = min(2 * delay, MAX_SLEEP)

