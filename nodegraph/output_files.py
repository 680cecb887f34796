"""Output files and folders that never destroy a user's file (the checks before the first frame are
`output_checks`).

While running, each output is held under an exclusive lock (a second run to it is refused, naming the pid
that holds it) and written to a unique temporary file in its own folder, which is fsynced and renamed into
place when done, so a reader never sees half a file and a symlink at the output path is replaced, never
written through. The lock file names the temporary file, so when a writer is killed the run can still put
what it wrote in place (`rescue_partials`). What a run that did not complete (it failed, was stopped or
killed) wrote never replaces a file already there: it is kept beside it, as `NAME.partial.EXT` (or
`NAME.partial-1.EXT`, ... the first free name). Picture folders follow the same rule (`OutputFolder`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import tempfile
import uuid
from itertools import chain, count
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidInput
from .output_checks import home_of, lock_path, path_params

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


def _read_lock(path: Path) -> tuple[str, str, str]:
    """(pid, temporary file or folder, run token) as the holder wrote them; empty strings when unreadable."""
    try:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        lines = []
    pid, temporary, run = (lines + ["", "", ""])[:3]
    return pid, temporary, run


def _writable(path: Path, status: os.stat_result) -> bool:
    """False for a file made read-only (for root too, who may write anyway) or that this user may not write."""
    return bool(status.st_mode & 0o222) and os.access(path, os.W_OK)


def _file_there(target: Path, what: str) -> os.stat_result | None:
    """The status of a plain file already at `target` (a symlink there is replaced, not its target). A file
    made read-only is not replaced: its owner said so, as `cp` and FFmpeg would find."""
    try:
        there = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(there.st_mode):
        return None
    if not _writable(target, there):
        raise InvalidInput(f"{what}: the file already there is read-only (mode {stat.S_IMODE(there.st_mode):04o}), "
                           "so a run does not replace it: make it writable (chmod u+w) or choose another output")
    return there


class OutputFile:
    """An output path held under an exclusive lock for as long as it is written.

    `temporary` is where to write (a unique name in the destination folder; for a folder, None or what
    `OutputFolder` records); `commit()` puts it in place, `release()` gives the lock back. A writer killed
    before either leaves the lock file naming its temporary file (and the `run` token, when given), which
    the next holder finds in `left` as (pid, temporary, run)."""

    def __init__(self, target: str | os.PathLike, what: str, folder: bool = False, run: str = ""):
        self.target = Path(target)
        self.what = what
        self.run = run
        there = None if folder else _file_there(self.target, what)
        self._lock = lock_path(self.target)
        self._fd = self._acquire()
        self.left = _read_lock(self._lock)
        self.temporary: Path | None = None
        if not folder:
            fd, name = tempfile.mkstemp(prefix=f".{self.target.stem}.", suffix=f".partial{self.target.suffix}",
                                        dir=self.target.parent)
            os.close(fd)
            # the replaced file's permissions; a new one's as open() would make it, not mkstemp's 0600
            os.chmod(name, there.st_mode & 0o777 if there else 0o666 & ~current_umask())  # no setuid, setgid
            self.temporary = Path(name)
        self.record()

    def _acquire(self) -> int:
        while True:
            fd = self._open_lock()
            if not _try_lock(fd):
                os.close(fd)
                pid = _read_lock(self._lock)[0]
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

    def record(self) -> None:
        """Write who holds the lock and where it writes into the lock file."""
        run = f"{self.run}\n" if self.run else ""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, f"{os.getpid()}\n{self.temporary or ''}\n{run}".encode("utf-8", "surrogateescape"))

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


def staging_folder(folder: Path, run: str) -> Path:
    """The hidden folder beside `folder` (`home_of`) where run `run` writes while `folder` holds an earlier
    run's files."""
    return home_of(folder) / f".{folder.name}.{run}.partial"


def keep_staged_beside(folder: Path, staging: Path) -> tuple[Path, int] | None:
    """Make a staging folder visible beside `folder` as `NAME.partial` (then `NAME.partial-1`, ...); returns
    (where, how many files) or None when it held none (it is removed). A file a killed writer was still
    writing (a hidden temporary) is dropped: the others are whole."""
    for entry in staging.iterdir():
        if entry.name.startswith("."):
            entry.unlink()
    files = len(os.listdir(staging))
    if not files:
        staging.rmdir()
        return None
    names = chain([f"{folder.name}.partial"], (f"{folder.name}.partial-{n}" for n in count(1)))
    kept = next(path for name in names if not taken(path := staging.parent / name))
    os.rename(staging, kept)
    sync_folder(staging.parent)
    return kept, files


