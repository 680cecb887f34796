"""Checks of a run's output paths before the first frame, made without writing: no output may be an input
(same inode, through links or other spellings), no output folder may hold an input file, no two outputs of a
run may share a path, every path must be UTF-8 and an output file must have an extension its node writes. Side
files (`--stats-json`, screenshots) are checked against the run's inputs, outputs and input folders.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidInput, Problem
from .params import Model as ModelParam
from .params import Path as PathParam

if TYPE_CHECKING:  # Graph.validate calls output_problems
    from .graph import Graph
    from .registry import Registry


def lock_path(target: Path) -> Path:
    """The file a run holds while it writes `target` (see output_files.OutputFile)."""
    return home_of(target) / hidden_name(target.name, ".lock")


MAX_NAME_BYTES = 255  # a file name's limit on Linux, macOS and Windows file systems


def hidden_name(name: str, tail: str) -> str:
    """`.NAME{tail}`, the name of a file a run keeps beside the output `name`; where that is past the file
    system's 255 bytes (an output's own name may be up to it), NAME is shortened and a hash of it keeps the
    name the same for every run and apart from other outputs'."""
    whole = f".{name}{tail}"
    if len(whole.encode("utf-8", "surrogateescape")) <= MAX_NAME_BYTES:
        return whole
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f".{name[:40]}-{digest}{tail}"


def visible_name(stem: str, tail: str) -> str:
    """`stem + tail`, a name a run gives a file beside an output (`NAME.partial.EXT`, `NAME-1.EXT`); the stem is
    shortened where the whole would be past the file system's 255 bytes (an output's own name may be up to it)."""
    room = MAX_NAME_BYTES - len(tail.encode("utf-8", "surrogateescape"))
    if room < 1:
        raise InvalidInput(f"{stem}{tail}: no name with so long an extension fits the file system's "
                           f"{MAX_NAME_BYTES} bytes; choose an output name with a shorter extension")
    while len(stem.encode("utf-8", "surrogateescape")) > room:
        stem = stem[:-1]
    return stem + tail


def temporary_prefix(target: Path) -> str:
    """The start of a temporary file's name beside `target`: hidden, and short enough that a name near the
    file system's limit of 255 bytes still has room for it."""
    return f".{target.stem[:40]}."


def temporary_suffix(target: Path) -> str:
    """The end of a temporary file's name beside `target` (its extension, shortened as its stem is)."""
    return f".partial{target.suffix[:16]}"


def _is_partial_name(name: str, stem: str, suffix: str) -> bool:
    """Whether `name` is `stem.partial{suffix}` or `stem.partial-N{suffix}`, as `visible_name` makes them."""
    found = re.fullmatch(r"(.*)(\.partial(?:-\d+)?)" + re.escape(suffix), name, re.DOTALL)
    return bool(found) and name == visible_name(stem, found[2] + suffix)


def run_file_named(path: str | Path, target: Path) -> str | None:
    """What a run writing the output `target` (a file or a picture folder) does at `path`, beside it, when that
    is its temporary file or staging folder, or where it keeps what it wrote when it does not complete; None
    when `path` is none of them. (Its lock is `lock_path`.)"""
    name, folder = Path(path).name, os.path.realpath(os.path.dirname(os.path.abspath(path)))
    if folder == os.path.realpath(home_of(target)):
        staging = re.fullmatch(r"\..*\.([0-9a-f]+)\.partial", name, re.DOTALL)
        if staging and name == hidden_name(target.name, f".{staging[1]}.partial"):
            return "writes its pictures while the folder holds an earlier run's (its staging folder)"
        if _is_partial_name(name, target.name, ""):
            return "keeps the pictures it wrote when it does not complete (NAME.partial)"
    if folder == os.path.realpath(target.parent):
        prefix, suffix = temporary_prefix(target), temporary_suffix(target)
        if name.startswith(prefix) and name.endswith(suffix) and len(name) >= len(prefix) + len(suffix):
            return "writes it first (its temporary file)"
        if _is_partial_name(name, target.stem, target.suffix):
            return "keeps what it wrote when it does not complete (NAME.partial.EXT)"
    return None


