"""Port data types and which of them may be linked to which.

The engine only knows the shape of the data, not what it means: `Frame`, `Image` and `Mask`
are numpy arrays, the scalars are plain Python values. Port types are open: a node package
defines its own `PortType` (its colour in the editor, the types its inputs accept) next to
its nodes, as the built-in library does for its record types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PortType:
    """One kind of value a port carries.

    `accepts` names the other types whose values an input of this type takes as they are (an
    `Image` input takes a `Frame`); `colour` is the editor's RGB for its pins and links (None:
    a neutral grey)."""

    name: str
    kind: str  # "array", "records" or "scalar"
    doc: str
    colour: tuple[int, int, int] | None = None
    accepts: frozenset[str] = frozenset()

    def __post_init__(self):
        colour = self.colour
        if colour is not None and not (isinstance(colour, tuple) and len(colour) == 3
                                       and all(isinstance(c, int) and 0 <= c <= 255 for c in colour)):
            raise ValueError(f"port type {self.name!r}, field 'colour': give a tuple of three whole numbers "
                             f"0-255 (R, G, B), got {colour!r}")
        if isinstance(self.accepts, str) or not all(isinstance(name, str) for name in self.accepts):
            raise ValueError(f"port type {self.name!r}, field 'accepts': give the names of the types it takes, "
                             f"e.g. frozenset({{'Mask'}}), got {self.accepts!r}")
        object.__setattr__(self, "accepts", frozenset(self.accepts))  # a list or set given: still hashable

    def __str__(self) -> str:
        return self.name


Frame = PortType("Frame", "array", "a BGR uint8 image of one video frame (H x W x 3)", (86, 156, 234),
                 frozenset({"Image"}))
Image = PortType("Image", "array", "a BGR uint8 still image (H x W x 3)", (78, 201, 176),
                 frozenset({"Frame", "Mask"}))
Mask = PortType("Mask", "array", "a float32 mask in [0, 1] (H x W)", (200, 200, 200))
Float = PortType("Float", "scalar", "a float", (170, 215, 120), frozenset({"Int", "Bool"}))
Int = PortType("Int", "scalar", "an integer", (120, 200, 120), frozenset({"Bool"}))
Bool = PortType("Bool", "scalar", "a boolean", (230, 110, 110))
Text = PortType("Text", "scalar", "a string", (215, 150, 120))


def can_link(output: PortType, input: PortType) -> bool:
    """True when a value of type `output` may be fed into an input of type `input`."""
    return output.name == input.name or output.name in input.accepts


# What a value of each kind is in Python (None, on any port, means no value for this frame)
_KIND_VALUES = {"array": ((np.ndarray,), "a numpy array"), "records": ((list,), "a list of records"),
                "scalar": ((bool, int, float, str, np.generic), "a bool, int, float or str")}


def with_article(name: str) -> str:
    """A type's name as a message reads it: 'an int', 'an Image port', 'a str' (by its first letter)."""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def value_mismatch(port_type: PortType, value: Any) -> str | None:
    """Why `value` cannot travel on a port of `port_type` (what that port carries instead), or None when it can.
    A kind the engine does not know (a node package's own) takes any value."""
    if value is None or port_type.kind not in _KIND_VALUES:
        return None
    classes, what = _KIND_VALUES[port_type.kind]
    if isinstance(value, classes):
        return None
    return (f"{with_article(type(value).__name__)}, but {with_article(port_type.name)} port carries {what} "
            f"({port_type.doc})")
