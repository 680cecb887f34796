"""Output files that never destroy a user's file (the checks before the first frame are `output_checks`).

While running: each output is held under an exclusive
lock (a second run to it is refused, naming the pid that holds it) and written to a unique temporary file in
its own folder, which is fsynced and renamed into place when done, so a reader never sees half a file and a
symlink at the output path is replaced, never written through. The lock file names the temporary file, so
when a writer is killed the run can still put what it wrote in place (`rescue_partials`). What a run that did
not complete (it failed, was stopped or killed) wrote never replaces a file already there: it is kept beside
it, as `NAME.partial.EXT` (or `NAME.partial-1.EXT`, ... the first free name).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from itertools import chain, count
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidInput
from .output_checks import path_params

if TYPE_CHECKING:  # the runners call rescue_partials; modelhub, which node imports, imports this module
    from .graph import Graph
    from .registry import Registry

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

log = logging.getLogger("nodegraph")
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a lock file is opened only if it is not a symlink (not on Windows)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def taken(path: Path) -> bool:
    """Something is at `path` (a file, a folder, a symlink even to nothing) or a run holds its lock."""
    return os.path.lexists(path) or lock_path(path).exists()


def free_name(target: Path, mark: str = "", is_taken=taken) -> Path:
    """The first name beside `target` that is not taken: `STEM{mark}.EXT` when `mark` is given, then
    `STEM{mark}-1.EXT`, `STEM{mark}-2.EXT`, ..."""
    stems = chain([target.stem + mark] if mark else [], (f"{target.stem}{mark}-{n}" for n in count(1)))
    return next(name for stem in stems if not is_taken(name := target.with_name(stem + target.suffix)))


def place_for_partial(target: Path) -> Path:
    """Where what a run that did not complete wrote goes: `target` when nothing is there, else beside it."""
    return free_name(target, ".partial") if os.path.lexists(target) else target


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _read_lock(path: Path) -> tuple[str, str]:
    """(pid, temporary file) as the holder wrote them; empty strings when unreadable."""
    try:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return "", ""
    return (lines + ["", ""])[0], (lines + ["", ""])[1]


class OutputFile:
    """An output path held under an exclusive lock for as long as it is written.

    `temporary` is where to write (a unique name in the destination folder; None for a folder, whose
    entries the caller writes with `write_atomically`); `commit()` puts it in place, `release()` gives the
    lock back. A writer killed before either leaves the lock file naming its temporary file."""

    def __init__(self, target: str | os.PathLike, what: str, folder: bool = False):
        self.target = Path(target)
        self.what = what
        self._lock = lock_path(self.target)
        self._fd = self._acquire()
        self.temporary: Path | None = None
        if not folder:
            fd, name = tempfile.mkstemp(prefix=f".{self.target.stem}.", suffix=f".partial{self.target.suffix}",
                                        dir=self.target.parent)
            os.close(fd)
            os.chmod(name, 0o666 & ~current_umask())  # as open() would make it, not mkstemp's 0600
            self.temporary = Path(name)
        self._record()

    def _acquire(self) -> int:
        while True:
            fd = self._open_lock()
            if not _try_lock(fd):
                os.close(fd)
                pid, _ = _read_lock(self._lock)
                holder = f"pid {pid}" if pid else "another process"
                raise InvalidInput(f"{self.what}: another run ({holder}) is writing this file now; wait for it "
                                   f"to finish or choose another output (the lock is {self._lock})")
            try:
                same = os.fstat(fd).st_ino == os.stat(self._lock).st_ino
            except FileNotFoundError:  # its holder removed it between our open and our lock
                same = False
            if same:
                return fd
            os.close(fd)

    def _open_lock(self) -> int:
        """The lock file, made if missing; never opened through a symlink or as anything but a plain file,
        since the lock is truncated and rewritten."""
        not_ours = InvalidInput(f"{self.what}: {self._lock} is not a lock file of nodegraph's (a symbolic link or "
                                "not a plain file), and its name is the output's lock: remove it and run again")
        try:
            fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise not_ours from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise not_ours
        return fd

    def _record(self) -> None:
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, f"{os.getpid()}\n{self.temporary or ''}\n".encode("utf-8", "surrogateescape"))

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
        if discard and self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
        if self._fd is not None:
            with contextlib.suppress(OSError):  # Windows keeps an open file; the next run reuses it
                self._lock.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


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


def write_atomically(target: Path, data, mode: int | None = None) -> None:
    """Write bytes (or a buffer) to `target` through a unique temporary file in its folder: the file
    appears whole or not at all, with permissions `mode` (default: as open() would make a new file; not
    mkstemp's 0600). A symlink at `target` is replaced, never written through. OSError is the caller's to report."""
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent)
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


# -- after the run ------------------------------------------------------------------------------------------

def rescue_partials(graph: Graph, registry: Registry) -> list[str]:
    """Put in place what a killed writer of this graph's outputs left in its temporary file (beside a file
    already there: `place_for_partial`); returns one message per output rescued. A node class may define
    `describe_partial(path) -> str` (what the file holds, e.g. its frame count) to say more."""
    messages = []
    for node_id, _, param, path in path_params(graph, registry):
        if param.role != "output" or param.folder:
            continue
        lock = lock_path(Path(path))
        try:
            fd = os.open(lock, os.O_RDWR | NO_FOLLOW)
        except OSError:  # no lock there (or no such folder, or a symlink: not ours): nothing was left
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not _try_lock(fd):
                continue  # not a lock of ours, or still held: its writer lives
            pid, temporary = _read_lock(lock)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        ours = Path(temporary).parent == Path(path).parent and Path(temporary).name.startswith(f".{Path(path).stem}.")
        if not temporary or not ours or not os.path.exists(temporary):
            continue
        kept = place_for_partial(Path(path))
        put_in_place(Path(temporary), kept)
        describe = getattr(registry.get(graph.nodes[node_id].type), "describe_partial", None)
        held = f"; {describe(str(kept))}" if describe else ""
        where = ("there" if kept == Path(path)
                 else f"beside it as {kept}, and the file already at {path} is left as it was")
        messages.append(f"node '{node_id}': its writer (pid {pid}) was stopped before it closed {path}; "
                        f"what it wrote is kept {where}{held}")
    return messages
