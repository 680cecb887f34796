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

import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from nodegraph import codec, wakeup
from nodegraph.errors import RunFailed

if os.name == "posix":
    import _posixshmem  # what SharedMemory.unlink uses, minus the resource tracker


class ShmError(RunFailed):
    """Shared memory cannot be set up or used as asked."""


class ShmSpaceError(ShmError, MemoryError):
    """/dev/shm has no room for the segments a run needs."""


class RingAborted(Exception):
    """The ring was aborted (the run is stopping): every wait on it gives up."""


SHM_DIR = "/dev/shm"
MAX_NAME = 30  # macOS allows 31 characters including the leading slash
_RUN_ID_RE = re.compile(r"[0-9a-f]{5,}\Z")
_SUFFIX_RE = re.compile(r"[A-Za-z0-9]+\Z")
_NAME_RE = re.compile(r"ng(?P<run>[0-9a-f]{5,})_[A-Za-z0-9]+\Z")
_ON_LINUX = sys.platform.startswith("linux")
_TRACKED = os.name == "posix"  # the resource tracker only follows POSIX segments

_MAGIC = int.from_bytes(b"ngring01", "little")
_VERSION = 2
_LINE = 64
_G_MAGIC, _G_VERSION, _G_SLOT_BYTES, _G_SLOTS, _G_READERS = range(5)
_G_ABORT, _G_MODE, _G_WRITE_SEQ, _G_LAST_FRAME, _G_DATA_WORD, _G_SPACE_WORD = range(8, 14)
_GLOBAL_BYTES = 2 * _LINE
_R_NEXT, _R_RELEASED, _R_DROPS = range(3)
_S_STAMP, _S_FRAME, _S_TIME, _S_LENGTH, _S_EOS = range(5)
_MODE_UNSET, _MODE_LOSSLESS, _MODE_REALTIME = range(3)
_NO_FRAME = -(2**63)

# Where `wakeup` has futexes, a wait sleeps until its word changes, looking again at least every
# _SIGNALLED_WAIT in case a process died before waking it. Elsewhere waits poll with a sleep
# that doubles from _MIN_SLEEP up to _MAX_SLEEP: a waiting process costs well under 1% of a
# core, and a packet waits at most ~1 ms for a sleeping reader.
_SIGNALLED_WAIT = 0.01
_MIN_SLEEP = 50e-6
_MAX_SLEEP = 1e-3

# Spinning (see `allow_spinning`): a wait on a Ring first spins up to _SPIN_S, when the last wait on
# that Ring object that had to wait ended within that time; a lossless writer of packets of _WARM_BYTES
# or more waits up to _WARM_S for the slot it wrote last, unless readers missed that _WARM_MISSES times
# in a row (then it tries again every _WARM_RETRY packets). A yield that takes over _LATE_YIELD gave
# the core to another process for a time slice (3-5 ms measured; the host's own hiccups on an idle
# core stay under 0.2 ms): the core is contended, and a spinner there is woken later than a sleeper,
# so the process stops spinning for _CONTENDED_PAUSE. Spins are timed with perf_counter: Windows'
# monotonic clock ticks every 15.6 ms before Python 3.13.
_SPIN_S = 1e-3
_WARM_S = 100e-6
_WARM_BYTES = 1 << 20
_WARM_MISSES = 3
_WARM_RETRY = 16
_LATE_YIELD = 1e-3
_CONTENDED_PAUSE = 0.1
_spinning = False
_spin_paused_until = 0.0  # perf_counter time
_yield = os.sched_yield if hasattr(os, "sched_yield") else lambda: time.sleep(0)

_created: set[str] = set()  # segments this process created and has not unlinked yet
_attach_lock = threading.Lock()


def allow_spinning(allowed: bool) -> bool:
    """Let this process's ring waits spin before they sleep (off by default).

    For a process that has a core to itself: a packet that comes while its reader spins is taken at
    once, where a sleeping reader wakes ~0.1 ms later, and a core that slept comes back slow (on a
    2-vCPU virtual machine a 1080p copy takes 0.25 ms back to back, 0.54-0.67 ms after a 1 ms sleep).
    A spin yields the core between its looks and ends as soon as another process takes it (then
    waits sleep for 0.1 s); waits that are long (a camera's frame gap) do not spin: a wait spins only
    when the previous one was short.
    Returns the setting it replaces.
    """
    global _spinning
    before, _spinning = _spinning, allowed
    return before


def _may_spin(now: float) -> bool:
    return _spinning and now >= _spin_paused_until


