"""Shared-memory segments: their names (`ng<run id>_<suffix>`; a run id embeds the creating
process's pid, so `cleanup()` can tell what a killed run left behind), the free-space check, and
creating, attaching and unlinking them without the resource tracker's surprises."""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
from multiprocessing import resource_tracker, shared_memory

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
NAME_RE = re.compile(r"ng(?P<run>[0-9a-f]{5,})_[A-Za-z0-9]+\Z")
ON_LINUX = sys.platform.startswith("linux")
_TRACKED = os.name == "posix"  # the resource tracker only follows POSIX segments
_PID_MAX = 2**31 - 1  # os.kill takes a C int

created_here: set[str] = set()  # segments this process created and has not unlinked yet
_attach_lock = threading.Lock()


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
    m = NAME_RE.match(name)
    return m["run"] if m else None


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` runs. A pid past pid_t's range, which no process has, counts as alive: a name of
    ours with one was made by some other program, so cleanup() leaves it alone."""
    if pid == os.getpid() or pid > _PID_MAX:
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
    names = os.listdir(SHM_DIR) if ON_LINUX else list(created_here)
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
        if name in created_here:
            unlink_own(name)
        else:
            try:
                _posixshmem.shm_unlink("/" + name)
            except FileNotFoundError:  # someone else was quicker
                continue
            except PermissionError:  # another user's: theirs to remove
                continue
        removed += 1
    return removed


def unlink_own(name: str) -> None:
    """Unlink a segment this process created and tell the resource tracker it is gone."""
    created_here.discard(name)
    if not _TRACKED:
        return
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:  # another process's cleanup() was quicker
        pass
    resource_tracker.unregister("/" + name, "shared_memory")


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def check_free_space(nbytes: int, what: str = "shared memory") -> None:
    """Raise ShmSpaceError when /dev/shm has less than `nbytes` free (Linux; elsewhere no-op).

    Linux creates segments lazily and kills the process with SIGBUS at the first write past
    the free space; this turns that into an error that says what to do.
    """
    if not ON_LINUX:
        return
    st = os.statvfs(SHM_DIR)
    free = st.f_bavail * st.f_frsize
    if nbytes > free:
        raise ShmSpaceError(
            f"{what} needs {mib(nbytes)} but {SHM_DIR} has only {mib(free)} free "
            f"(of {mib(st.f_blocks * st.f_frsize)}). Free space there (`nodegraph cleanup` removes what "
            "killed runs left behind) or make it bigger: Docker `--shm-size=2g`, Linux "
            "`sudo mount -o remount,size=4G /dev/shm`."
        )


def open_untracked(name: str) -> shared_memory.SharedMemory:
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


def reserve(shm: shared_memory.SharedMemory, name: str, size: int) -> None:
    """Allocate the segment's pages now, so a full /dev/shm fails here and not with SIGBUS later."""
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        shm.close()
        unlink_own(name)
        raise ShmSpaceError(f"ring {name}: cannot reserve {mib(size)} in {SHM_DIR} ({e})") from None
    finally:
        os.close(fd)
