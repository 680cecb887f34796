"""The model manifest (`models/manifest.json`, or env NODEGRAPH_MANIFEST): each model's file, size, sha256
and download URL, read and checked."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from nodegraph.errors import InvalidInput
from nodegraph.paths import data_dir, setting_path


class ModelError(InvalidInput):
    """A model is unknown, missing, corrupt or cannot be fetched; the message says what to do."""


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


def manifest_path() -> Path:
    return setting_path("NODEGRAPH_MANIFEST") or data_dir("models") / "manifest.json"


def load_manifest() -> Manifest:
    path = manifest_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model manifest {path}: {exc}; "
                         "re-clone or reinstall nodegraph") from exc
    if not isinstance(data, dict):
        raise ModelError(f"model manifest {path}: expected a JSON object with 'models' and 'user_models'")
    entries = {}
    for section, builtin in (("models", True), ("user_models", False)):
        records = data.get(section, {})
        if not isinstance(records, dict):
            raise ModelError(f"model manifest {path}: '{section}' must be an object of model name -> entry")
        for name, record in records.items():
            problem = _entry_problem(record)
            if problem is None and name in entries:  # a second entry would unverify the first's model
                problem = f"names the same model as models.{name}: give it another name"
            if problem:
                raise ModelError(f"model manifest {path}: {section}.{name}: {problem}")
            entries[name] = ModelEntry(name, record["file"], record.get("sha256"), record.get("size"),
                                       builtin, record.get("url"), record)
    return Manifest(path, entries, data.get("user_model_notes", ""))


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
