"""The outputs of a farm run, on the machine that runs the command: one file `DIR/<input stem><ext>` per
input, checked and locked before any task starts, and written only when every chunk of its input is back:
the chunks are joined into the output's temporary file, which is then renamed into place. A run that
stops early leaves no file that looks complete, and the outputs already joined stay whole."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from types import ModuleType

from ..errors import InvalidInput, RunFailed
from ..graph import Graph
from ..output_checks import check_not_an_input, in_the_way, not_utf8
from ..output_files import OutputFile
from .plugins import FarmMedia


def output_paths(inputs: list[str], out_dir: str, extension: str) -> list[Path]:
    """Where each input's output goes; InvalidInput when two would share a file or one would overwrite an input.
    The folder is not made here (`make_folder`, once every check passed)."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"--out {out_dir}: is a file; give a folder to write the outputs into")
    if folder.is_symlink() and not folder.exists():  # refused here, before Ray starts, not when it is made
        raise InvalidInput(f"--out {out_dir}: is a link to {os.readlink(folder)}, which does not exist; make that "
                           "folder or give another")
    if not_utf8(str(folder)):
        raise InvalidInput(f"--out {not_utf8(str(folder))}: the path is not valid UTF-8; rename it")
    targets, seen = [], {}
    for path in inputs:
        target = folder / f"{Path(path).stem}{extension}"
        if target.name in seen:
            raise InvalidInput(f"{path} and {seen[target.name]} would both be written to {target}; rename one, "
                               "or run them into different --out folders")
        seen[target.name] = path
        check_not_an_input(str(target), inputs, str(target))
        if target.is_dir() and not target.is_symlink():  # said now, not after every chunk is rendered
            raise InvalidInput(f"{target} is a folder, where the output of {path} goes: move it, or give another "
                               "--out")
        if why := in_the_way(target):
            raise InvalidInput(why)
        targets.append(target)
    return targets


def make_folder(out_dir: str) -> None:
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidInput(f"--out {out_dir}: cannot create the folder: {e.strerror}; choose another place") from None


class FarmOutput:
    """One input's output: locked while the run lasts; its chunks kept in a private folder until joined."""

    def __init__(self, target: Path, chunks: int, extension: str):
        self.target, self.extension = target, extension
        self.file = OutputFile(target, str(target))
        self.folder = Path(tempfile.mkdtemp(prefix="nodegraph-farm-chunks-"))
        self.count = chunks
        self.missing = set(range(chunks))

    def chunk_path(self, index: int) -> Path:
        return self.folder / f"chunk{index:06d}{self.extension}"

    def add(self, index: int, data: bytes) -> bool:
        """Keep a chunk that came back; True once every chunk is here."""
        self.chunk_path(index).write_bytes(data)
        self.missing.discard(index)
        return not self.missing

    def join(self, plugin: ModuleType, graph: Graph, media: FarmMedia, input_path: str) -> tuple[float, int]:
        """Join the chunks into the output and put it in place; returns the seconds it took and the frames the
        join wrote (what the file holds, which the input's count may not be: damaged packets are skipped)."""
        start = time.monotonic()
        paths = [str(self.chunk_path(i)) for i in range(self.count)]
        try:
            frames = plugin.join(paths, str(self.file.temporary), self.extension, graph, media.output, input_path,
                                 str(self.target))
        except OSError as e:  # the run's end discards the temporary file: a file there before is left as it was
            raise RunFailed(f"{self.target}: joining the chunks failed: {e.strerror or e}") from None
        self.file.commit()
        self.remove_chunks()
        return time.monotonic() - start, frames

    def discard(self) -> None:
        """Stopped before the join: no output, the file there before (if any) untouched."""
        self.file.release(discard=True)
        self.remove_chunks()

    def remove_chunks(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
