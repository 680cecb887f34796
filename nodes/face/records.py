"""The face record: what a `Faces` packet carries, one dict per face.

The engine sees a list of dicts of arrays and scalars; these are the keys the face nodes
agree on. Every array is in the frame's pixel coordinates unless it says crop.

| key          | value                         | set by                                   |
| ------------ | ----------------------------- | ---------------------------------------- |
| box          | float32 (4,) x0, y0, x1, y1   | FaceDetector                             |
| score        | float                         | FaceDetector                             |
| keypoints    | float32 (6, 2)                | FaceDetector: right eye, left eye, nose  |
|              |                               | tip, mouth centre, right and left ear    |
| track_id     | int                           | FaceDetector (stable while tracked)      |
| landmarks    | float32 (468, 3) x, y, z      | FaceMarker (FaceMesh)                    |
| pose         | float32 (3,) yaw, pitch, roll | FaceMarker (degrees)                     |
| crop         | uint8 (R, R, 3) BGR           | FaceAligner: the aligned face            |
| matrix       | float32 (2, 3)                | FaceAligner: frame -> crop affine        |
| crop_mask    | float32 (R, R) in [0, 1]      | FaceAligner: landmark hull in the crop   |
| swap         | uint8 (S, S, 3) BGR           | a swapper: the swapped face              |
| swap_matrix  | float32 (2, 3)                | a swapper: frame -> swap affine          |
| swap_mask    | float32 (S, S) in [0, 1]      | a swapper: where the swap is valid       |

Nodes never modify a record they received (fan-out shares them): they return
`updated(face, key=value)` copies.
"""

from __future__ import annotations

from typing import Any

from nodegraph.types import PortType

Faces = PortType("Faces", "records", "the faces found in one frame: a list of records", (240, 160, 60))


def updated(face: dict, **fields: Any) -> dict:
    """A shallow copy of `face` with `fields` set."""
    return {**face, **fields}
