"""Files a command writes beside a run's outputs (`--stats-json`, the editor's `--screenshot` and
`--layout-json`): checked before the run, so a file that could not be written, or that must not be, is said
at once rather than after the frames; and the stats, written after it."""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

from . import preset as presets
from .console import tell
from .editor.run_setup import numbered_outputs
from .errors import InvalidInput
from .output_checks import check_run_side_output, check_side_output, lock_path
from .output_files import OutputFile, file_there, is_stream, write_atomically, writer_of
from .registry import default_registry


def check_stats_path(path: str, flag: str = "--stats-json", made: str | None = None,
                     example: str = "stats.json") -> Path:
    """Refuse a file named by `flag` that could not be written, before the run rather than after it. `made`:
    a folder the command makes before it writes the file (the farm's --out), which need not be there yet.
    `example`: the file name a folder given for it is told to add."""
    target = Path(path)
    folder = target.parent
    try:
        there = os.stat(target).st_mode
    except FileNotFoundError:
        if os.path.islink(target):  # a link to nothing names where its owner meant a file to be: not ours
            raise InvalidInput(f"{flag} {path}: is a symbolic link to {os.readlink(target)}, which does not "
                               "exist; remove the link or give another file name") from None
        there = None
    except OSError as e:  # a name too long for the file system, a link that loops
        raise InvalidInput(f"{flag} {path}: {e.strerror}; give another file name") from None
    if there is not None and stat.S_ISDIR(there):
        raise InvalidInput(f"{flag} {path}: is a folder; give a file name such as {target / example}")
    if is_stream(target):  # `>(jq .)`, /dev/stdout: written into as the shell's `>` would
        return target
    if there is not None and not stat.S_ISREG(there):
        raise InvalidInput(f"{flag} {path}: is a device or a socket, not a file; give a file name")
    if made is not None and not folder.exists() and os.path.abspath(folder) == os.path.abspath(made):
        return target
    if not folder.is_dir():
        raise InvalidInput(f"{flag} {path}: the folder {folder} does not exist; make it first (mkdir -p "
                           f"{shlex.quote(str(folder))}) or give a file in a folder that is there")
    if not os.access(folder, os.W_OK):
        raise InvalidInput(f"{flag} {path}: no permission to write into {folder}")
    file_there(target, f"{flag} {path}")  # a read-only file is not replaced, as an output's is not
    if holder := writer_of(target):  # written after it, ours would replace what that run puts there
        raise InvalidInput(f"{flag} {path}: another run ({holder}) is writing this file now; give another file "
                           f"name (the lock is {lock_path(target)})")
    return target


def check_edit_side_files(preset: str, screenshot: str | None, layout_json: str | None) -> None:
    """--screenshot and --layout-json: writable, a .png for the picture, and none of the preset, the files its
    nodes read or write (under the names the editor's run gives them too: `numbered_outputs`), or each other.
    A preset that does not load is checked by its own name only: the editor opens it to show what is wrong."""
    if screenshot is None:
        return
    check_stats_path(screenshot, "--screenshot", example="shot.png")
    if Path(screenshot).suffix.lower() != ".png":
        raise InvalidInput(f"--screenshot {screenshot}: the picture is written as PNG; name it NAME.png")
    try:
        graph, registry = presets.load(preset), default_registry()
    except presets.PresetError:
        graph = registry = None

    def check(flag: str, path: str) -> None:
        if graph is None:
            check_side_output(f"{flag} {path}", path, [preset], [])
            return
        check_run_side_output(f"{flag} {path}", path, graph, registry, preset)
        numbered = graph.copy()  # as the editor's run names its outputs: seq-1 where seq holds pictures already
        if renamed := numbered_outputs(numbered, registry):
            try:
                check_run_side_output(f"{flag} {path}", path, numbered, registry, preset)
            except InvalidInput as e:
                raise InvalidInput(f"{e} (the editor's run: {'; '.join(renamed)})") from None

    check("--screenshot", screenshot)
    if layout_json is not None:
        check_stats_path(layout_json, "--layout-json", example="layout.json")
        check("--layout-json", layout_json)
        check_side_output(f"--layout-json {layout_json}", layout_json, [], [screenshot])


def write_refusal_unchecked(path: Path, stats: dict) -> None:
    """A run refused before its graph loaded (a broken preset, a bad --set): --stats-json could not be checked
    against the files the graph reads, so the refusal goes only where no file is, into a stream, or over an
    earlier run's stats, which must not pass for this run's. Anything else there is left as it is."""
    if path.exists() and not is_stream(path) and not _holds_run_stats(path):
        return
    write_stats(path, stats)


def _holds_run_stats(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            stats = json.loads(file.read(1 << 20))
    except (OSError, ValueError):  # unreadable, longer than any stats file, or no JSON
        return False
    return isinstance(stats, dict) and {"frames", "interrupted", "error"} <= stats.keys()


def hold_stats_path(target: Path) -> OutputFile | None:
    """Hold a checked --stats-json file under its output's lock until the stats are in it (`write_stats`), so a
    run that would begin writing it meanwhile is refused at its start, as for any output, rather than have what
    it wrote replaced by our stats as we end. None for a stream, written into, never replaced."""
    return None if is_stream(target) else OutputFile(target, f"--stats-json {target}")


def write_stats(path: Path, stats: dict, held: OutputFile | None = None) -> bool:
    """Write a run's --stats-json (checked by check_stats_path; `held`: its lock, given back once they are in
    place); False, said, when it cannot be written: the run's outputs are fine then, only the file asked for is
    missing."""
    data = (json.dumps(stats, indent=2) + "\n").encode()
    try:  # a temporary file renamed into place: never through a symlink, nor over a file a run writes now
        if held is None:
            write_atomically(path, data)
        else:
            held.temporary.write_bytes(data)
            held.commit()
    except OSError as e:
        tell(f"nodegraph: cannot write --stats-json {path}: {e.strerror or e}")
        return False
    return True
