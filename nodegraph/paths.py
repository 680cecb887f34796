"""Where nodegraph's files live: the data shipped with it and the user's own folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import InvalidInput

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The shipped data folder `name` ("models" or "presets").

    An installed wheel carries it as `nodegraph/_data/<name>` (pyproject's force-include);
    a source checkout or editable install has it at `<repo>/<name>`.
    """
    candidates = (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name)
    for folder in candidates:
        if folder.is_dir():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"nodegraph's '{name}' folder is missing (looked in {looked}); "
        "re-clone the repository or reinstall nodegraph (pip install --force-reinstall nodegraph)"
    )


def user_data_dir() -> Path:
    """The per-user data folder: XDG on Linux, Application Support on macOS, LOCALAPPDATA on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "nodegraph"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "nodegraph"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nodegraph"


def setting_path(name: str) -> Path | None:
    """The path environment variable `name` gives, ~ expanded; None when it is not set. InvalidInput naming
    it when a ~user in it has no home folder (Path.expanduser raised RuntimeError, a traceback)."""
    value = os.environ.get(name)
    if not value:
        return None
    expanded = os.path.expanduser(value)
    if expanded.startswith("~"):
        raise InvalidInput(f"{name}={value}: there is no home folder for {expanded.split('/')[0]}; give a full path")
    return Path(expanded)


def user_models_dir() -> Path:
    """Where a user drops or fetches models; env NODEGRAPH_USER_MODELS overrides."""
    return setting_path("NODEGRAPH_USER_MODELS") or user_data_dir() / "models"


def fetch_dir() -> Path:
    """Where `models fetch` writes: the NODEGRAPH_MODELS override when set, else the user model folder."""
    return setting_path("NODEGRAPH_MODELS") or user_models_dir()


def fetch_dir_setting() -> str | None:
    """The environment variable that chose fetch_dir(), if one did."""
    names = ["NODEGRAPH_MODELS", "NODEGRAPH_USER_MODELS"] + ([] if sys.platform in ("win32", "darwin") else
                                                             ["XDG_DATA_HOME"])
    return next((name for name in names if os.environ.get(name)), None)