def _spin_until(done: Callable[[], bool], until: float) -> bool:
    """Look at `done()` until it is true (True), yielding the core in between; False once `until`
    (a perf_counter time) passes or a yield comes back late (then spinning pauses)."""
    global _spin_paused_until
    while not done():
        now = time.perf_counter()
        if now >= until:
            return False
        _yield()
        if (back := time.perf_counter()) - now > _LATE_YIELD:
            _spin_paused_until = back + _CONTENDED_PAUSE
            return False
    return True


# ---------------------------------------------------------------- names and housekeeping


def new_run_id() -> str:
    """A fresh run id: this process's pid in hex followed by 4 random hex digits."""
    return f"{os.getpid():x}{secrets.token_hex(2)}"


def segment_name(run_id: str, suffix: str) -> str:
    """The segment name for one buffer of a run, e.g. `ng1a2b3c4d_s2o0`."""
    if not _RUN_ID_RE.match(run_id):
        raise ValueError(f"bad run id {run_id!r}: make one with new_run_id()")
    if not _SUFFIX_RE.match(suffix):
        raise ValueError(f"bad segment suffix {suffix!r}: use letters and digits only")
    name = f"ng{run_id}_{suffix}"
    if len(name) > MAX_NAME:
        raise ValueError(f"segment name {name!r} is {len(name)} characters; macOS allows {MAX_NAME}")
    return name


def _run_of(name: str) -> str | None:
    m = _NAME_RE.match(name)
    return m["run"] if m else None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def segments(run_id: str | None = None) -> list[str]:
    """Names of this project's live segments (of one run when `run_id` is given).

    Linux lists /dev/shm, so every process's segments show; elsewhere only the ones
    this process created.
    """
    names = os.listdir(SHM_DIR) if _ON_LINUX else list(_created)
    return sorted(n for n in names if (run := _run_of(n)) is not None and run_id in (None, run))


def cleanup(run_id: str | None = None) -> int:
    """Unlink the segments left by runs whose creating process is gone (or all of `run_id`'s).

    Returns how many were removed. On Windows a segment disappears with its last handle,
    so there is nothing to unlink and this returns 0.
    """
    if os.name != "posix":
        return 0
    removed = 0
    for name in segments(run_id):
        if run_id is None and _pid_alive(int(_run_of(name)[:-4], 16)):
            continue
        if name in _created:
            _unlink_own(name)
        else:
            try:
                _posixshmem.shm_unlink("/" + name)
            except FileNotFoundError:  # someone else was quicker
                continue
        removed += 1
    return removed


def _unlink_own(name: str) -> None:
    """Unlink a segment this process created and tell the resource tracker it is gone."""
    _created.discard(name)
    if not _TRACKED:
        return
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:  # another process's cleanup() was quicker
        pass
    resource_tracker.unregister("/" + name, "shared_memory")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def check_free_space(nbytes: int, what: str = "shared memory") -> None:
    """Raise ShmSpaceError when /dev/shm has less than `nbytes` free (Linux; elsewhere no-op).

    Linux creates segments lazily and kills the process with SIGBUS at the first write past
    the free space; this turns that into an error that says what to do.
    """
    if not _ON_LINUX:
        return
    st = os.statvfs(SHM_DIR)
    free = st.f_bavail * st.f_frsize
    if nbytes > free:
        raise ShmSpaceError(
            f"{what} needs {_mib(nbytes)} but {SHM_DIR} has only {_mib(free)} free "
            f"(of {_mib(st.f_blocks * st.f_frsize)}). Free space there (`nodegraph cleanup` removes what "
            "killed runs left behind) or make it bigger: Docker `--shm-size=2g`, Linux "
            "`sudo mount -o remount,size=4G /dev/shm`."
        )


def ring_bytes(slot_bytes: int, slots: int, readers: int) -> int:
    """Size of the segment `Ring.create` allocates for this geometry."""
    return _GLOBAL_BYTES + readers * _LINE + _index_bytes(slots) + slots * _slot_stride(slot_bytes)


