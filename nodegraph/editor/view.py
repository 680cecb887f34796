"""Moving around the canvas: fit to view (laid out again where it must be), a zoom-like scale, key panning.

Dear PyGui's node editor can neither zoom nor be panned from code, so the canvas draws every
node at (graph position - origin) x zoom: fitting and key panning move the origin, and zooming
redraws the nodes with thumbnails, text and spacing scaled (a font per zoom level).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from .canvas import Canvas
from .layout import auto_layout
from .theme import zoom_theme

log = logging.getLogger("nodegraph")

# 0.75, the first that shows port types: a graph that fits at 0.78 (two_faces at 1920x1080) was compact at 0.7.
# 0.35: two_faces at 1280x720 is too tall for 0.4 (three rows of nodes) and was shown at 0.3.
# 0.25: neural_swap at 1000x720 (a column of two nodes with problems, under a row of three) fits no larger one
ZOOMS = (0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0, 1.15, 1.3)
COMPACT_BELOW = 0.75  # from here down, nodes leave out their port types and node type
FIT_MAX_ZOOM = 1.0  # fitting a small graph does not blow it up
# A fit after opening (or of the editor's own layout) that shows the nodes compact lays the graph out again,
# shaped like the canvas, where that shows it larger
READABLE_ZOOM = COMPACT_BELOW
NODE_EDGE = 8  # px from a node's measured rect out to its drawn outline, where its pins sit, at every zoom
# px between the nodes' rects and the canvas's edges; their outlines (and the links' curves) keep NODE_EDGE less
FIT_MARGIN = 24
TIGHT_MARGIN = NODE_EDGE + 8  # where only that lets a zoom fit: the outlines and pins stay clear of the edges
MINIMAP_SHARE = 0.2  # imnodes draws the minimap over this share of the canvas's width and height
PAN_STEP = 120  # px a key press pans
# Nodes are laid out with their sizes as drawn, but the size of a node in graph units changes with
# the zoom (text does not shrink quite as much, problem text wraps into more lines): a layout made
# at one zoom can overlap at the zoom its fit picks. So a fit after a layout measures again and lays
# out again with the largest size each node has been drawn at, until no node overlaps another.
RELAYOUTS = 8  # at most, per fit
# A fit measures until the view stops changing; this only bounds one that never settles (logged if reached):
# a graph opened at zoom 1 that steps down to the smallest, laid out again at each, takes about 20
FIT_MEASURE_CAP = 400
DRAW_WAIT_FRAMES = 30  # a fit waits at most this long for every node to be drawn once
SIZE_SLACK = 1.05  # a layout leaves this much room: whole-pixel fonts round up
PIN_ROOM = 6  # px a node's pins reach out of its sides
LINK_HALF_WIDTH = 2  # px: half the thickest link (theme.zoom_theme: 3 px at zoom 1)
WATCH_FRAMES = 10  # after a fit, how often to check that no node has grown (a run's stats, an error)
LAID_OUT_NOTE = ("the graph was laid out again to fit the window readably (File > Save keeps this layout; "
                 "View > Auto layout does this on demand)")
TOO_BIG_NOTE = ("the graph does not fit the canvas even at the smallest zoom: Tab hides the panels, the arrow keys "
                "pan, and a larger window shows more")

Box = tuple[float, float, float, float]


class Navigator:
    def __init__(self, canvas: Canvas, fonts: dict[float, int] | None = None):
        self.canvas = canvas
        self.fonts = fonts or {}  # zoom -> font
        canvas.ui_font = self.fonts.get(1.0)
        self.minimap = True
        self._measures_left = 0  # a fit waits for the nodes to be drawn, and measures again after a zoom
        self._wait_frames = 0
        self._relayouts_left = 0  # how often this fit may still lay the graph out again
        self._may_reshape = False  # a graph just opened or laid out by the editor may get a layout that reads larger
        self._drawn_sizes: dict[str, tuple[float, float]] = {}  # graph units: the largest seen in this fit
        self._last_boxes: dict[str, Box] | None = None
        self._fitted_sizes: dict[str, tuple[float, float]] = {}  # px, as drawn when the last fit ended
        self._fitted_view: tuple[float, ...] = ()  # origin, zoom and pan when it ended
        self._laid_out: dict | None = None  # the positions the last auto layout gave
        self._watch_in = WATCH_FRAMES
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
        canvas.overview = zoom == ZOOMS[0]
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

    def request_fit(self, allow_relayout: bool = False, laid_out: bool = False) -> None:
        """Fit once the nodes are drawn (their sizes are known only then). `allow_relayout` (a graph
        just opened): one too big to read, or whose nodes overlap as drawn, is laid out again;
        `laid_out` (an auto layout): overlaps at the zoom the fit picks are laid out again."""
        ours = self._laid_out is not None and self._laid_out == self._positions()
        self._measures_left = FIT_MEASURE_CAP
        self._wait_frames = 2
        self._relayouts_left = RELAYOUTS if allow_relayout or laid_out or ours else 0
        self._may_reshape = allow_relayout or ours  # not a layout the user made or moved
        self._drawn_sizes = {}
        self._last_boxes = None

    @property
    def fitting(self) -> bool:
        return self._measures_left > 0

    def tick(self) -> None:
        if not self._measures_left:
            self._watch()
            return
        if self._wait_frames > 0 or (not self._drawn() and self._wait_frames > -DRAW_WAIT_FRAMES):
            self._wait_frames -= 1
            return
        self._measures_left -= 1
        boxes = self.graph_boxes()
        if boxes != self._last_boxes and self._measures_left > 0:
            self._last_boxes = boxes  # still changing (a redraw, status text): measure once more
            self._wait_frames = 1
            return
        for node_id, (x0, y0, x1, y1) in boxes.items():
            w, h = self._drawn_sizes.get(node_id, (0.0, 0.0))
            self._drawn_sizes[node_id] = (max(w, x1 - x0), max(h, y1 - y0))
        changed = self.fit(boxes)
        if changed and self._measures_left > 0:
            self._wait_frames = 2  # a new zoom or layout: measure the redrawn nodes and centre again
            self._last_boxes = None
        else:
            if changed:
                log.warning("the canvas's fit did not settle in %d measurements of the nodes; its last zoom or "
                            "layout is shown unmeasured", FIT_MEASURE_CAP)
            self._measures_left = 0
            self._fitted_sizes = self._drawn_px()
            self._fitted_view = ()  # read two frames on: the nodes just placed are drawn there next frame
            self._watch_in = 2

    def _view_now(self) -> tuple[float, ...]:
        return (*self.canvas.origin, self.canvas.zoom, *self.canvas.grid_offset())

    def _drawn_px(self) -> dict[str, tuple[float, float]]:
        return {n: tuple(dpg.get_item_rect_size(view.item)) for n, view in self.canvas.nodes.items()}

    def watch_now(self) -> None:
        """Check for grown nodes at the next frame, not within WATCH_FRAMES."""
        self._watch_in = 1

    def _watch(self) -> None:
        """Nodes that grew after the fit (a run's stats widen them, an error lengthens them) and now
        overlap or leave the canvas are fitted again; laid out again too where the layout is the
        editor's own (not the preset's, nor moved by the user). Not once the user has panned or
        zoomed: the view is theirs then."""
        self._watch_in -= 1
        if self._watch_in > 0 or not self._fitted_sizes:
            return
        self._watch_in = WATCH_FRAMES
        if not self._fitted_view:
            self._fitted_view = self._view_now()
            return
        sizes = self._drawn_px()
        moved = any(abs(a - b) > 1 for a, b in zip(self._view_now(), self._fitted_view, strict=True))
        if moved or sizes.keys() != self._fitted_sizes.keys():
            self._fitted_sizes = {}  # panned, zoomed, nodes added or deleted: leave the view alone
            return
        if all(abs(a - b) <= 1 for n, size in sizes.items() for a, b in zip(size, self._fitted_sizes[n], strict=True)):
            return
        self._fitted_sizes = sizes
        left, top, width, height = self.canvas.screen_rect()
        pin = PIN_ROOM
        if overlapping(self.graph_boxes().values()) or not all(
                left + pin <= x and top <= y and x + w + pin <= left + width and y + h <= top + height
                for x, y, w, h in self.canvas.node_rects().values()):
            self.request_fit()

    def _drawn(self) -> bool:
        return all(dpg.get_item_rect_size(view.item)[0] > 0 for view in self.canvas.nodes.values())

    def _positions(self) -> dict:
        return {n: spec.pos for n, spec in self.canvas.state.graph.nodes.items()}

    def _canvas_layout(self) -> tuple[dict, dict[str, Box]]:
        """The graph laid out again, shaped like the canvas, with the nodes' sizes as drawn (the largest
        seen in this fit): the positions, and the boxes the nodes will take there."""
        graph = self.canvas.state.graph.copy()
        sizes = dict(self._drawn_sizes)
        for node_id, (x0, y0, x1, y1) in self.graph_boxes().items():
            w, h = sizes.get(node_id, (0.0, 0.0))
            sizes[node_id] = (max(w, x1 - x0), max(h, y1 - y0))
        # measured at the smallest zoom, the sizes are those it draws, and a graph laid out there needs every px
        slack = 1.0 if self.canvas.zoom == ZOOMS[0] else SIZE_SLACK
        sizes = {n: (slack * w, slack * h) for n, (w, h) in sizes.items() if w > 0}
        _, _, width, height = self.canvas.screen_rect()
        auto_layout(graph, only_missing=False, sizes=sizes, view=(width - 2 * FIT_MARGIN, height - 2 * FIT_MARGIN),
                    corner=MINIMAP_SHARE if self.minimap else 0.0)
        positions = {n: spec.pos for n, spec in graph.nodes.items()}
        return positions, {n: (x, y, x + sizes[n][0], y + sizes[n][1]) for n, (x, y) in positions.items() if n in sizes}

    def relayout(self, fit: bool = True, edit: bool = True, positions: dict | None = None) -> None:
        """Lay the graph out again (at `positions`, else `_canvas_layout`'s); `edit`: as an edit (undoable),
        else as how a graph just opened is shown (see `EditorState.show_positions`); `fit`: then fit it in view."""
        state = self.canvas.state
        positions = positions or self._canvas_layout()[0]
        self._laid_out = positions
        if edit:
            state.move_nodes(positions)
        else:
            state.show_positions(positions)
        if fit:
            self.request_fit(laid_out=True)

    def fit(self, boxes: dict[str, Box] | None = None) -> bool:
        """Choose the largest zoom level at which every node, and the links' curves, are inside the canvas (and
        clear of the minimap), and centre the graph; returns whether the nodes must be measured again (a new
        zoom, or a new layout)."""
        canvas = self.canvas
        nodes = boxes if boxes is not None else self.graph_boxes()
        if not nodes:
            return False
        drawing = self._drawing(nodes)
        left, top, width, height = canvas.screen_rect()
        low_x, low_y = min(b[0] for b in drawing.boxes), min(b[1] for b in drawing.boxes)
        span_y = max(1.0, max(b[3] for b in drawing.boxes) - low_y)
        margin = FIT_MARGIN
        fits = self._zooms_that_fit(drawing, width, height, margin)
        if not fits or max(fits) < READABLE_ZOOM:  # a zoom larger with tighter margins is worth the margins
            tight = self._zooms_that_fit(drawing, width, height, TIGHT_MARGIN)
            if max(tight, default=0.0) > max(fits, default=0.0):
                margin, fits = TIGHT_MARGIN, tight
        zoom = max(fits) if fits else ZOOMS[0]
        overlap = overlapping(drawing.boxes)
        if self._relayouts_left > 0 and (overlap or (self._may_reshape and zoom < READABLE_ZOOM)):
            positions, new_boxes = self._canvas_layout()
            if positions != self._positions() and (overlap or self._shows_larger(
                    self._drawing(new_boxes), drawing, width, height)):
                self._relayouts_left -= 1
                self.relayout(fit=False, edit=False, positions=positions)  # this fit goes on
                self._say_once(LAID_OUT_NOTE)
                return True
        least, most = drawing.left_margins(zoom, width, margin)
        margin_x = max(least, min(most, (width - drawing.span_x * zoom) / 2))
        margin_y = max(margin, (height - span_y * zoom) / 2)
        if self.minimap and fits:
            margin_x = self._clear_of_minimap(drawing.boxes, zoom, width, height, margin_x, margin_y, least)
        offset = canvas.grid_offset()
        canvas.origin = (low_x - (left + margin_x - offset[0]) / zoom, low_y - (top + margin_y - offset[1]) / zoom)
        if zoom != canvas.zoom:
            self.set_zoom_keeping_origin(zoom)
            return True
        canvas.place_all()
        if not fits:
            self._say_once(TOO_BIG_NOTE)  # shown from its top left corner
        return False

    def set_zoom_keeping_origin(self, zoom: float) -> None:
        origin = self.canvas.origin
        self.set_zoom(zoom)
        self.canvas.origin = origin
        self.canvas.place_all()

    def graph_boxes(self) -> dict[str, Box]:
        """Each node as (x0, y0, x1, y1) in graph units, its size as drawn at the current zoom."""
        canvas = self.canvas
        boxes = {}
        for node_id, view in canvas.nodes.items():
            pos = canvas.state.graph.nodes[node_id].pos or (0.0, 0.0)
            w, h = dpg.get_item_rect_size(view.item)
            boxes[node_id] = (pos[0], pos[1], pos[0] + w / canvas.zoom, pos[1] + h / canvas.zoom)
        return boxes

    def _drawing(self, boxes: dict[str, Box]) -> Drawing:
        """The nodes at `boxes`, and the boxes each of the graph's links runs between."""
        links = [link for link in self.canvas.state.graph.links if link.src in boxes and link.dst in boxes]
        return Drawing(list(boxes.values()), [(boxes[link.src], boxes[link.dst]) for link in links])

    def _zooms_that_fit(self, drawing: Drawing, width: float, height: float, margin: float = FIT_MARGIN) -> list[float]:
        return [z for z in ZOOMS if z <= FIT_MAX_ZOOM and self._fits(drawing, z, width, height, margin)]

    def _shows_larger(self, new: Drawing, now: Drawing, width: float, height: float) -> bool:
        """Whether the `new` layout fits at a larger zoom than the one `now`, or where neither fits at any, would
        come nearer to it."""
        new_fits, now_fits = self._zooms_that_fit(new, width, height), self._zooms_that_fit(now, width, height)
        if new_fits or now_fits:
            return max(new_fits, default=0.0) > max(now_fits, default=0.0)
        return new.fill_scale(width, height) > now.fill_scale(width, height)

    def _say_once(self, note: str) -> None:
        state = self.canvas.state
        if not state.log or state.log[-1].text != note:
            state.say(note)

    def _fits(self, drawing: Drawing, zoom: float, width: float, height: float, margin: float) -> bool:
        boxes = drawing.boxes
        least, most = drawing.left_margins(zoom, width, margin)
        span_y = max(b[3] for b in boxes) - min(b[1] for b in boxes)
        if least > most or span_y * zoom > height - 2 * margin:
            return False
        if not self.minimap:
            return True
        margin_x = max(least, min(most, (width - drawing.span_x * zoom) / 2))
        margin_y = max(margin, (height - span_y * zoom) / 2)
        return self._clear_of_minimap(boxes, zoom, width, height, margin_x, margin_y, least) is not None

    def _clear_of_minimap(self, boxes, zoom, width, height, margin_x, margin_y, least: float) -> float | None:
        """The left margin (the centred one, or less, down to `least`) at which no node reaches into the
        minimap's corner; None when there is none."""
        low_x, low_y = min(b[0] for b in boxes), min(b[1] for b in boxes)
        corner_x, corner_y = width * (1 - MINIMAP_SHARE) - 4, height * (1 - MINIMAP_SHARE) - 4
        for margin in (margin_x, (margin_x + least) / 2, least):
            if all(margin + (b[2] - low_x) * zoom <= corner_x or margin_y + (b[3] - low_y) * zoom <= corner_y
                   for b in boxes):
                return margin
        return None


