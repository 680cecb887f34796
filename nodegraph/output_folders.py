"""Picture folders as outputs, under the rule files have (`output_files`): a run into a folder that holds
pictures already writes into a hidden staging folder beside it, whose pictures replace those of the same names
when the run completes, and are kept beside the folder as `NAME.partial` (then `NAME.partial-1`, ...) when
it does not. "Beside" is `home_of(folder)`: inside the folder where its parent is another disk or not
writable."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from itertools import chain, count
from pathlib import Path

from .errors import InvalidInput
from .output_checks import hidden_name, home_of, visible_name
from .output_files import OutputFile, is_writable, sync_folder, taken

log = logging.getLogger("nodegraph")


def staging_folder(folder: Path, run: str) -> Path:
    """The hidden folder beside `folder` (`home_of`) where run `run` writes while `folder` holds an earlier
    run's files."""
    return home_of(folder) / hidden_name(folder.name, f".{run}.partial")


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
    tails = chain([".partial"], (f".partial-{n}" for n in count(1)))
    kept = next(path for tail in tails if not taken(path := staging.parent / visible_name(folder.name, tail)))
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
    carries on where its killed writer was, and what a writer of an earlier run left is made visible.
    `made`: the folders the run made for it (`made_folders`), removed where empty by a run that does not
    complete; a restarted stage takes its killed writer's count from the lock."""

    def __init__(self, folder: Path, pattern: str, run: str, what: str, made: int = 0):
        self.folder, self.what, self.pattern = folder, what, pattern
        run = run or uuid.uuid4().hex[:12]  # a node set up outside a runner
        self._lock = OutputFile(folder, what, folder=True, run=run, made=made)
        try:
            self.staging = self._staging(pattern, run)
        except BaseException:
            self._lock.release(discard=True)
            raise
        self._lock.temporary = self.staging
        self._lock.record()
        self.where = self.staging or folder

    def _staging(self, pattern: str, run: str) -> Path | None:
        left, left_run = self._lock.left.temporary, self._lock.left.run
        own = staging_folder(self.folder, run)
        if left_run == run:  # this stage was restarted: carry on as its killed writer did
            staging = own if left else None
        else:
            if kept := keep_left_staging(self.folder, left, left_run):
                log.warning("%s: a run that was killed left %d files; they are kept beside it as %s",
                            self.what, kept[1], kept[0])
            pictures = list(self.folder.glob(pattern))
            if locked := next((path for path in pictures if path.is_file() and not path.is_symlink()
                               and not is_writable(path, path.stat())), None):
                raise InvalidInput(f"{self.what}: {locked} is read-only, so a run does not replace it: make the "
                                   "pictures writable (chmod u+w) or choose another folder")
            staging = own if pictures else None
        if staging is not None and not (staging.is_dir() and not staging.is_symlink()):
            try:
                staging.mkdir()
            except FileExistsError:
                raise InvalidInput(f"{self.what}: {staging} is in the way of this run's pictures (it is not a "
                                   "folder nodegraph made): remove it and run again") from None
            except OSError as e:  # the folder's home became unwritable since the checks, a full disk
                raise InvalidInput(f"{self.what}: cannot make the folder {staging} for this run's pictures: "
                                   f"{e.strerror}; choose another folder") from None
        return staging

    def close(self, complete: bool) -> None:
        """Put what a staged run wrote in place (`complete`) or beside the folder, and give the lock back; a
        run that did not complete leaves no empty folder it made."""
        try:
            if self.staging is not None:
                self._put_staged(complete)
        finally:
            self._lock.release(discard=not complete)

    def _put_staged(self, complete: bool) -> None:
        if not complete:
            kept = keep_staged_beside(self.folder, self.staging)
            if kept:
                log.warning("%s: this run did not complete, so the %d files it wrote are kept beside it in %s; "
                            "the files already in %s are left as they were", self.what, kept[1], kept[0],
                            self.folder)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        written = set()
        for entry in self.staging.iterdir():
            if not entry.name.startswith("."):
                os.replace(entry, self.folder / entry.name)
                written.add(entry.name)
        sync_folder(self.folder)
        shutil.rmtree(self.staging)
        if earlier := sorted(path.name for path in self.folder.glob(self.pattern) if path.name not in written):
            log.warning("%s: this run replaced the pictures of the same names and left %d of an earlier run's (%s to "
                        "%s) as they were, so the folder's sequence mixes the two runs: remove those, or write into "
                        "an empty folder",
                        self.what, len(earlier), earlier[0], earlier[-1])
