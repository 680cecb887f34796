"""Output files and folders that never destroy a user's file (the checks before the first frame are
`output_checks`).

While running, each output is held under an exclusive lock (a second run to it is refused, naming the pid
that holds it) and written to a unique temporary file in its own folder, which is fsynced and renamed into
place when done, so a reader never sees half a file and a symlink at the output path is replaced, never
written through. The lock file names the temporary file, so when a writer is killed the run can still put
what it wrote in place (`output_rescue`), and a later run into the same file keeps it beside it. What a run
that did not complete (it failed, was stopped or killed) wrote never replaces a file already there: it is
kept beside it, as `NAME.partial.EXT` (or `NAME.partial-1.EXT`, ... the first free name). Picture folders
follow the same rule (`output_folders`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import tempfile
from itertools import chain, count
from pathlib import Path
from typing import NamedTuple

from .errors import InvalidInput
from .made_folders import remove_made_folders
from .output_checks import lock_path, temporary_prefix, temporary_suffix, visible_name

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

log = logging.getLogger("nodegraph")
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a lock file is opened only if it is not a symlink (not on Windows)
# what `OutputFile.record` writes, one a line: pid, temporary file or folder (may be empty), run token (optional),
# "made N" (optional: the folders its run made, `made_folders`). The temporary's folder or name may hold a
# newline: then the record is ours only where it ends in a name of a temporary file or staging folder (hidden,
# `.partial` in it; the shortest, so a run token after it is one)
TEMPORARY = r"[^\n]*|(?:.*[/\\])?\.[^/\\]*?\.partial[^/\\]*?"
LOCK_RECORD = re.compile(rf"(?:(?P<pid>\d+)\n(?:(?P<temporary>{TEMPORARY})\n(?:(?P<run>[0-9a-f]+)\n)?"
                         r"(?:made (?P<made>\d+)\n)?)?)?", re.DOTALL)
LOCK_RECORD_MAX_BYTES = 8192  # a pid, a path of up to 4096 bytes and a run token fit


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def taken(path: Path) -> bool:
    """Something is at `path` (a file, a folder, a symlink even to nothing) or a run holds its lock."""
    return os.path.lexists(path) or lock_path(path).exists()


def free_name(target: Path, mark: str = "", is_taken=taken) -> Path:
    """The first name beside `target` that is not taken: `STEM{mark}.EXT` when `mark` is given, then
    `STEM{mark}-1.EXT`, `STEM{mark}-2.EXT`, ..."""
    tails = chain([mark] if mark else [], (f"{mark}-{n}" for n in count(1)))
    return next(name for tail in tails
                if not is_taken(name := target.with_name(visible_name(target.stem, tail + target.suffix))))


def place_for_partial(target: Path) -> Path:
    """Where what a run that did not complete wrote goes: `target` when nothing is there, else beside it."""
    return free_name(target, ".partial") if os.path.lexists(target) else target


def try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


class LockRecord(NamedTuple):
    """What a lock's holder wrote in it (`LOCK_RECORD`)."""

    pid: str
    temporary: str  # its temporary file or staging folder
    run: str  # its run token
    made: int  # the folders its run made (`made_folders`)


