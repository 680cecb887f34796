"""After a run: what a killed writer of its outputs left (a temporary file, a staging folder) is put where
the user sees it, by the runner whose run it was, whatever its end."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from .made_folders import remove_made_folders
from .output_checks import lock_path, path_params
from .output_files import (
    NO_FOLLOW,
    LockRecord,
    holds_lock_record,
    keep_left_file,
    place_for_partial,
    read_lock,
    still_there,
    try_lock,
)
from .output_folders import keep_left_staging

if TYPE_CHECKING:
    from .graph import Graph
    from .registry import Registry


def rescue_partials(graph: Graph, registry: Registry) -> list[str]:
    """Put in place what a killed writer of this graph's outputs left in its temporary file (beside a file
    already there: `place_for_partial`) or staging folder (`keep_staged_beside`), then remove the folders its
    run made for the output (the count its lock records) that are left empty; returns one message per output
    rescued. A node class may define `describe_partial(path) -> str` (what the file holds, e.g. its frame
    count) to say more."""
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
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not try_lock(fd) or not still_there(fd, lock):
                continue  # not a lock of ours, still held (its writer lives), or another run's made since
            if not holds_lock_record(fd):  # a user's file at the lock's name: the run was refused, it stays
                continue
            left = read_lock(lock)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        writer = f"node '{node_id}' ({graph.nodes[node_id].type}): its writer (pid {left.pid})"
        try:
            if message := _keep_left(Path(path), param.folder, left, writer, registry.get(graph.nodes[node_id].type)):
                messages.append(message)
        finally:  # after what it wrote is kept: a folder holding that stays
            remove_made_folders(Path(path) if param.folder else Path(path).parent, left.made, path)
    return messages


def _keep_left(path: Path, folder: bool, left: LockRecord, writer: str, cls) -> str | None:
    """Keep what the killed `writer` of the output `path` (a picture folder where `folder`; node class `cls`)
    left, as its lock recorded it; says where, or None when it left nothing."""
    if folder:
        kept = keep_left_staging(path, left.temporary, left.run)
        return kept and (f"{writer} was stopped before it finished; the {kept[1]} files it wrote are kept beside "
                         f"{path} in {kept[0]}, and the files already in {path} are left as they were")
    kept = keep_left_file(path, left.temporary, place_for_partial(path))
    if kept is None:
        return None
    describe = getattr(cls, "describe_partial", None)
    held = f"; {describe(str(kept))}" if describe else ""
    where = "there" if kept == path else f"beside it as {kept}, and the file already at {path} is left as it was"
    return f"{writer} was stopped before it closed {path}; what it wrote is kept {where}{held}"