def link_span(source: Box, target: Box, zoom: float = 1.0, steps: int = 16) -> tuple[float, float]:
    """How far left and right (grid px at `zoom`) a link from `source`'s output pin to `target`'s input pin goes:
    imnodes draws it as a cubic Bezier whose handles reach a quarter of its length out of each pin, so one that
    runs back to a node on its left (into the next band of a folded layout) loops out past both nodes. The pins
    sit on the outlines, NODE_EDGE px out of the boxes."""
    x0, x3 = source[2] * zoom + NODE_EDGE, target[0] * zoom - NODE_EDGE
    y0, y3 = (source[1] + source[3]) / 2 * zoom, (target[1] + target[3]) / 2 * zoom
    handle = 0.25 * math.hypot(x3 - x0, y3 - y0)
    xs = [(1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * (x0 + handle) + 3 * (1 - t) * t ** 2 * (x3 - handle) + t ** 3 * x3
          for t in (i / steps for i in range(steps + 1))]
    return min(xs), max(xs)


@dataclass
class Drawing:
    """The nodes' boxes (graph units), and the boxes each link runs between."""

    boxes: list[Box]
    links: list[tuple[Box, Box]]

    @property
    def span_x(self) -> float:
        return max(1.0, max(b[2] for b in self.boxes) - min(b[0] for b in self.boxes))

    def curls(self, zoom: float) -> tuple[float, float]:
        """How far (px) the links drawn at `zoom`, their width included, reach out past the leftmost and the
        rightmost node's box; less than 0 where they stay inside (-inf: no links)."""
        spans = [link_span(source, target, zoom) for source, target in self.links]
        low, high = min(b[0] for b in self.boxes) * zoom, max(b[2] for b in self.boxes) * zoom
        return (max([-math.inf, *(low - left + LINK_HALF_WIDTH for left, _ in spans)]),
                max([-math.inf, *(right + LINK_HALF_WIDTH - high for _, right in spans)]))

    def left_margins(self, zoom: float, width: float, margin: float) -> tuple[float, float]:
        """The least and the most room (px) left of the leftmost node at which the nodes keep `margin` from the
        canvas's sides, and the links' curves as much as the nodes' outlines (NODE_EDGE px out of them) do; the least
        is more than the most where there is none."""
        curl_left, curl_right = (curl + margin - NODE_EDGE for curl in self.curls(zoom))
        return max(margin, curl_left), width - self.span_x * zoom - max(margin, curl_right)

    def fill_scale(self, width: float, height: float) -> float:
        """The scale at which the drawing fills the canvas, less its margins, in one direction."""
        span_y = max(b[3] for b in self.boxes) - min(b[1] for b in self.boxes)
        curls = sum(max(0.0, curl) for curl in self.curls(1.0))  # px at zoom 1: graph units
        return min((width - 2 * FIT_MARGIN) / (self.span_x + curls), (height - 2 * FIT_MARGIN) / max(1.0, span_y))


def overlapping(boxes) -> bool:
    boxes = list(boxes)
    return any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
               for i, a in enumerate(boxes) for b in boxes[i + 1:])
