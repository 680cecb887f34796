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
from .word_wrap import WrappedTexts, row_width

EMPTY_NOTE = "nothing to show: this node ran, but drew no picture of its latest frame"
PORT_SPACING = 6  # px between a port's name and its type


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
    font: int | None = None
    thumb_width: int = 0
    texts: list[tuple[str, ...]] = field(default_factory=list)  # the title and the inputs' rows: (text, ...) each
    outputs: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)  # (group, its texts) per output row
    look: tuple = ()
    stats_text: str = ""
    error_text: str = ""
    error_lines: str = ""
    note_text: str = ""
    aligned: bool = False

    def align_outputs(self) -> None:
        """Put the outputs' names against the node's right edge: the node is as wide as its widest row of text or
        its thumbnail, measured in its font (Dear PyGui measures none before the first frame: `aligned` stays
        False until it can). A guess at the text's width left the names short of the edge in a node widened by
        its problem text, and widened a node at small zooms, where the font shrinks less than the node."""
        body = dpg.get_item_configuration(self.body)["show"]  # a collapsed node shows only its title and ports
        rows = [*self.texts, *([(self.stats_text,), *((line,) for line in self.error_lines.splitlines())] * body)]
        widths = [row_width(row, PORT_SPACING, self.font or 0) for row in rows + [texts for _, texts in self.outputs]]
        if None in widths:
            return
        width = max([self.thumb_width * body, *widths])
        for (group, _), own in zip(self.outputs, widths[len(rows):], strict=True):
            dpg.configure_item(group, indent=int(width - own))
        self.aligned = True

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
            self.align_outputs()

    def show_errors(self, errors: list[str], tips: WrappedTexts, width_px: float, font_px: int,
                    most_lines: int | None) -> None:
        """The problems whole in the tooltip, and under the thumbnail in lines that fit the node (`problem_lines`)."""
        error = "; ".join(errors)
        if error != self.error_text:
            self.error_text = error
            self.error_lines = problem_lines(errors, width_px, font_px, most_lines)
            dpg.set_value(self.error, self.error_lines)
            tips.set(self.error_tip, error)
            dpg.configure_item(self.error, show=bool(error))
            self.align_outputs()

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
              buffer: np.ndarray, *, editor: int, pos: list[float], thumb: tuple[int, int],
              compact: bool, collapsed: bool, themes: theme.ThemeCache, tips: WrappedTexts, font, ui_font) -> NodeView:
    """A node in `editor` at grid `pos` showing `texture` at `thumb` size; `compact` (small zooms): without its
    type in the title and its ports' types. `font` is the node's (for the zoom), `ui_font` its problems' tooltip's
    (None: the default)."""
    inputs, outputs = ports
    label = node_id if node_id.lower() == node_type.lower() or compact else f"{node_id}  ({node_type})"
    attributes = {}
    texts: list[tuple[str, ...]] = [(label,)]
    output_rows = []
    with dpg.node(label=label, parent=editor, pos=pos) as item:
        for port, port_type in inputs.items():
            colour, type_name = theme.port_colour(port_type), str(port_type or "?")
            with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Input,
                                    shape=dpg.mvNode_PinShape_CircleFilled) as attribute:
                optional = cls is not None and port in cls.optional_inputs
                row = (port,) if compact else (port, type_name + (" (optional)" if optional else ""))
                with dpg.group(horizontal=True, horizontal_spacing=PORT_SPACING):
                    dpg.add_text(row[0], color=colour)
                    if not compact:
                        dpg.add_text(row[1], color=theme.DIM)
                texts.append(row)
            dpg.bind_item_theme(attribute, themes.get("pin", colour))
            attributes[("in", port)] = attribute
        for port, port_type in outputs.items():
            colour, type_name = theme.port_colour(port_type), str(port_type or "?")
            with dpg.node_attribute(attribute_type=dpg.mvNode_Attr_Output,
                                    shape=dpg.mvNode_PinShape_CircleFilled) as attribute:
                with dpg.group(horizontal=True, horizontal_spacing=PORT_SPACING) as group:
                    if not compact:
                        dpg.add_text(type_name, color=theme.DIM)
                    dpg.add_text(port, color=colour)
            output_rows.append((group, (port,) if compact else (type_name, port)))
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
    view = NodeView(node_id, node_type, item, texture, buffer, image, stats, error, error_tip, body, note,
                    attributes, font, thumb[0], texts, output_rows)
    view.align_outputs()
    return view