def read_lock(path: Path) -> LockRecord:
    """The lock's record; empty when unreadable, and all but a first line of digits (its pid, while it writes
    the rest) when no record."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        text = ""
    if record := LOCK_RECORD.fullmatch(text):
        return LockRecord(record["pid"] or "", record["temporary"] or "", record["run"] or "", int(record["made"] or 0))
    pid = text.partition("\n")[0]
    return LockRecord(pid if pid.isdigit() else "", "", "", 0)


def writer_of(target: Path) -> str | None:
    """Who holds `target`'s lock now, writing it ('pid N', or 'another process' before its record is written);
    None when no run does. The lock is taken for an instant to see whether it is free, as `output_rescue` does."""
    try:
        fd = os.open(lock_path(target), os.O_RDWR | NO_FOLLOW)
    except OSError:  # no lock there (or no such folder, or a symlink: not ours)
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or try_lock(fd):
            return None
    finally:
        os.close(fd)
    pid = read_lock(lock_path(target)).pid
    return f"pid {pid}" if pid else "another process"


def holds_lock_record(fd: int) -> bool:
    """Whether the file open as `fd` is empty (its run was killed before it wrote it) or holds what
    `OutputFile.record` writes (`LOCK_RECORD`): a file at a lock's name holding anything else is somebody's own
    file, never taken as a lock, rewritten or removed."""
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, LOCK_RECORD_MAX_BYTES + 1)
    return len(data) <= LOCK_RECORD_MAX_BYTES and bool(LOCK_RECORD.fullmatch(data.decode("utf-8", "surrogateescape")))


def is_writable(path: Path, status: os.stat_result) -> bool:
    """False for a file made read-only (for root too, who may write anyway) or that this user may not write."""
    return bool(status.st_mode & 0o222) and os.access(path, os.W_OK)


def file_there(target: Path, what: str) -> os.stat_result | None:
    """The status of a plain file already at `target` (a symlink there is replaced, not its target). A file
    made read-only is not replaced: its owner said so, as `cp` and FFmpeg would find."""
    try:
        there = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(there.st_mode):
        return None
    if not is_writable(target, there):
        raise InvalidInput(f"{what}: the file already there is read-only (mode {stat.S_IMODE(there.st_mode):04o}), "
                           "so a run does not replace it: make it writable (chmod u+w) or choose another output")
    return there


class OutputFile:
    """An output path held under an exclusive lock for as long as it is written.

    `temporary` is where to write (a unique name in the destination folder; for a folder, None or what
    `OutputFolder` records); `commit()` puts it in place, `release()` gives the lock back. A writer killed
    before either leaves the lock file naming its temporary file (and the `run` token, when given), which
    the next holder finds in `left`. `made`: the folders this run made for it (`made_folders`), removed again
    where empty when it gives the output up having written nothing (`release(discard=True)`), as they are
    when this refuses it; it takes those its killed writer made (`left`: of a stage restarted within the run,
    or of a run killed as a whole)."""

    def __init__(self, target: str | os.PathLike, what: str, folder: bool = False, run: str = "", made: int = 0):
        self.target = Path(target)
        self.what = what
        self.run = run
        self._is_folder = folder
        self._folder = self.target if folder else self.target.parent  # where `made` counts from
        try:
            there = None if folder else file_there(self.target, what)
            self._lock = lock_path(self.target)
            self._fd = self._acquire()
        except BaseException:
            remove_made_folders(self._folder, made, what)
            raise
        self.left = read_lock(self._lock)
        # the folders its killed writer made (of this run: a restarted stage; or of a run killed as a whole) are
        # no user's: removed where left empty, as this run's are
        self.made = max(made, self.left.made)
        restarted = run and self.left.run == run
        self._maker = "a run that was killed before this one" if self.left.made > made and not restarted else "this run"
        self.temporary: Path | None = None
        try:
            self._start(there)
        except OSError as e:  # a full disk, a folder made read-only since the checks: the lock is not kept
            self._give_up()
            raise InvalidInput(f"{what}: cannot write into {self._folder}: {e.strerror or e}; free some space or "
                               "choose another place") from None
        except BaseException:
            self._give_up()
            raise

    def _start(self, there: os.stat_result | None) -> None:
        """Keep what a killed writer left, make the temporary file and record both in the lock."""
        if not self._is_folder and (kept := keep_left_file(self.target, self.left.temporary,
                                                           free_name(self.target, ".partial"))):
            log.warning("%s: a run that was killed before it closed this file left what it wrote; it is kept "
                        "beside it as %s", self.what, kept)
        if not self._is_folder:
            fd, name = tempfile.mkstemp(prefix=temporary_prefix(self.target), suffix=temporary_suffix(self.target),
                                        dir=self.target.parent)
            self.temporary = Path(name)
            os.close(fd)
            # the replaced file's permissions; a new one's as open() would make it, not mkstemp's 0600
            os.chmod(name, there.st_mode & 0o777 if there else 0o666 & ~current_umask())  # no setuid, setgid
        self.record()

    def _give_up(self) -> None:
        """Release the lock taken by a constructor that failed, and what it made. A lock that still names what a
        killed writer left (which could not be kept) stays, for the next run to keep it; only its hold goes."""
        if self.left.temporary and os.path.lexists(self.left.temporary):
            os.close(self._fd)
            self._fd = None
        self.release(discard=True)

    def _acquire(self) -> int:
        while True:
            fd = self._open_lock()
            if not try_lock(fd):
                os.close(fd)
                pid = read_lock(self._lock).pid
                holder = f"pid {pid}" if pid else "another process"
                raise InvalidInput(f"{self.what}: another run ({holder}) is writing this file now; wait for it "
                                   f"to finish or choose another output (the lock is {self._lock})")
            if not still_there(fd, self._lock):  # its holder removed it between our open and our lock
                os.close(fd)
                continue
            if not holds_lock_record(fd):
                os.close(fd)
                raise InvalidInput(f"{self.what}: {self._lock} holds something other than the lock nodegraph writes "
                                   "there (a pid, a temporary file, a run token), and its name is this output's lock, "
                                   "which a run rewrites and removes: if it is a file of yours, move it elsewhere; "
                                   "if not, remove it; then run again")
            return fd

    def _open_lock(self) -> int:
        """The lock file, made if missing; never opened through a symlink or as anything but a plain file,
        since the lock is truncated and rewritten."""
        not_ours = InvalidInput(f"{self.what}: {self._lock} is not a lock file of nodegraph's (a symbolic link, a "
                                "folder or not a plain file), and its name is the output's lock: remove it and run "
                                "again")
        try:
            fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o644)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EISDIR):  # a symlink, a folder
                raise not_ours from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise not_ours
        return fd

    def record(self) -> None:
        """Write who holds the lock and where it writes into the lock file."""
        run = f"{self.run}\n" if self.run else ""
        made = f"made {self.made}\n" if self.made else ""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, f"{os.getpid()}\n{self.temporary or ''}\n{run}{made}".encode("utf-8", "surrogateescape"))

    def commit(self, complete: bool = True) -> Path:
        """fsync the temporary file and rename it into place (replacing a symlink there, not its target);
        returns where it went. Unless the run was `complete`, a file already there stays and what was
        written goes beside it (`place_for_partial`), which the log says."""
        kept = self.target
        if self.temporary is not None and self.temporary.exists():
            kept = self.target if complete else place_for_partial(self.target)
            put_in_place(self.temporary, kept)
            if kept != self.target:
                log.warning("%s: this run did not complete, so what it wrote is kept beside it as %s; the file "
                            "already at %s is left as it was", self.what, kept, self.target)
        self.release()
        return kept

    def release(self, discard: bool = False) -> None:
        """Give the lock back. `discard`: this run wrote nothing to keep: its temporary file goes, and so do
        the folders it made (`made`) that are left empty."""
        if discard and self.temporary is not None and not self._is_folder:  # a folder's staging is kept apart
            self.temporary.unlink(missing_ok=True)
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # Windows keeps an open file; the next run reuses it
            if still_there(self._fd, self._lock):  # not another run's lock put there
                self._lock.unlink()
        os.close(self._fd)
        self._fd = None
        if discard:
            remove_made_folders(self._folder, self.made, self.what, self._maker)


def still_there(fd: int, path: Path) -> bool:
    """Whether the file open as `fd` is still the one at `path`: a lock may be released and removed between an
    open of it and a lock on it, and made again by a new run, which holds that one."""
    try:
        there, ours = os.lstat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino)


def keep_left_file(target: Path, temporary: str, kept: Path) -> Path | None:
    """Put what a killed writer of `target` left in the temporary file its lock names at `kept`; returns it,
    or None when it left none (an empty one, killed before it wrote, is removed). A file there that is not a
    temporary of ours (a link, another name) stays."""
    left = Path(temporary)
    ours = bool(temporary) and left.parent == target.parent and left.name.startswith(temporary_prefix(target))
    if not ours or not left.is_file() or left.is_symlink():
        return None
    if not left.stat().st_size:
        left.unlink()
        return None
    put_in_place(left, kept)
    return kept


def put_in_place(temporary: Path, target: Path) -> None:
    """fsync `temporary`, rename it to `target` and fsync the folder: the file is whole there after a power cut."""
    with open(temporary, "rb+") as file:
        os.fsync(file.fileno())
    os.replace(temporary, target)
    sync_folder(target.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_stream(target: Path) -> bool:
    """`target` is (or links to) a pipe, a terminal or /dev/null, or names an open descriptor of this process
    (/dev/stdout, /dev/fd/N, /proc/self/fd/N, whatever it was opened on): written into, never replaced."""
    with contextlib.suppress(OSError, ValueError):
        mode = os.stat(target).st_mode
        return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or _names_a_descriptor(target)
    return False


def _names_a_descriptor(target: Path) -> bool:
    """Some link on the way to `target` is an entry of /proc/PID/fd (Linux's /dev/fd and /dev/stdout are)."""
    path = os.path.abspath(target)
    for _ in range(8):  # links to links, as /dev/stdout -> /proc/self/fd/1 -> the file
        folder = Path(os.path.realpath(os.path.dirname(path)))
        if folder.name == "fd" and folder.parent.parent == Path("/proc"):
            return True
        if not os.path.islink(path):
            return False
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    return False


def write_atomically(target: Path, data, mode: int | None = None) -> None:
    """Write bytes (or a buffer) to `target` through a unique temporary file in its folder: the file
    appears whole or not at all, with permissions `mode` (default: as open() would make a new file; not
    mkstemp's 0600). A symlink at `target` is replaced, never written through; a stream there (`is_stream`:
    `>(jq .)`, /dev/stdout, /dev/null) is written into, as a shell's `>` would; a file a run is writing now
    (`writer_of`) is not replaced: that run puts its own there as it ends. OSError is the caller's to report."""
    if holder := writer_of(target):
        raise OSError(errno.EBUSY, f"another run ({holder}) is writing this file now; choose another name")
    if is_stream(target):
        try:  # not blocking: a pipe nobody reads would hang the command; after what stdout holds already
            fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND)
        except OSError as e:
            raise OSError(e.errno, "a pipe that nobody reads" if e.errno == errno.ENXIO else e.strerror) from None
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        return
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(target), suffix=temporary_suffix(target), dir=target.parent)
    try:
        os.chmod(name, 0o666 & ~current_umask() if mode is None else mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def move_aside(final: Path) -> Path:
    """Keep `final` under a free name beside it (NAME.replaced-N.ext), replacing nothing there, before the
    caller renames a new file over `final`. A hard link claims the name atomically and leaves `final` in
    place until then; a file system without hard links gets a rename."""
    for number in count(1):
        aside = final.with_name(f"{final.stem}.replaced-{number}{final.suffix}")
        try:
            os.link(final, aside, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if os.path.lexists(aside):
                continue
            os.rename(final, aside)
        return aside
