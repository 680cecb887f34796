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
                problems.append(Problem(str(e), param=name))
        elif not os.path.exists(value):
            problems.append(Problem(f"{'folder' if spec.folder else 'file'} not found: {value}", param=name))
        elif spec.folder != os.path.isdir(value):
            problems.append(Problem(f"{value}: is a {'file' if spec.folder else 'folder'}; give a "
                                    f"{'folder' if spec.folder else 'file'}", param=name))
        elif not spec.folder and not os.path.isfile(value):  # a pipe or /dev/zero: not read through, nor empty
            problems.append(Problem(f"{value}: is not a regular file (a device, a pipe or a socket); give a file",
                                    param=name))
        elif not spec.folder and os.path.getsize(value) == 0:
            problems.append(Problem(f"{value}: the file is empty (0 bytes)", param=name))
    return problems
