"""Parameter specs: defaults, validation, and the hints the editor turns into widgets."""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from typing import Any


class ParamError(ValueError):
    """A parameter value that does not fit its spec; the message says what would."""


def quote_hint(value: Any) -> str:
    """For a JSON value given where text goes (--set reads `swapper.pixel_boost=512` as the number 512, and
    `label.text=true` as true): how to give it as text; else nothing."""
    if isinstance(value, bool):
        written, what = json.dumps(value), "JSON's " + json.dumps(value)
    elif isinstance(value, (int, float)):
        written, what = str(value), "a number"
    else:
        return ""
    text = json.dumps(written)
    return f"; {written} is {what}: to give the text {text}, quote it as JSON (--set NODE.PARAM='{text}')"


class Param:
    kind = "param"

    def __init__(self, default: Any = None, help: str = ""):
        self.default = default
        self.help = help

    def validate(self, value: Any) -> Any:
        """Return the value in canonical form, or raise ParamError."""
        raise NotImplementedError

    def describe(self) -> dict:
        """A JSON-able description for `nodegraph nodes --json` and the editor."""
        return {"kind": self.kind, "default": self.default, "help": self.help}

    @property
    def required(self) -> bool:
        return False


def _json_limit(limit: float) -> float | None:
    """A min or max as `describe` gives it: None (JSON's null) for none, an infinite one, which JSON has no
    number for (Python would write Infinity, which JSON readers refuse)."""
    return None if isinstance(limit, float) and not math.isfinite(limit) else limit


def _compact(number: int | float) -> str:
    """`number` as a message shows it: an int of more than 15 digits as 1e+300, as a float is shown, not all its
    digits (1e300 given for an int param is read as a whole number of 301 digits)."""
    if isinstance(number, float) or abs(number) < 10**15:
        return str(number)
    mantissa, exponent = format(Decimal(number), ".5e").split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Float(Param):
    kind = "float"

    def __init__(self, min: float, max: float, default: float = 0.0, step: float = 0.0, help: str = ""):
        super().__init__(float(default), help)
        self.min, self.max, self.step = float(min), float(max), step

    def validate(self, value: Any) -> float:
        if not _is_number(value) or isinstance(value, float) and not math.isfinite(value):
            raise ParamError(f"expected a number between {self.min} and {self.max}, got {value!r}")
        if not self.min <= value <= self.max or abs(value) > sys.float_info.max:  # an int past a float's range
            raise ParamError(f"{_compact(value)} is out of range [{self.min}, {self.max}]")
        return float(value)

    def describe(self) -> dict:
        return {**super().describe(), "min": _json_limit(self.min), "max": _json_limit(self.max), "step": self.step}


class Int(Param):
    kind = "int"

    def __init__(self, min: int, max: int, default: int = 0, help: str = ""):
        super().__init__(default, help)
        self.min, self.max = min, max

    def validate(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ParamError(f"expected an integer between {self.min} and {self.max}, got {value!r}")
        if not self.min <= value <= self.max:
            raise ParamError(f"{_compact(value)} is out of range [{self.min}, {self.max}]")
        return value

    def describe(self) -> dict:
        return {**super().describe(), "min": _json_limit(self.min), "max": _json_limit(self.max)}


class Bool(Param):
    kind = "bool"

    def __init__(self, default: bool = False, help: str = ""):
        super().__init__(default, help)

    def validate(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ParamError(f"expected true or false, got {value!r}")
        return value


class Choice(Param):
    kind = "choice"

    def __init__(self, options: list[str], default: str | None = None, help: str = "",
                 renamed: dict[str, str] | None = None):
        super().__init__(default if default is not None else options[0], help)
        self.options = list(options)
        self.renamed = dict(renamed or {})  # options a node renamed -> their new names, so old presets load

    def validate(self, value: Any) -> str:
        value = self.renamed.get(value, value)
        if value not in self.options:
            raise ParamError(f"{value!r} is not one of {', '.join(map(repr, self.options))}{quote_hint(value)}")
        return value

    def describe(self) -> dict:
        return {**super().describe(), "options": list(self.options)}


class Text(Param):
    kind = "text"

    def __init__(self, default: str = "", help: str = ""):
        super().__init__(default, help)

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ParamError(f"expected a string, got {value!r}{quote_hint(value)}")
        return value


class Path(Param):
    """A file or folder. Inputs resolve against the preset's folder, outputs against the
    current directory (see Graph.resolve_path)."""

    kind = "path"

    def __init__(self, default: str = "", role: str = "input", folder: bool = False, optional: bool = False,
                 extensions: list[str] | None = None, help: str = "", also_folder: bool = False):
        super().__init__(default, help)
        self.role = role  # "input" (read) or "output" (written)
        self.folder = folder
        self.also_folder = also_folder  # a file, or a folder in its place (an input read either way)
        self.optional = optional  # an empty value is allowed
        self.extensions = list(extensions or [])  # hints for file dialogs, e.g. [".mp4"]

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ParamError(f"expected a path string, got {value!r}{quote_hint(value)}")
        if "\x00" in value:
            raise ParamError("a path may not contain NUL characters")
        if not value and self.required:
            what = "folder" if self.folder else "file"
            verb = "read" if self.role == "input" else "write"
            raise ParamError(f"no {what} given: set it to the {what} to {verb}")
        return value

    @property
    def required(self) -> bool:
        return not self.optional and not self.default

    def describe(self) -> dict:
        return {**super().describe(), "role": self.role, "folder": self.folder,
                "also_folder": self.also_folder, "optional": self.optional, "extensions": list(self.extensions)}


class Colour(Param):
    """An (r, g, b) colour, 0..255 each."""

    kind = "colour"

    def __init__(self, default: tuple = (255, 255, 255), help: str = ""):
        super().__init__(tuple(default), help)

    def validate(self, value: Any) -> tuple:
        if (not isinstance(value, (list, tuple)) or len(value) != 3
                or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)):
            raise ParamError(f"expected [r, g, b] with integers 0..255, got {value!r}")
        return tuple(value)

    def describe(self) -> dict:
        return {**super().describe(), "default": list(self.default)}


class Model(Path):
    """A model: a name from the model manifest, a file name in the user model folder, or a path.

    Kept as written in the preset (a name must stay a name); the model hub resolves it against
    the preset's folder and the model folders, and verifies it before the run starts."""

    kind = "model"

    def __init__(self, default: str = "", optional: bool = False, extensions: list[str] | None = None,
                 help: str = ""):
        super().__init__(default, role="input", optional=optional, extensions=extensions or [".onnx"], help=help)