def is_lock_name(path: Path) -> bool:
    """Whether `path` is named as the lock of some output (`lock_path`), whichever output that is: any `.X.lock`,
    which refuses a few names that are no lock of ours, but never replaces another run's."""
    name = Path(path).name
    return len(name) > len("..lock") and name.startswith(".") and name.endswith(".lock")


def home_of(target: Path) -> Path:
    """Where a run keeps the lock of the output `target` and, for a picture folder, its staging folder and the
    pictures of a run that did not complete: beside it, in its parent; inside the folder where that parent is
    another disk (a mount point, a link to another disk: renames across disks fail) or not writable (the root
    of a USB stick, in /media/USER)."""
    try:
        inside = target.is_dir() and (os.stat(target).st_dev != os.stat(target.parent).st_dev
                                      or not os.access(target.parent, os.W_OK) or is_bind_mount(target))
    except OSError:
        inside = False
    return target if inside else target.parent


def is_bind_mount(folder: Path) -> bool:
    """Whether `folder` is where something is mounted, as /proc/self/mountinfo lists it (Linux): a bind mount of a
    folder of the same disk has its parent's device, but a rename across it fails all the same."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as mounts:
            points = [line.split()[4] for line in mounts]
    except OSError:
        return False
    real = os.path.realpath(folder)
    return any(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), point) == real for point in points)


def path_params(graph: Graph, registry: Registry):
    """(node id, param name, spec, resolved path) of every path param that is set to a path the OS can take (a
    NUL character is refused by the param's own check)."""
    for node_id, spec in graph.nodes.items():
        cls = registry.get(spec.type)
        if cls is None:
            continue
        for name, param in cls.params.items():
            value = spec.params.get(name)
            if isinstance(param, PathParam) and isinstance(value, str) and value and "\x00" not in value:
                yield node_id, name, param, graph.resolve_path(value, param)


def files_read(graph: Graph, registry: Registry) -> tuple[list[str], list[str]]:
    """(files, folders) a run of `graph` reads: its nodes' input paths, with models where the model hub
    would find them."""
    files, folders = [], []
    for _, _, param, path in path_params(graph, registry):
        if param.role != "input":
            continue
        if isinstance(param, ModelParam):
            from . import modelhub  # here: modelhub imports output_files, which imports this module

            path = modelhub.locate(path, base_dir=graph.base_dir)
            if path is None:
                continue
        (folders if param.folder else files).append(str(path))
    return files, folders


def _in_folder(path: str, folder: str) -> bool:
    """Whether `path`, or the file it links to, is an entry of `folder` itself (not of a subfolder). realpath
    resolves a link before a `..` after it, as the OS does (abspath would drop the two as text); the folders are
    compared as files, so a bind mount of `folder` is `folder` too."""
    return any(_same_file(parent, folder) for parent in (os.path.dirname(path) or ".",
                                                         os.path.dirname(os.path.realpath(path))))


def _linked_from(folder: str, target_folder: str) -> str | None:
    """An entry of `folder` that links to a file in `target_folder` (a folder a run reads, holding links to
    the pictures of the folder it writes), if any."""
    try:
        with os.scandir(folder) as entries:
            return next((entry.path for entry in entries
                         if entry.is_symlink() and _in_folder(entry.path, target_folder)), None)
    except OSError:  # not a folder (yet): the input's own check says so
        return None


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


def in_the_way(path: str | Path, folder: bool = False, extension: str = "") -> str | None:
    """Why an output cannot go to `path` (not followed: a link there is replaced): a pipe, a device or a
    socket sits there, or a folder where a file goes (found now, not after the run, when the file would be
    put in place); None when nothing is in the way."""
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISDIR(mode) and not folder:
        return f"{path} is a folder; give a file name such as {Path(path) / ('out' + extension)}"
    kind = ("a pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else None)
    if kind is None:
        return None
    said = ("not a folder; choose a folder for the pictures" if folder else "not a file: an output is written "
            "beside it and renamed into place, which would replace it; choose a file name")
    return f"{path} is {kind}, {said}"


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
        if why := in_the_way(path, param.folder, (param.extensions or [""])[0]):
            problems.append(Problem(why, **where(node_id, name)))  # it names a file to give: no extension to add
        elif param.extensions and not param.folder and Path(path).suffix.lower() not in param.extensions:
            got = f"'{Path(path).suffix}'" if Path(path).suffix else "no extension"
            problems.append(Problem(f"{path} has {got}; the file type comes from it: end the name with one "
                                    f"of {', '.join(param.extensions)}", **where(node_id, name)))
        if graph.preset_path is not None and os.path.exists(path) and _same_file(path, graph.preset_path):
            problems.append(Problem(f"{path} is the preset {graph.preset_path} itself; the run would write over "
                                    "it: choose another output", **where(node_id, name)))
        for in_id, in_name, in_param, in_path in inputs:
            if os.path.exists(in_path) and _same_file(path, in_path):
                problems.append(Problem(f"{path} is the input of node '{in_id}' ({in_name}: {in_path}); writing "
                                        "it would destroy it: choose another output", **where(node_id, name)))
            elif (param.folder and not in_param.folder and not isinstance(in_param, ModelParam)
                  and _in_folder(in_path, path)):
                problems.append(Problem(f"{path} holds the input of node '{in_id}' ({in_name}: {in_path}); the "
                                        "files written into it could replace it: choose another folder",
                                        **where(node_id, name)))
            elif param.folder and in_param.folder and (link := _linked_from(in_path, path)):
                problems.append(Problem(f"{path} holds the file that {link} links to, an input of node "
                                        f"'{in_id}' ({in_name}: {in_path}); the files written into it could "
                                        "replace it: choose another folder", **where(node_id, name)))
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
        if os.path.realpath(path) == os.path.realpath(lock_path(Path(target))):
            raise InvalidInput(f"{what}: is the lock file of the output {target}, which tells other runs that "
                               "this one writes there; choose another file")
        if made := run_file_named(path, Path(target)):
            raise InvalidInput(f"{what}: is where a run writing {target} {made}; written after the run, it could "
                               "replace that: choose another file")
    if is_lock_name(Path(path)):  # another run's lock: replaced, it no longer holds back a second writer
        raise InvalidInput(f"{what}: is named as a lock file of nodegraph's (.NAME.lock), which tells other runs "
                           "that one is writing NAME; choose another file")


def check_run_side_output(what: str, path: str, graph: Graph, registry: Registry, preset: str | None) -> None:
    """`check_side_output` against the graph's own files: the preset, and every input and output its nodes
    name."""
    reads, folders = files_read(graph, registry)
    writes = [(node_id, param, resolved) for node_id, _, param, resolved in path_params(graph, registry)
              if param.role == "output"]
    check_side_output(what, path, [preset, *reads], [resolved for _, _, resolved in writes], folders)
    for node_id, param, folder in writes:
        if not (param.folder and _in_folder(path, folder)):
            continue
        pattern = folder_pattern(registry.get(graph.nodes[node_id].type), graph.nodes[node_id].params)
        if fnmatch(Path(path).name, pattern):
            raise InvalidInput(f"{what}: is named as a picture node '{node_id}' writes into {folder} ({pattern}); "
                               "written after the run, it would replace one of them: choose another name")


def folder_pattern(cls, params: dict) -> str:
    """The glob of the files a folder output's node writes: its `files_in_folder(values)`, else any file."""
    if not hasattr(cls, "files_in_folder"):
        return "*"
    return cls.files_in_folder({name: spec.default for name, spec in cls.params.items()} | params)