def _index_bytes(slots: int) -> int:
    return -(-slots * 8 // _LINE) * _LINE


def _slot_stride(slot_bytes: int) -> int:
    return _LINE + -(-slot_bytes // _LINE) * _LINE


def _open_untracked(name: str) -> shared_memory.SharedMemory:
    """Attach without registering with the resource tracker.

    Before 3.13 every attach registers the segment, and spawn children share their
    parent's tracker: unregistering afterwards would also drop the creator's registration.
    So registration of this one name is skipped instead.
    """
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name, track=False)
    register = resource_tracker.register

    def register_others(rname: str, rtype: str) -> None:
        if rtype != "shared_memory" or rname != "/" + name:
            register(rname, rtype)

    with _attach_lock:
        resource_tracker.register = register_others
        try:
            return shared_memory.SharedMemory(name)
        finally:
            resource_tracker.register = register


# ---------------------------------------------------------------- the ring


@dataclass(frozen=True, slots=True)
class Packet:
    """One packet read from a ring. An end-of-stream packet has `eos=True`, frame id -1 and no value."""

    frame_id: int
    capture_time: float
    value: object
    eos: bool = False


class Ring:
    """A ring of fixed-size slots in one shared-memory segment, for one writer and `readers` readers.

    `with Ring.create(...)` closes and unlinks at exit; `with Ring.attach(...)` only closes.
    """

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool):
        self._shm = shm
        self._owner = owner
        self.name = shm.name.lstrip("/")
        buf = shm.buf
        self._ctl = np.ndarray((_GLOBAL_BYTES // 8,), np.int64, buf, 0)
        self._words = np.ndarray((_GLOBAL_BYTES // 4,), np.int32, buf, 0)  # field f's word: [2 * f]
        self._ctl_address = self._ctl.ctypes.data  # where field f's word is for the futex: + 8 * f
        if self._ctl[_G_MAGIC] != _MAGIC or self._ctl[_G_VERSION] != _VERSION:
            self._ctl = None
            shm.close()
            raise ShmError(
                f"shared memory segment {self.name!r} is not a nodegraph ring (version {_VERSION})"
            )
        self.slot_bytes = int(self._ctl[_G_SLOT_BYTES])
        self.slots = int(self._ctl[_G_SLOTS])
        self.readers = int(self._ctl[_G_READERS])
        self._cursors = np.ndarray((self.readers, _LINE // 8), np.int64, buf, _GLOBAL_BYTES)
        index_at = _GLOBAL_BYTES + self.readers * _LINE
        self._index = np.ndarray((self.slots,), np.int64, buf, index_at)
        first = index_at + _index_bytes(self.slots)
        stride = _slot_stride(self.slot_bytes)
        self._meta = np.ndarray((self.slots, _LINE // 8), np.int64, buf, first, (stride, 8))
        self._time = np.ndarray((self.slots,), np.float64, buf, first + 8 * _S_TIME, (stride,))
        self._payload = [buf[first + i * stride + _LINE :][: self.slot_bytes] for i in range(self.slots)]
        self._payload_ro = [p.toreadonly() for p in self._payload]
        self._short_wait = True  # the last wait here that had to wait ended within _SPIN_S

    @classmethod
    def create(cls, name: str, slot_bytes: int, slots: int = 4, readers: int = 1) -> Ring:
        """Create the segment `name` (see `segment_name`) for packets of up to `slot_bytes` bytes."""
        if not _NAME_RE.match(name) or len(name) > MAX_NAME:
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
        check_free_space(size, f"ring {name} ({slots} slots of {_mib(slot_bytes)}, {readers_text})")
        try:
            shm = shared_memory.SharedMemory(name, create=True, size=size)
        except FileExistsError:
            raise ShmError(
                f"shared memory segment {name} already exists (a reused run id?); try `nodegraph cleanup`"
            ) from None
        _created.add(name)
        if _ON_LINUX:
            _reserve(shm, name, size)
        ctl = np.ndarray((_GLOBAL_BYTES // 8,), np.int64, shm.buf, 0)
        ctl[[_G_VERSION, _G_SLOT_BYTES, _G_SLOTS, _G_READERS]] = (_VERSION, slot_bytes, slots, readers)
        ctl[_G_LAST_FRAME] = _NO_FRAME
        ctl[_G_MAGIC] = _MAGIC  # last: an attacher sees a ring only once it is complete
        del ctl
        return cls(shm, owner=True)

    @classmethod
    def attach(cls, name: str) -> Ring:
        """Open a ring another process created; its geometry comes from the segment's header."""
        try:
            shm = _open_untracked(name)
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
        self._ctl[_G_ABORT] = 1
        self._signal(_G_DATA_WORD)
        self._signal(_G_SPACE_WORD)

    @property
    def aborted(self) -> bool:
        return bool(self._ctl[_G_ABORT])

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
        if self.name in _created:
            _unlink_own(self.name)

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
        Where spinning is allowed and the last wait was short, spins up to _SPIN_S before sleeping.
        """
        began = time.perf_counter()
        deadline = None if timeout is None else began + timeout
        spin_until = began + _SPIN_S if self._short_wait and _may_spin(began) else began
        if deadline is not None:
            spin_until = min(spin_until, deadline)
        words, i = self._words, 2 * field
        address = self._ctl_address + 8 * field
        delay = _SIGNALLED_WAIT if wakeup.SIGNALLED else _MIN_SLEEP
        first = True
        while True:
            seen = int(words[i])  # before the abort flag: abort() sets it, then bumps
            if self._ctl[_G_ABORT]:
                raise RingAborted(f"ring {self.name} was aborted")
            if not first:  # the caller may be done after this yield: say how long it took
                self._short_wait = time.perf_counter() - began <= _SPIN_S
            first = False
            yield
            if spin_until > began:
                if _spin_until(lambda seen=seen: words[i] != seen, spin_until):
                    continue
                spin_until = began  # spun out (or the core is contended): sleep from now on
            pause = delay
            if deadline is not None:
                pause = min(pause, deadline - time.perf_counter())
                if pause <= 0:
                    return
            wakeup.wait(address, seen, pause)
            if not wakeup.SIGNALLED:
                delay = min(2 * delay, _MAX_SLEEP)


def _reserve(shm: shared_memory.SharedMemory, name: str, size: int) -> None:
    """Allocate the segment's pages now, so a full /dev/shm fails here and not with SIGBUS later."""
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        shm.close()
        _unlink_own(name)
        raise ShmSpaceError(f"ring {name}: cannot reserve {_mib(size)} in {SHM_DIR} ({e})") from None
    finally:
        os.close(fd)


class RingWriter:
    """Writes packets into a ring. Frame ids must increase from one packet to the next."""

    def __init__(self, ring: Ring, lossless: bool):
        self._ring = ring
        self.lossless = lossless
        ring._ctl[_G_MODE] = _MODE_LOSSLESS if lossless else _MODE_REALTIME
        self._seq = int(ring._ctl[_G_WRITE_SEQ])
        self._last_frame = int(ring._ctl[_G_LAST_FRAME])
        self._warm_misses = 0  # packets in a row readers did not give back within _WARM_S

    @property
    def last_frame(self) -> int | None:
        """The frame id of the last packet in the ring (written by this or an earlier writer), if any."""
        return None if self._last_frame == _NO_FRAME else self._last_frame

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
        self._publish(frame_id, capture_time, value, size, False, timeout)
        self._last_frame = frame_id
        ring._ctl[_G_LAST_FRAME] = frame_id

    def write_eos(self, timeout: float | None = None) -> None:
        """Mark the end of the stream: readers get a packet with `eos=True` after all earlier ones."""
        self._publish(-1, 0.0, None, codec.encoded_size(None), True, timeout)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every reader has released (lossless) or read past (realtime) all packets written.

        Returns False when `timeout` passed first.
        """
        ring = self._ring
        column = _R_RELEASED if self.lossless else _R_NEXT
        for _ in ring._waits(timeout, _G_SPACE_WORD):
            if self._slowest(column) >= self._seq:
                return True
        return False

    def _publish(self, frame_id: int, capture_time: float, value, size: int, eos: bool, timeout) -> None:
        ring = self._ring
        n = self._seq
        if self.lossless:
            if size >= _WARM_BYTES and n and _may_spin(time.perf_counter()):
                self._wait_for_warm_slot(n)
            for _ in ring._waits(timeout, _G_SPACE_WORD):
                if (slot := self._warmest_free_slot()) is not None:
                    break
            else:
                raise TimeoutError(f"ring {ring.name}: readers did not release a slot within {timeout} s")
        elif ring._ctl[_G_ABORT]:
            raise RingAborted(f"ring {ring.name} was aborted")
        else:
            slot = n % ring.slots  # overwrite the oldest packet, never the newest a reader may be copying
        meta = ring._meta[slot]
        meta[_S_STAMP] = 2 * n + 1
        codec.encode_unchecked(value, ring._payload[slot])
        meta[_S_FRAME] = frame_id
        ring._time[slot] = capture_time
        meta[_S_LENGTH] = size
        meta[_S_EOS] = eos
        meta[_S_STAMP] = 2 * n + 2
        ring._index[n % ring.slots] = slot
        self._seq = n + 1
        ring._ctl[_G_WRITE_SEQ] = n + 1
        ring._signal(_G_DATA_WORD)

    def _wait_for_warm_slot(self, n: int) -> None:
        """Give readers up to _WARM_S to release packet n-1, whose slot is still in cache, unless they
        have not lately: a large packet written into a cold slot costs up to twice as much."""
        if self._warm_misses >= _WARM_MISSES and n % _WARM_RETRY:
            return
        if _spin_until(lambda: self._slowest(_R_RELEASED) >= n, time.perf_counter() + _WARM_S):
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
        released = self._slowest(_R_RELEASED)
        best, best_held = None, -2
        for slot, stamp in enumerate(ring._meta[:, _S_STAMP].tolist()):
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
        self._next = int(ring._cursors[index, _R_NEXT])

    @property
    def drops(self) -> int:
        """Packets this reader skipped because it fell behind (realtime mode)."""
        return int(self._ring._cursors[self.index, _R_DROPS])

    def read(self, timeout: float | None = None, oldest: bool = False) -> Packet | None:
        """The next packet (lossless) or the newest (realtime), or None when none came within
        `timeout` seconds (None: wait forever).

        Lossless: arrays are read-only views into the ring, valid until `release()`.
        Realtime: the value is this reader's own copy; `oldest` takes the oldest unread packet
        still in the ring instead of the newest (a join that matches frame ids wants them all).
        """
        ring = self._ring
        cursor = ring._cursors[self.index]
        if ring._ctl[_G_MODE] == _MODE_LOSSLESS and self._next - cursor[_R_RELEASED] >= ring.slots:
            raise RuntimeError(
                f"ring {ring.name} reader {self.index} holds all {ring.slots} slots: "
                "release() before reading more"
            )
        for _ in ring._waits(timeout, _G_DATA_WORD):
            if ring._ctl[_G_WRITE_SEQ] > self._next:  # the mode is set before the first packet
                if ring._ctl[_G_MODE] == _MODE_LOSSLESS:
                    packet = self._view(self._next)
                    self._next += 1
                    break
                packet = self._copy(oldest)
                if packet is not None:
                    break
        else:
            return None
        cursor[_R_NEXT] = self._next
        if ring._ctl[_G_MODE] != _MODE_LOSSLESS:
            ring._signal(_G_SPACE_WORD)  # a realtime writer's drain waits for readers to read
        return packet

    def rewind(self) -> None:
        """Go back to the first packet not released yet, so a consumer restarted after a crash
        reads again what its previous incarnation read but did not finish (lossless mode)."""
        self._next = int(self._ring._cursors[self.index, _R_RELEASED])

    def release(self) -> None:
        """Hand back every packet read so far (their views must not be used after this)."""
        ring = self._ring
        if ring._cursors[self.index, _R_RELEASED] != self._next:
            ring._cursors[self.index, _R_RELEASED] = self._next
            ring._signal(_G_SPACE_WORD)

    def _view(self, n: int) -> Packet:
        ring = self._ring
        slot = int(ring._index[n % ring.slots])
        meta = ring._meta[slot]
        if meta[_S_EOS]:
            return Packet(-1, 0.0, None, True)
        value = codec.decode(ring._payload_ro[slot][: int(meta[_S_LENGTH])], copy=False)
        return Packet(int(meta[_S_FRAME]), float(ring._time[slot]), value)

    def _copy(self, oldest: bool) -> Packet | None:
        """Copy the newest (or oldest unread) packet out, counting the unread ones before it as drops;
        None when it was overwritten during the copy (or its slot is torn): the caller tries again
        after a pause."""
        ring = self._ring
        written = int(ring._ctl[_G_WRITE_SEQ])
        n = max(self._next, written - ring.slots) if oldest else written - 1
        slot = n % ring.slots  # a realtime writer keeps packet n there
        meta = ring._meta[slot]
        stamp = 2 * n + 2
        if meta[_S_STAMP] != stamp:
            return None
        frame_id, capture_time = int(meta[_S_FRAME]), float(ring._time[slot])
        length, eos = int(meta[_S_LENGTH]), bool(meta[_S_EOS])
        if not 0 <= length <= ring.slot_bytes:
            return None
        data = bytearray(ring._payload[slot][:length])
        if meta[_S_STAMP] != stamp:
            return None
        if n > self._next:
            ring._cursors[self.index, _R_DROPS] += n - self._next
        self._next = n + 1
        if eos:
            return Packet(-1, 0.0, None, True)
        return Packet(frame_id, capture_time, codec.decode(data, copy=False))
