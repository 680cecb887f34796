"""Output files that never destroy a user's file.

Before the first frame: no output may be an input (same inode, through links or other spellings), no output
folder may hold an input file, no two outputs of a run may share a path, every path must be UTF-8 and an
output file must have an extension its node writes. While running: each output is held under an exclusive
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

from .errors import InvalidInput, Problem
from .params import Model as ModelParam
from .params import Path as PathParam

if TYPE_CHECKING:  # Graph.validate calls output_problems; modelhub, which node imports, imports this module
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


# -- checks before the first frame --------------------------------------------------------------------------

def path_params(graph: Graph, registry: Registry):
    """(node id, param name, spec, resolved path) of every path param that is set."""
    for node_id, spec in graph.nodes.items():
        cls = registry.get(spec.type)
        if cls is None:
            continue
        for name, param in cls.params.items():
            value = spec.params.get(name)
            if isinstance(param, PathParam) and isinstance(value, str) and value:
                yield node_id, name, param, graph.resolve_path(value, param)


def files_read(graph: Graph, registry: Registry) -> tuple[list[str], list[str]]:
    """(files, folders) a run of `graph` reads: its nodes' input paths, with models where the model hub
    would find them."""
    files, folders = [], []
    for _, _, param, path in path_params(graph, registry):
        if param.role != "input":
            continue
        if isinstance(param, ModelParam):
            from . import modelhub  # here: modelhub imports this module

            path = modelhub.locate(path, base_dir=graph.base_dir)
            if path is None:
                continue
        (folders if param.folder else files).append(str(path))
    return files, folders


def _in_folder(path: str, folder: str) -> bool:
    """Whether `path` is an entry of `folder` itself (not of a subfolder)."""
    return os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(folder)


NOT_UTF8 = "the path is not valid UTF-8, which the video and picture libraries cannot open; rename it"


def not_utf8(path: str) -> str | None:
    """None for a path that is UTF-8; else the path, printable, with its odd characters escaped."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "backslashreplace").decode("utf-8")
    return None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def output_problems(graph: Graph, registry: Registry) -> list[Problem]:
    """Every reason an output of `graph` would destroy a file or cannot be written, found without writing."""
    def where(node_id: str, name: str) -> dict:
        return {"node": node_id, "node_type": graph.nodes[node_id].type, "param": name}

    problems = []
    paths = list(path_params(graph, registry))
    for node_id, name, _, path in paths:
        if not_utf8(path):
            problems.append(Problem(f"{not_utf8(path)}: {NOT_UTF8}", **where(node_id, name)))
    outputs = [p for p in paths if p[2].role == "output"]
    inputs = [p for p in paths if p[2].role == "input"]
    for node_id, name, param, path in outputs:
        if param.extensions and not param.folder and Path(path).suffix.lower() not in param.extensions:
            got = f"'{Path(path).suffix}'" if Path(path).suffix else "no extension"
            problems.append(Problem(f"{path} has {got}; the file type comes from it: end the name with one "
                                    f"of {', '.join(param.extensions)}", **where(node_id, name)))
        for in_id, in_name, in_param, in_path in inputs:
            if os.path.exists(in_path) and _same_file(path, in_path):
                problems.append(Problem(f"{path} is the input of node '{in_id}' ({in_name}: {in_path}); writing "
                                        "it would destroy it: choose another output", **where(node_id, name)))
            elif (param.folder and not in_param.folder and not isinstance(in_param, ModelParam)
                  and _in_folder(in_path, path)):
                problems.append(Problem(f"{path} holds the input of node '{in_id}' ({in_name}: {in_path}); the "
                                        "files written into it could replace it: choose another folder",
                                        **where(node_id, name)))
    for i, (node_id, name, _, path) in enumerate(outputs):
        for other_id, _, _, other in outputs[:i]:
            if _same_file(path, other):
                problems.append(Problem(f"{path} is also the output of node '{other_id}'; give each output "
                                        "its own file", **where(node_id, name)))
    return problems


def check_not_an_input(target: str, inputs: list[str | None], what: str) -> None:
    """For a node that knows its inputs (e.g. the stream's media file): refuse to write over one of them."""
    for source in filter(None, inputs):
        if os.path.exists(source) and _same_file(target, source):
            raise InvalidInput(f"{what}: is the input {source}; writing it would destroy it: choose another output")



def check_side_output(what: str, path: str, inputs: list[str], targets: list, folders: list[str] = ()) -> None:
    """A file written beside a run's outputs (`--stats-json FILE`, named by `what`): not an input, not an
    output, not in a folder the run reads."""
    check_not_an_input(path, inputs, what)
    for folder in folders:
        if _in_folder(path, folder):
            raise InvalidInput(f"{what}: is in {folder}, a folder the run reads; writing there could replace "
                               "or add to its input: choose another place")
    for target in targets:
        if os.path.realpath(path) == os.path.realpath(target):
            raise InvalidInput(f"{what}: is also where an output goes ({target}); choose another file")


def check_run_side_output(what: str, path: str, graph: Graph, registry: Registry, preset: str | None) -> None:
    """`check_side_output` against the graph's own files: the preset, and every input and output file its
    nodes name."""
    reads, folders = files_read(graph, registry)
    writes = [resolved for _, _, param, resolved in path_params(graph, registry)
              if param.role == "output" and not param.folder]
    check_side_output(what, path, [preset, *reads], writes, folders)

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
