"""An output's folder, made with the folders above it where missing and checked writable before any work; and,
once a run gives the output up having written nothing there, those it made removed again where empty. What a
run made is a count (`made`): the output's folder and the folders above it, that many of them, innermost first.
The output's lock records it (`output_files.OutputFile`), so a stage restarted within the run, the runner
rescuing what a killed writer left, or the next run after a run killed as a whole, knows what the killed writer's
run made."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from .errors import InvalidInput

log = logging.getLogger("nodegraph")

MIN_FREE_BYTES = 64 * 1024 * 1024  # stop before the disk is full, so what is written stays playable


def check_writable_folder(folder: Path, what: str) -> int:
    """Create the folder if needed and make sure we may write into it: an unwritable output is reported before
    any work is done. Returns how many folders it made (`folders_made`); a refusal removes them again."""
    made = 0
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            break
        made += 1
    try:
        _check_writable_folder(folder, what)
    except InvalidInput:
        remove_made_folders(folder, made, what)
        raise
    return made


def folders_made(folder: Path, made: int) -> list[Path]:
    """The `made` folders from `folder` up, innermost first."""
    return [folder, *folder.parents][:made]


def remove_made_folders(folder: Path, made: int, what: str, maker: str = "this run") -> None:
    """Remove the folders `maker` made (`folders_made`) that are empty, and say so: a run that wrote nothing
    leaves no empty folder behind. A folder that holds anything stays, and so do those above it."""
    removed = []
    for path in folders_made(folder, made):
        try:
            path.rmdir()
        except FileNotFoundError:  # never made: mkdir failed below it
            continue
        except OSError:  # not empty
            break
        removed.append(str(path))
    if removed:
        log.warning("%s: %s made %s and wrote nothing into %s, so %s removed", what, maker, " and ".join(removed),
                    *(("it", "it is") if len(removed) == 1 else ("them", "they are")))


def _check_writable_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        file = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        why = f"{file} is a file, not a folder" if file else e.strerror
        raise InvalidInput(f"{what}: cannot create the folder {folder}: {why}; "
                           "choose another place") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
        why = "is on a read-only file system" if read_only else "is not writable"
        raise InvalidInput(f"{what}: {folder} {why}; choose a folder you may write into")
    free = free_bytes(folder)
    if free is None:  # no disk to be full: whether a file can be made there is for the OS to say
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as e:
            raise InvalidInput(f"{what}: cannot write into {folder}: {e.strerror}; choose another place") from None
    elif free < MIN_FREE_BYTES:
        raise InvalidInput(f"{what}: the disk holding {folder} is full (less than "
                           f"{MIN_FREE_BYTES // 2**20} MiB free); free some space or choose another place")


def free_bytes(folder: Path) -> int | None:
    """The free space of the disk holding `folder`; None on a file system of no size (/proc, /sys, some FUSE
    mounts), whose free space of 0 says nothing about a full disk."""
    usage = shutil.disk_usage(folder)
    return usage.free if usage.total else None
