"""Moving around the canvas: fit to view, a zoom-like scale, panning with keys.

Dear PyGui's node editor can neither zoom nor be panned from code, so the canvas draws every
node at (graph position - origin) x zoom: fitting and key panning move the origin, and zooming
redraws the nodes with thumbnails, text and spacing scaled (a font per zoom level).
"""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from .canvas import Canvas
from .theme import zoom_theme

ZOOMS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15, 1.3)
COMPACT_BELOW = 0.75  # from here down, nodes leave out their port types and node type
FIT_MAX_ZOOM = 1.0  # fitting a small graph does not blow it up
READABLE_ZOOM = 0.6  # a fit after opening that needs less lays the graph out again, shaped like the canvas
FIT_MARGIN = 24  # px between the graph and the canvas's edges
MINIMAP_SHARE = 0.2  # imnodes draws the minimap over this share of the canvas's width and height
PAN_STEP = 120  # px a key press pans
# A fit after opening may lay the graph out again: when it fits only below READABLE_ZOOM, and then,
# if at the new zoom the nodes overlap (text does not shrink quite as much as the zoom), once more
# with their sizes as drawn at that zoom.
RELAYOUTS = ("too big", "overlap")


class Navigator:
    def __init__(self, canvas: Canvas, fonts: dict[float, int] | None = None):
        self.canvas = canvas
        self.fonts = fonts or {}  # zoom -> font
        self.minimap = True
        self._fit_passes = 0  # a fit waits for the nodes to be drawn, and checks again after a zoom
        self._wait_frames = 0
        self.on_too_big = None  # lays the graph out again (see RELAYOUTS)
        self._relayouts = len(RELAYOUTS)
        self._themes: dict[float, int | str] = {}

    # -- zoom ---------------------------------------------------------------------------

    def set_zoom(self, zoom: float) -> None:
        """Redraw at `zoom`, keeping the graph point at the canvas's centre where it is."""
        canvas = self.canvas
        left, top, width, height = canvas.screen_rect()
        x, y = left + width / 2, top + height / 2
        anchor = canvas.screen_to_graph(x, y) if canvas.nodes else None
        offset = canvas.grid_offset()
        canvas.zoom = zoom
        canvas.compact = zoom < COMPACT_BELOW
        canvas.font = self.fonts.get(zoom)
        if zoom not in self._themes:
            self._themes[zoom] = zoom_theme(zoom)
        dpg.bind_item_theme(canvas.editor, self._themes[zoom])
        if anchor is not None:
            canvas.origin = (anchor[0] - (x - offset[0]) / zoom, anchor[1] - (y - offset[1]) / zoom)
        canvas.rebuild()

    def step_zoom(self, steps: int) -> None:
        here = min(range(len(ZOOMS)), key=lambda i: abs(ZOOMS[i] - self.canvas.zoom))
        wanted = ZOOMS[max(0, min(len(ZOOMS) - 1, here + steps))]
        if wanted != self.canvas.zoom:
            self.set_zoom(wanted)

    # -- pan ----------------------------------------------------------------------------

    def pan(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) screen px (positive: the graph moves left / up)."""
        ox, oy = self.canvas.origin
        self.canvas.origin = (ox + dx / self.canvas.zoom, oy + dy / self.canvas.zoom)
        self.canvas.place_all()

    # -- fit ----------------------------------------------------------------------------

    def request_fit(self, allow_relayout: bool = False) -> None:
        """Fit once the nodes are drawn (their sizes are known only then); with `allow_relayout`
        (a graph just opened), a graph too big to read is laid out again first."""
        self._fit_passes = 5
        self._wait_frames = 2
        self._relayouts = 0 if allow_relayout else len(RELAYOUTS)

    @property
    def fitting(self) -> bool:
        return self._fit_passes > 0

    def tick(self) -> None:
        if not self._fit_passes:
            return
        if self._wait_frames > 0 or not self._drawn():
            self._wait_frames -= 1
            return
        self._fit_passes -= 1
        if self.fit():
            self._wait_frames = 2  # a new zoom: measure the redrawn nodes and centre again
        else:
            self._fit_passes = 0

    def _drawn(self) -> bool:
        return all(dpg.get_item_rect_size(view.item)[0] > 0 for view in self.canvas.nodes.values())

    def fit(self) -> bool:
        """Choose the largest zoom level at which every node is inside the canvas (and clear of the
        minimap), and centre the graph; returns whether the nodes must be measured again (a new
        zoom, or a new layout)."""
        canvas = self.canvas
        boxes = self.graph_boxes()
        if not boxes:
            return False
        left, top, width, height = canvas.screen_rect()
        low_x, low_y = min(b[0] for b in boxes), min(b[1] for b in boxes)
        high_x, high_y = max(b[2] for b in boxes), max(b[3] for b in boxes)
        span_x, span_y = max(1.0, high_x - low_x), max(1.0, high_y - low_y)
        fits = [z for z in ZOOMS if z <= FIT_MAX_ZOOM and self._fits(boxes, z, width, height)]
        zoom = max(fits) if fits else ZOOMS[0]
        if self._relayouts < len(RELAYOUTS) and self.on_too_big is not None:
            why = RELAYOUTS[self._relayouts]
            if (why == "too big" and zoom < READABLE_ZOOM) or (why == "overlap" and overlapping(boxes)):
                self._relayouts += 1
                self.on_too_big()
                return True
            if why == "too big":
                self._relayouts = len(RELAYOUTS)  # the preset's own layout stays
        margin_x = max(FIT_MARGIN, (width - span_x * zoom) / 2)
        margin_y = max(FIT_MARGIN, (height - span_y * zoom) / 2)
        if self.minimap and fits:
            margin_x = self._clear_of_minimap(boxes, zoom, width, height, margin_x, margin_y)
        offset = canvas.grid_offset()
        canvas.origin = (low_x - (left + margin_x - offset[0]) / zoom, low_y - (top + margin_y - offset[1]) / zoom)
        if zoom != canvas.zoom:
            self.set_zoom_keeping_origin(zoom)
            return True
        canvas.place_all()
        return False

    def set_zoom_keeping_origin(self, zoom: float) -> None:
        origin = self.canvas.origin
        self.set_zoom(zoom)
        self.canvas.origin = origin
        self.canvas.place_all()

    def graph_boxes(self) -> list[tuple[float, float, float, float]]:
        """Each node as (x0, y0, x1, y1) in graph units, its size as drawn at the current zoom."""
        canvas = self.canvas
        boxes = []
        for node_id, view in canvas.nodes.items():
            pos = canvas.state.graph.nodes[node_id].pos or (0.0, 0.0)
            w, h = dpg.get_item_rect_size(view.item)
            boxes.append((pos[0], pos[1], pos[0] + w / canvas.zoom, pos[1] + h / canvas.zoom))
        return boxes

    def _fits(self, boxes, zoom: float, width: float, height: float) -> bool:
        span_x = max(b[2] for b in boxes) - min(b[0] for b in boxes)
        span_y = max(b[3] for b in boxes) - min(b[1] for b in boxes)
        if span_x * zoom > width - 2 * FIT_MARGIN or span_y * zoom > height - 2 * FIT_MARGIN:
            return False
        if not self.minimap:
            return True
        margin_x = max(FIT_MARGIN, (width - span_x * zoom) / 2)
        margin_y = max(FIT_MARGIN, (height - span_y * zoom) / 2)
        return self._clear_of_minimap(boxes, zoom, width, height, margin_x, margin_y) is not None

    def _clear_of_minimap(self, boxes, zoom, width, height, margin_x, margin_y) -> float | None:
        """The left margin (the centred one, or less) at which no node reaches into the minimap's
        corner; None when there is none."""
        low_x, low_y = min(b[0] for b in boxes), min(b[1] for b in boxes)
        corner_x, corner_y = width * (1 - MINIMAP_SHARE) - 4, height * (1 - MINIMAP_SHARE) - 4
        for margin in (margin_x, (margin_x + FIT_MARGIN) / 2, FIT_MARGIN):
            if all(margin + (b[2] - low_x) * zoom <= corner_x or margin_y + (b[3] - low_y) * zoom <= corner_y
                   for b in boxes):
                return margin
        return None


def overlapping(boxes) -> bool:
    return any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
               for i, a in enumerate(boxes) for b in boxes[i + 1:])
