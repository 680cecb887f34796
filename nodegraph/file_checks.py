"""Whether the files, folders and models a node's params name are there: what every node's check
hook looks at before a run (see Node.check)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import modelhub
from .errors import InvalidInput, Problem
from .params import Model, Param
from .params import Path as PathParam


def missing_inputs(specs: dict[str, Param], values: dict[str, Any], base_dir: Path) -> list[Problem]:
    """A Problem per input file or folder that does not exist and per model that does not resolve
    to a verified file. `values`: valid params, input paths already resolved against `base_dir`."""
    problems = []
    for name, spec in specs.items():
        value = values.get(name)
        if not value or not isinstance(spec, PathParam) or spec.role != "input":
            continue
        if isinstance(spec, Model):
            try:
                modelhub.resolve(value, base_dir=base_dir)
            except InvalidInput as e:
                problems.append(Problem(str(e), param=name, model=getattr(e, "not_installed", None)))
        else:
            problem = input_problem(value, folder=spec.folder or (spec.also_folder and os.path.isdir(value)))
            if problem:
                problems.append(Problem(problem, param=name, missing_path=None if os.path.exists(value) else value))
    return problems


def input_problem(path: str, folder: bool = False) -> str | None:
    """What keeps `path` from being read as an input file (or folder), naming it; None when nothing does."""
    kind = "folder" if folder else "file"
    if not os.path.exists(path):
        return f"{kind} not found: {path}"
    if folder != os.path.isdir(path):
        return f"{path}: is a {'file' if folder else 'folder'}; give a {kind}"
    if not folder and not os.path.isfile(path):  # a pipe or /dev/zero: not read through, and not "empty"
        return f"{path}: is not a regular file (a device, a pipe or a socket); give a file"
    if not folder and os.path.getsize(path) == 0:
        return f"{path}: the file is empty (0 bytes)"
    if not os.access(path, os.R_OK | (os.X_OK if folder else 0)):
        return f"{path}: no permission to read it"
    return None
