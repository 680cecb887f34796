"""The model manifest (`models/manifest.json`, or env NODEGRAPH_MANIFEST): each model's file, size, sha256
and download URL, read and checked."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from nodegraph.errors import InvalidInput
from nodegraph.paths import data_dir, setting_path


class ModelError(InvalidInput):
    """A model is unknown, missing, corrupt or cannot be fetched; the message says what to do. `not_installed` is
    the catalogue name of a model that no model folder holds, where that is the problem (a fetch would fix it)."""

    not_installed: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    file: str
    sha256: str | None
    size: int | None
    builtin: bool
    url: str | None
    record: dict

    @property
    def kind(self) -> str:
        return "built-in" if self.builtin else "user"


@dataclass(frozen=True)
class Manifest:
    path: Path
    entries: dict[str, ModelEntry]
    notes: str

    def by_file(self, file_name: str) -> ModelEntry | None:
        return next((e for e in self.entries.values() if e.file == file_name), None)


MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # far past any manifest: /dev/zero or a video given by mistake is not read whole


def manifest_path() -> Path:
    return setting_path("NODEGRAPH_MANIFEST") or data_dir("models") / "manifest.json"


def load_manifest() -> Manifest:
    path = manifest_path()
    where = f"model manifest {path}"
    fix = ("point NODEGRAPH_MANIFEST at a model manifest (JSON)" if os.environ.get("NODEGRAPH_MANIFEST")
           else "re-clone or reinstall nodegraph")
    try:
        data = json.loads(_read_manifest(path, where, fix).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the {where}: {exc}; {fix}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{where}: expected a JSON object with 'models' and 'user_models'; {fix}")
    if "models" not in data and "user_models" not in data:  # else: no model known, and nothing said why
        raise ModelError(f"{where}: has neither 'models' nor 'user_models', so it is not a model manifest; {fix}")
    entries = {}
    for section, builtin in (("models", True), ("user_models", False)):
        records = data.get(section, {})
        if not isinstance(records, dict):
            raise ModelError(f"{where}: '{section}' must be an object of model name -> entry")
        for name, record in records.items():
            problem = _entry_problem(record)
            if problem is None and name in entries:  # a second entry would unverify the first's model
                problem = f"names the same model as models.{name}: give it another name"
            if problem:
                raise ModelError(f"{where}: {section}.{name}: {problem}")
            entries[name] = ModelEntry(name, record["file"], record.get("sha256"), record.get("size"),
                                       builtin, record.get("url"), record)
    for entry in entries.values():
        if (twin := entry.record.get("same_network_as")) is not None and (
                twin not in entries or twin == entry.name or not isinstance(entry.record.get("differs"), str)):
            section = "models" if entry.builtin else "user_models"
            raise ModelError(f"{where}: {section}.{entry.name}: 'same_network_as' must name another model of the "
                             f"manifest, not {twin!r}, and 'differs' say how the two files differ")
    return Manifest(path, entries, data.get("user_model_notes", ""))


def _read_manifest(path: Path, where: str, fix: str) -> bytes:
    """The manifest's bytes; a device, a pipe or a folder is refused without waiting on it (a pipe opened
    without O_NONBLOCK blocks until a writer comes; /dev/zero never ends)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelError(f"{where}: is not a file (a device, a pipe or a folder); {fix}")
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ModelError(f"{where}: is over {MAX_MANIFEST_BYTES >> 20} MiB, so it is not a model manifest; {fix}")
    return data


def _entry_problem(record) -> str | None:
    """What is wrong with one model's entry, or None."""
    if not isinstance(record, dict):
        return "must be an object with 'file', 'sha256', 'size' and 'url'"
    file = record.get("file")
    if not isinstance(file, str) or not file:
        return "has no 'file' field naming the model's file"
    if Path(file).is_absolute() or ".." in Path(file).parts:  # fetched into the model folder, never outside it
        return f"'file' must be a name inside the model folder, not {file!r}"
    if any(len(part.encode()) > 200 for part in Path(file).parts):  # 255 bytes with a download's own suffix
        return f"'file' must be a name of at most 200 bytes, not one of {len(file.encode())}"
    sha256 = record.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and re.fullmatch(r"[0-9a-f]{64}", sha256)):
        return f"'sha256' must be 64 lowercase hex digits (as sha256sum prints them) or null, not {sha256!r}"
    for field, kind, what in (("size", int, "a whole number of bytes"), ("url", str, "a string")):
        value = record.get(field)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)
                                  or kind is int and value < 0):
            return f"'{field}' must be {what} or null, not {value!r}"
    return None