def keep_left_staging(folder: Path, temporary: str, run: str) -> tuple[Path, int] | None:
    """What a killed writer of `folder` left in the staging folder its lock names (`temporary`, of run `run`),
    kept beside the folder (`keep_staged_beside`); None when it left none. Anything else there, a link
    included, is not ours and stays."""
    ours = bool(run) and Path(temporary) == staging_folder(folder, run)
    if not ours or not os.path.isdir(temporary) or os.path.islink(temporary):
        return None
    return keep_staged_beside(folder, Path(temporary))


class OutputFolder:
    """A folder output (numbered pictures, written with `write_atomically` into `where`) under its lock.

    A run into a folder that holds no files of the node's `pattern` writes there directly. Into one that
    holds some (an earlier run's), it writes into a hidden folder beside it (`staging_folder`): when the run
    completes, its files are moved in over those of the same names; when it does not, the folder is left as
    it was and what the run wrote is kept beside it as `NAME.partial` (`keep_staged_beside`). The lock
    records the run token (`StreamInfo.run`) and the staging folder, so a stage restarted within the run
    carries on where its killed writer was, and what a writer of an earlier run left is made visible."""

    def __init__(self, folder: Path, pattern: str, run: str, what: str):
        self.folder, self.what = folder, what
        run = run or uuid.uuid4().hex[:12]  # a node set up outside a runner
        self._lock = OutputFile(folder, what, folder=True, run=run)
        try:
            self.staging = self._staging(pattern, run)
        except BaseException:
            self._lock.release()
            raise
        self._lock.temporary = self.staging
        self._lock.record()
        self.where = self.staging or folder

    def _staging(self, pattern: str, run: str) -> Path | None:
        _, left, left_run = self._lock.left
        own = staging_folder(self.folder, run)
        if left_run == run:  # this stage was restarted: carry on as its killed writer did
            staging = own if left else None
        else:
            if kept := keep_left_staging(self.folder, left, left_run):
                log.warning("%s: a run that was killed left %d files; they are kept beside it as %s",
                            self.what, kept[1], kept[0])
            pictures = list(self.folder.glob(pattern))
            if locked := next((path for path in pictures if path.is_file() and not path.is_symlink()
                               and not _writable(path, path.stat())), None):
                raise InvalidInput(f"{self.what}: {locked} is read-only, so a run does not replace it: make the "
                                   "pictures writable (chmod u+w) or choose another folder")
            staging = own if pictures else None
        if staging is not None and not (staging.is_dir() and not staging.is_symlink()):
            try:
                staging.mkdir()
            except FileExistsError:
                raise InvalidInput(f"{self.what}: {staging} is in the way of this run's pictures (it is not a "
                                   "folder nodegraph made): remove it and run again") from None
        return staging

    def close(self, complete: bool) -> None:
        """Put what a staged run wrote in place (`complete`) or beside the folder, and give the lock back."""
        try:
            if self.staging is not None:
                self._put_staged(complete)
        finally:
            self._lock.release()

    def _put_staged(self, complete: bool) -> None:
        if not complete:
            kept = keep_staged_beside(self.folder, self.staging)
            if kept:
                log.warning("%s: this run did not complete, so the %d files it wrote are kept beside it in %s; "
                            "the files already in %s are left as they were", self.what, kept[1], kept[0],
                            self.folder)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for entry in self.staging.iterdir():
            if not entry.name.startswith("."):
                os.replace(entry, self.folder / entry.name)
        sync_folder(self.folder)
        shutil.rmtree(self.staging)


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
    already there: `place_for_partial`) or staging folder (`keep_staged_beside`); returns one message per
    output rescued. A node class may define `describe_partial(path) -> str` (what the file holds, e.g. its
    frame count) to say more."""
    messages = []
    for node_id, _, param, path in path_params(graph, registry):
        if param.role != "output":
            continue
        lock = lock_path(Path(path))
        try:
            fd = os.open(lock, os.O_RDWR | NO_FOLLOW)
        except OSError:  # no lock there (or no such folder, or a symlink: not ours): nothing was left
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not _try_lock(fd):
                continue  # not a lock of ours, or still held: its writer lives
            pid, temporary, run = _read_lock(lock)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        if param.folder:
            if kept := keep_left_staging(Path(path), temporary, run):
                messages.append(f"node '{node_id}': its writer (pid {pid}) was stopped before it finished; the "
                                f"{kept[1]} files it wrote are kept beside {path} in {kept[0]}, and the files "
                                f"already in {path} are left as they were")
            continue
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
