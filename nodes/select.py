"""FaceSelector: keep some of the faces, so different faces can go down different branches."""

from __future__ import annotations

from nodegraph.errors import InvalidInput
from nodegraph.node import Node
from nodegraph.params import Bool, Choice, Int
from nodegraph.types import Frame

from .face.blazeface import sort_faces
from .face.draw import note_picture, tile_crops
from .face.records import Faces

# choice -> the sort order it picks from (None: the order the faces came in)
ORDERS = {
    "index": None,
    "largest": "largest",
    "leftmost": "left_to_right",
    "rightmost": "right_to_left",
    "topmost": "top_to_bottom",
    "nearest_centre": "nearest_centre",
}


class FaceSelector(Node):
    """Keeps some of the faces: by position in the input, size, or place in the frame.

    Keeps `count` faces starting at position `index` of an order: as they came (`index`), largest
    first, leftmost, rightmost, topmost or nearest the frame's centre first (that one needs the `frame`
    input). Two selectors with index 0 and 1 send the first and second face to different branches.

    With `sticky`, a face once kept stays kept while its track id is in view, even when the order
    changes (two faces of about the same size, or people crossing), so a swap does not jump between them.
    """

    category = "Select"
    inputs = {"faces": Faces, "frame": Frame}
    optional_inputs = frozenset({"frame"})
    outputs = {"faces": Faces}
    params = {
        "by": Choice(list(ORDERS), default="largest", help="the order faces are picked in"),
        "index": Int(0, 63, default=0, help="the first face kept, counted from 0 in that order"),
        "count": Int(1, 64, default=1, help="how many faces are kept"),
        "sticky": Bool(False, help="keep following the kept faces (by track id) while they are in view"),
    }
    cost_ms = 0.05

    def setup(self):
        self._kept_ids: list[int] = []
        self._offered = 0  # faces in the latest frame, for the preview

    def preview(self, outputs):
        """The kept faces' crops (with their masks); with none, a picture that says why."""
        kept = outputs.get("faces") or []
        crops = [(face["crop"], face.get("crop_mask")) for face in kept if face.get("crop") is not None]
        if crops:
            return tile_crops(crops)
        if kept:
            return note_picture([f"{len(kept)} face(s) kept", "no crops yet: put a FaceAligner", "before this node"])
        offered = f"{self._offered} face(s) came in" if self._offered else "no face came in"
        return note_picture(["no face routed here", offered, f"keeping by {self.by}, index {self.index}"])

    def param_changed(self, name):
        self._kept_ids = []

    def process(self, faces, frame=None):
        order = ORDERS[self.by]
        self._offered = len(faces)
        if order == "nearest_centre" and frame is None:
            raise InvalidInput(f"node '{self.id}' (FaceSelector): by 'nearest_centre' needs the frame size: "
                               "link the frame into its 'frame' input")
        shape = frame.shape if frame is not None else (0, 0)  # only nearest_centre uses it
        ranked = list(faces) if order is None else sort_faces(faces, order, shape)
        chosen = ranked[self.index: self.index + self.count]
        if self.sticky:
            by_id = {face.get("track_id"): face for face in ranked if "track_id" in face}
            kept = [by_id[i] for i in self._kept_ids if i in by_id][: self.count]
            for face in chosen + ranked[self.index + self.count:]:
                if len(kept) >= self.count:
                    break
                if all(face is not k for k in kept):
                    kept.append(face)
            chosen = kept
            self._kept_ids = [face["track_id"] for face in chosen if "track_id" in face]
        return {"faces": chosen}
