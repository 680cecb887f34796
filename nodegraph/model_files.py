"""What is at a path given as a model when it is no usable model, said so that the user knows what to do: a saved
web page (what a failed download leaves), a symbolic link that leads nowhere, a pipe or a device."""

from __future__ import annotations

import os
from pathlib import Path

from nodegraph.model_manifest import ModelError


def page_start(path: Path) -> str | None:
    """The first characters of a file that begins as an HTML, XML or JSON page does (an error page saved under
    the model's name); None for any other file. No ONNX file can: a protobuf begins with a field's tag, and
    '<', '{', a byte order mark and white space are no valid tag of an ONNX model."""
    try:
        with path.open("rb") as file:
            head = file.read(64)
    except OSError as exc:
        raise ModelError(f"model file {path} cannot be read: {exc.strerror}; give a file you can read") from None
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text[:1] not in (b"<", b"{"):
        return None
    return text.decode("utf-8", "replace").splitlines()[0][:40]


def neither_file_nor_folder(paths: list[Path]) -> str | None:
    """What to say of the first of `paths` that is there but neither a file nor a folder (a symbolic link leading
    to nothing, a pipe, a device), where "not found" would send the user to look for what `ls` shows there."""
    odd = next((path for path in paths if os.path.lexists(path) and not (path.is_file() or path.is_dir())), None)
    if odd is None:
        return None
    if not odd.is_symlink():
        return f"{odd} is not a file (a pipe, a device or a socket); give the path of the model file"
    return (f"{odd} is a symbolic link to {os.readlink(odd)}, which leads to no file (moved, deleted or a loop "
            "of links); point the link at the model file, or put the file in its place")
