"""Port data types and which of them may be linked to which.

The engine only knows the shape of the data, not what it means: `Frame`, `Image` and
`Mask` are numpy arrays, `Faces` is a list of records (dicts of arrays and scalars),
and the scalars are plain Python values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PortType:
    name: str
    kind: str  # "array", "records" or "scalar"
    doc: str

    def __str__(self) -> str:
        return self.name


Frame = PortType("Frame", "array", "a BGR uint8 image of one video frame (H x W x 3)")
Image = PortType("Image", "array", "a BGR uint8 still image (H x W x 3)")
Mask = PortType("Mask", "array", "a float32 mask in [0, 1] (H x W)")
Faces = PortType("Faces", "records", "the faces found in one frame: a list of records")
Float = PortType("Float", "scalar", "a float")
Int = PortType("Int", "scalar", "an integer")
Bool = PortType("Bool", "scalar", "a boolean")
Text = PortType("Text", "scalar", "a string")

ALL_TYPES = {t.name: t for t in (Frame, Image, Mask, Faces, Float, Int, Bool, Text)}

# Links allowed between different types (output type -> input types it may feed).
_WIDENINGS = {
    Frame: {Image},
    Image: {Frame},
    Mask: {Image},
    Int: {Float},
    Bool: {Int, Float},
}


def can_link(output: PortType, input: PortType) -> bool:
    """True when a value of type `output` may be fed into an input of type `input`."""
    return output == input or input in _WIDENINGS.get(output, set())
