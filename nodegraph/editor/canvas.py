"""The canvas: a Dear PyGui node editor kept in step with the editor state. It adds and removes nodes (each drawn
by node_view) and links, shows the run's status on them, reads back the user's links, drags and drops (links are
checked by the state), and says where nodes are on screen and where a new one fits."""

from __future__ import annotations

from collections.abc import Callable

import dearpygui.dearpygui as dpg
import numpy as np

from ..graph import Link
from . import theme
from .fonts import font_px
from .node_text import OVERVIEW_LINES, stats_line
from .node_view import EMPTY_NOTE, NodeView, draw_node, port_types
from .session import RunStatus
from .state import EditorState
from .thumbnails import THUMB_SIZE, blank_rgba
from .word_wrap import WrappedTexts

PAYLOAD = "nodegraph-node-type"
NODE_ROOM = 1.2  # a new node keeps this much more than the drawn size of the others from them


class Canvas:
    def __init__(self, state: EditorState, parent, textures, themes: theme.ThemeCache, *,
                 on_refused: Callable[[str], None], inspector_width: int):
        self.state = state
        self.textures = textures
        self.themes = themes
        self.on_refused = on_refused
        self.nodes: dict[str, NodeView] = {}
        self.links: dict[Link, int] = {}
        self.attributes: dict[int, tuple[str, str, str]] = {}  # attribute -> (node, "in"/"out", port)
        self.origin = (0.0, 0.0)  # graph position of the grid's (0, 0): keeps negative positions in view
        self.stage_of: dict[str, int] = {}
        self.last_pictures: dict[tuple[str, str], np.ndarray] = {}  # a deleted node's thumbnail, for undo
        self.plan_colours = True
        self.zoom = 1.0  # grid pixels per graph unit; thumbnails, text and spacing scale with it
        self.compact = False  # port types left out (small zoom levels)
        self.overview = False  # the smallest zoom: problems cut short too
        self.collapsed: set[str] = set()  # nodes drawn without their body
        self.font = None  # the font for this zoom (a font bound to the node editor does not reach its nodes)
        self.ui_font = None  # the panels' font, for the problems' tooltips
        self._status_shown: tuple | None = None  # show_status's last arguments, for nodes drawn again
        self.tips = WrappedTexts(width=480)  # the problems' whole text, over a node's shortened one
        with dpg.child_window(parent=parent, width=-inspector_width, height=-1, border=False, no_scrollbar=True,
                              drop_callback=self._on_drop, payload_type=PAYLOAD) as self.window:
            self.editor = dpg.add_node_editor(callback=self._on_link, delink_callback=self._on_delink,
                                              minimap=True, minimap_location=dpg.mvNodeMiniMap_Location_BottomRight,
                                              width=-1, height=-1)

    # -- drawing the state ------------------------------------------------------------

    def sync(self) -> None:
        """Make the drawn nodes and links match the state's graph."""
        graph = self.state.graph
        wanted_links = set(graph.links)
        for link in [link for link in self.links if link not in wanted_links]:
            dpg.delete_item(self.links.pop(link))
        for node_id in [n for n, view in self.nodes.items()
                        if n not in graph.nodes or graph.nodes[n].type != view.type]:
            self._remove_node(node_id)
        for node_id, spec in graph.nodes.items():
            if node_id not in self.nodes:
                self._add_node(node_id)
            elif spec.pos is not None:
                grid = self._to_grid(spec.pos)
                current = dpg.get_item_pos(self.nodes[node_id].item)
                if abs(current[0] - grid[0]) > 0.5 or abs(current[1] - grid[1]) > 0.5:
                    dpg.set_item_pos(self.nodes[node_id].item, grid)
        for link in graph.links:
            if link not in self.links:
                self._add_link(link)
        items = {self.nodes[n].item for n in self.state.selection if n in self.nodes}
        if items != set(dpg.get_selected_nodes(self.editor)):
            # imnodes cannot select a node from code: rather nothing highlighted than the wrong one
            dpg.clear_selected_nodes(self.editor)

    def _to_grid(self, pos) -> list[float]:
        return [(pos[0] - self.origin[0]) * self.zoom, (pos[1] - self.origin[1]) * self.zoom]

    def place_all(self) -> None:
        """Put every node where its graph position and the current origin and zoom say."""
        for node_id, view in self.nodes.items():
            pos = self.state.graph.nodes[node_id].pos if node_id in self.state.graph.nodes else None
            dpg.set_item_pos(view.item, self._to_grid(pos or (0.0, 0.0)))

    def rebuild(self) -> None:
        """Draw every node again (after a zoom change: thumbnail size, text and indents differ)."""
        for node_id in list(self.nodes):
            self._remove_node(node_id)
        self.sync()
        if self._status_shown is not None:
            # at once, not at the next status read: the nodes are measured in the next frames (to
            # fit and lay them out), and their problem text makes them taller
            self.show_status(*self._status_shown)

    def thumb_size(self) -> tuple[int, int]:
        return round(THUMB_SIZE[0] * self.zoom), round(THUMB_SIZE[1] * self.zoom)

    def align_outputs(self) -> None:
        """Right-align the outputs of the nodes drawn before their font could be measured (before the first frame)."""
        for view in self.nodes.values():
            if not view.aligned:
                view.align_outputs()

    def set_collapsed(self, node_ids, collapsed: bool) -> None:
        for node_id in node_ids:
            (self.collapsed.add if collapsed else self.collapsed.discard)(node_id)
            if node_id in self.nodes:
                dpg.configure_item(self.nodes[node_id].body, show=not collapsed)
                self.nodes[node_id].align_outputs()

    def _add_node(self, node_id: str) -> None:
        spec = self.state.graph.nodes[node_id]
        cls = self.state.registry.get(spec.type)
        kept = self.last_pictures.pop((node_id, spec.type), None)
        buffer = kept if kept is not None else blank_rgba(THUMB_SIZE)
        texture = dpg.add_raw_texture(THUMB_SIZE[0], THUMB_SIZE[1], buffer, format=dpg.mvFormat_Float_rgba,
                                      parent=self.textures)
        view = draw_node(node_id, spec.type, cls, port_types(cls, self.state, node_id), texture, buffer,
                         editor=self.editor, pos=self._to_grid(spec.pos or (0.0, 0.0)), thumb=self.thumb_size(),
                         compact=self.compact, collapsed=node_id in self.collapsed,
                         themes=self.themes, tips=self.tips, font=self.font, ui_font=self.ui_font)
        self.nodes[node_id] = view
        for (kind, port), attribute in view.ports.items():
            self.attributes[attribute] = (node_id, kind, port)
        self._restyle(view, has_error=cls is None)

    def _remove_node(self, node_id: str) -> None:
        view = self.nodes.pop(node_id)
        self.last_pictures[(node_id, view.type)] = view.buffer.copy()
        for attribute in view.ports.values():
            self.attributes.pop(attribute, None)
        for link in [link for link in self.links if node_id in (link.src, link.dst)]:
            # links first: Dear PyGui 2.3.1 crashes deleting a node whose links are still drawn
            dpg.delete_item(self.links.pop(link))
        dpg.delete_item(view.item)
        dpg.delete_item(view.texture)

    def _add_link(self, link: Link) -> None:
        src, dst = self.nodes.get(link.src), self.nodes.get(link.dst)
        if src is None or dst is None:
            return
        start, end = src.ports.get(("out", link.src_port)), dst.ports.get(("in", link.dst_port))
        if start is None or end is None:
            return  # a preset link to a port the node type lacks: the inspector lists the problem
        item = dpg.add_node_link(start, end, parent=self.editor)
        cls = self.state.registry.get(src.type)
        port_type = cls.outputs[link.src_port] if cls is not None else None
        dpg.bind_item_theme(item, self.themes.get("link", theme.port_colour(port_type)))
        self.links[link] = item

    # -- status -----------------------------------------------------------------------

    def set_stages(self, stages: list[tuple[str, list[str]]]) -> None:
        self.stage_of = {node_id: i for i, (_, node_ids) in enumerate(stages) for node_id in node_ids}
        for view in self.nodes.values():
            self._restyle(view, bool(view.error_text))

    def _restyle(self, view: NodeView, has_error: bool) -> None:
        stage = self.stage_of.get(view.node_id)
        title = theme.stage_colour(stage) if self.plan_colours and stage is not None else theme.NEUTRAL_TITLE
        view.restyle(title, has_error, self.themes)

    def show_status(self, status: RunStatus, problems: dict[str | None, list[str]], pictured=frozenset()) -> None:
        """Stats and errors on every node: the run's when there is one, else validation problems.
        A node that ran but made no picture (`pictured`: those that did) says so over its thumbnail."""
        self._status_shown = (status, problems, pictured)
        self.tips.follow()
        for node_id, view in self.nodes.items():
            node = status.nodes.get(node_id)
            note = EMPTY_NOTE if node is not None and node.frames and node_id not in pictured else ""
            view.show_note(note)
            if node is not None and (node.frames or node.errors):
                stats = stats_line(node, self.compact)
            elif status.active:
                running = self.state.session.graph.nodes if self.state.session is not None else {}
                stats = ("waiting" if self.compact else "waiting for frames") if node_id in running else \
                    ("not in this run" if self.compact else "not in this run (restart it)")
            else:
                stats = ""
            errors = [node.last_error] if node is not None and node.errors else [] if status.active else \
                problems.get(node_id, [])
            view.show_stats(stats)
            view.show_errors(errors, self.tips, self.thumb_size()[0], font_px(self.zoom),
                             OVERVIEW_LINES if self.overview else None)
            self._restyle(view, bool(view.error_text) or self.state.registry.get(view.type) is None)

    # -- reading the user's actions -----------------------------------------------------

    def selected(self) -> tuple[list[str], list[Link]]:
        items = set(dpg.get_selected_nodes(self.editor))
        link_items = set(dpg.get_selected_links(self.editor))
        return ([n for n, view in self.nodes.items() if view.item in items],
                [link for link, item in self.links.items() if item in link_items])

    def positions(self) -> dict[str, tuple[float, float]]:
        """The graph positions of the drawn nodes (after the user dragged them)."""
        out = {}
        for node_id, view in self.nodes.items():
            x, y = dpg.get_item_pos(view.item)
            pos = self.state.graph.nodes[node_id].pos if node_id in self.state.graph.nodes else None
            if pos is not None:
                gx, gy = self._to_grid(pos)
                if abs(x - gx) <= 1.0 and abs(y - gy) <= 1.0:
                    out[node_id] = pos  # not moved: the grid's whole pixels must not creep into the graph
                    continue
            out[node_id] = (round(x / self.zoom + self.origin[0], 1), round(y / self.zoom + self.origin[1], 1))
        return out

    def hovered_node(self) -> str | None:
        return next((node_id for node_id, view in self.nodes.items() if dpg.is_item_hovered(view.item)), None)

    def node_at(self, x: float, y: float) -> str | None:
        """The node drawn at screen (x, y), hovered or not (a popup window over the canvas takes the hover)."""
        return next((node_id for node_id, (left, top, w, h) in self.node_rects().items()
                     if left <= x < left + w and top <= y < top + h), None)

    def grid_offset(self) -> tuple[float, float]:
        """Screen position of the grid's (0, 0), from any drawn node (Dear PyGui has no API for it)."""
        for view in self.nodes.values():
            rect = dpg.get_item_rect_min(view.item)
            if rect != [0, 0]:
                pos = dpg.get_item_pos(view.item)
                return rect[0] - pos[0], rect[1] - pos[1]
        return self.screen_min()

    def screen_min(self) -> tuple[float, float]:
        """The canvas's top-left corner in viewport pixels (child windows only know their position
        in their parent window)."""
        x = y = 0.0
        item = self.window
        while item:
            kind = dpg.get_item_type(item)
            if kind.endswith(("mvChildWindow", "mvWindowAppItem")):
                px, py = dpg.get_item_state(item).get("pos", (0, 0))
                x, y = x + px, y + py
            if kind.endswith("mvWindowAppItem"):
                break
            item = dpg.get_item_parent(item)
        return x, y

    def screen_rect(self) -> tuple[float, float, float, float]:
        return (*self.screen_min(), *dpg.get_item_rect_size(self.window))

    def under_mouse(self) -> bool:
        x, y = dpg.get_mouse_pos(local=False)
        left, top, width, height = self.screen_rect()
        return left <= x < left + width and top <= y < top + height

    def screen_to_graph(self, x: float, y: float) -> tuple[float, float]:
        ox, oy = self.grid_offset()
        return round((x - ox) / self.zoom + self.origin[0]), round((y - oy) / self.zoom + self.origin[1])

    def free_spot(self) -> tuple[float, float] | None:
        """Where in view a node added by a click, as big as the biggest drawn, overlaps no other; None: no room."""
        left, top, width, height = self.screen_rect()
        x0, y0 = self.screen_to_graph(left, top)
        taken = self._boxes()
        size = (max([r - lx for lx, _, r, _ in taken] + [200.0]), max([b - ty for _, ty, _, b in taken] + [270.0]))
        step = 40
        for row in range(max(1, int((height / self.zoom - size[1]) // step))):
            for column in range(max(1, int((width / self.zoom - size[0]) // step))):
                x, y = x0 + 30 + column * step, y0 + 30 + row * step
                if not any(x < r and x + size[0] > lx and y < b and y + size[1] > ty for lx, ty, r, b in taken):
                    return x, y
        return None

    def below_all(self) -> tuple[float, float]:
        """A graph position under every node, at the left of the leftmost: free, though maybe out of view."""
        boxes = self._boxes()  # each a look at every drawn node
        return min((b[0] + 20 for b in boxes), default=0.0), max((b[3] for b in boxes), default=0.0)

    def _boxes(self) -> list[tuple[float, float, float, float]]:
        """Each node's box as drawn in graph units, with room: zoomed out, nodes grow (whole-pixel fonts)."""
        boxes = []
        for x, y, w, h in self.node_rects().values():
            gx, gy = self.screen_to_graph(x, y)
            w, h = max(w / self.zoom, 100) * NODE_ROOM, max(h / self.zoom, 100) * NODE_ROOM
            boxes.append((gx - 20, gy - 20, gx + w + 20, gy + h + 20))
        return boxes

    def _on_link(self, sender, app_data) -> None:
        start, end = self.attributes.get(app_data[0]), self.attributes.get(app_data[1])
        if start is None or end is None:
            return
        src, src_kind, src_port = start
        dst, dst_kind, dst_port = end
        if src_kind != "out" or dst_kind != "in":
            return
        refused = self.state.add_link(src, src_port, dst, dst_port)
        if refused:
            self.on_refused(refused)

    def _on_delink(self, sender, app_data) -> None:
        for link, item in self.links.items():
            if item == app_data:
                self.state.remove_links([link])
                return

    def _on_drop(self, sender, app_data) -> None:
        x, y = dpg.get_mouse_pos(local=False)
        gx, gy = self.screen_to_graph(x, y)
        self.state.add_node(app_data, (gx - 20, gy - 10))

    def thumbnail_rects(self) -> dict[str, list[float]]:
        """Each node's thumbnail on screen: [x, y, width, height] in viewport pixels."""
        return {node_id: _rect(view.image) for node_id, view in self.nodes.items()}

    def node_rects(self) -> dict[str, list[float]]:
        """Each node on screen: [x, y, width, height] in viewport pixels."""
        return {node_id: _rect(view.item) for node_id, view in self.nodes.items()}


def _rect(item) -> list[float]:
    return [*dpg.get_item_rect_min(item), *dpg.get_item_rect_size(item)]
