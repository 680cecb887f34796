"""One node as the canvas draws it: its ports coloured by type, its live thumbnail (or why it is empty), its run
stats and its problems (whole in a tooltip), and its title coloured by plan stage and error."""

from __future__ import annotations

from dataclasses import dataclass, field

import dearpygui.dearpygui as dpg
import numpy as np

from ..node import Node
from . import theme
from .node_text import problem_lines
from .state import EditorState
from .word_wrap import WrappedTexts

EMPTY_NOTE = "nothing to show: this node ran, but drew no picture of its latest frame"
CHAR_WIDTH = 7.5  # average width of a character in the UI font, for right-aligning output names


@dataclass
class NodeView:
    node_id: str
    type: str
    item: int
    texture: int
    buffer: np.ndarray
    image: int
    stats: int
    error: int
    error_tip: int
    body: int  # the static attribute holding thumbnail, stats and error: hidden when collapsed
    note: int  # under the thumbnail: why it is empty
    ports: dict[tuple[str, str], int] = field(default_factory=dict)  # ("in"/"out", port) -> attribute
    look: tuple = ()
    stats_text: str = ""
    error_text: str = ""
    note_text: str = ""

    def show_note(self, note: str) -> None:
        if note != self.note_text:
            self.note_text = note
            dpg.set_value(self.note, note)
            dpg.configure_item(self.note, show=bool(note))
            dpg.configure_item(self.image, show=not note)  # the note instead of an empty frame

    def show_stats(self, stats: str) -> None:
        if stats != self.stats_text:
            self.stats_text = stats
            dpg.set_value(self.stats, stats)

    def show_errors(self, errors: list[str], tips: WrappedTexts, width_px: float, font_px: int,
                    most_lines: int | None) -> None:
        """The problems whole in the tooltip, and under the thumbnail in lines that fit the node (`problem_lines`)."""
        error = "; ".join(errors)
        if error != self.error_text:
            self.error_text = error
            dpg.set_value(self.error, problem_lines(errors, width_px, font_px, most_lines))
            tips.set(self.error_tip, error)
            dpg.configure_item(self.error, show=bool(error))

    def restyle(self, title: tuple, has_error: bool, themes: theme.ThemeCache) -> None:
        look = (title, theme.ERROR if has_error else None)
        if look != self.look:
            self.look = look
            dpg.bind_item_theme(self.item, themes.get("node", *look))


def port_types(cls: type[Node] | None, state: EditorState, node_id: str) -> tuple[dict, dict]:
    """A node's (inputs, outputs) as port -> PortType; for an unknown node type, the ports its links use,
    typed None."""
    if cls is not None:
        return dict(cls.inputs), dict(cls.outputs)
    inputs = {link.dst_port: None for link in state.graph.links_into(node_id)}
    outputs = {link.src_port: None for link in state.graph.links_from(node_id)}
    return inputs, outputs


def draw_node(node_id: str, node_type: str, cls: type[Node] | None, ports: tuple[dict, dict], texture: int,
              buffer: np.ndarray, *, editor: int, pos: list[float], thumb: tuple[int, int], zoom: float,
              compact: bool, collapsed: bool, themes: theme.ThemeCache, tips: WrappedTexts, font, ui_font) -> NodeView:
    """A node in `editor` at grid `pos` showing `texture` at `thumb` size; `compact` (small zooms): without its
    type in the title and its ports' types. `font` is the node's (for the zoom), `ui_font` its problems' tooltip's
    (None: the default)."""
    inputs, outputs = ports
    label = node_id if node_id.lower() == node_type.lower() or compact else f"{node_id}  ({node_type})"
    attributes = {}
    with dpg.node(label=label, parent=editor, pos=pos) as item:
        for port, port_type in inputs.items():
            colour, type_name = theme.port_colour(port_type), str(port_type or "?")
            with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Input,
                                    shape=dpg.mvNode_PinShape_CircleFilled) as attribute:
                with dpg.group(horizontal=True, horizontal_spacing=6):
                    dpg.add_text(port, color=colour)
                    optional = cls is not None and port in cls.optional_inputs
                    if not compact:
                        dpg.add_text(type_name + (" (optional)" if optional else ""), color=theme.DIM)
            dpg.bind_item_theme(attribute, themes.get("pin", colour))
            attributes[("in", port)] = attribute
        for port, port_type in outputs.items():
            colour, type_name = theme.port_colour(port_type), str(port_type or "?")
            with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Output,
                                    shape=dpg.mvNode_PinShape_CircleFilled) as attribute:
                shown = port if compact else f"{type_name}  {port}"
                width = len(shown) * CHAR_WIDTH * zoom
                with dpg.group(horizontal=True, horizontal_spacing=6, indent=max(0, int(thumb[0] - width))):
                    if not compact:
                        dpg.add_text(type_name, color=theme.DIM)
                    dpg.add_text(port, color=colour)
            dpg.bind_item_theme(attribute, themes.get("pin", colour))
            attributes[("out", port)] = attribute
        with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Static, show=not collapsed) as body:
            image = dpg.add_image(texture, width=thumb[0], height=thumb[1], border_color=(60, 64, 74, 255))
            note = dpg.add_text("", color=theme.DIM, wrap=thumb[0] - 8, show=False)
            stats = dpg.add_text("", color=theme.DIM)
            error = dpg.add_text("", color=theme.ERROR, show=False)  # lines broken by show_errors
            with dpg.tooltip(error) as tooltip:
                error_tip = tips.add("")
            if ui_font is not None:  # readable at any zoom, where the node's text may be tiny
                dpg.bind_item_font(tooltip, ui_font)
    if font is not None:  # a font bound to the node editor does not reach its nodes
        dpg.bind_item_font(item, font)
    return NodeView(node_id, node_type, item, texture, buffer, image, stats, error, error_tip, body, note,
                    attributes)
