"""The panels around the canvas: the palette of node types, the inspector of the selected node,
and the log (the run bar above them is run_bar's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dearpygui.dearpygui as dpg

from ..params import Bool, Choice, Colour, Float, Int, Param, Text
from ..params import Path as PathParam
from . import theme
from .canvas import PAYLOAD
from .session import RunStatus
from .state import EditorState
from .word_wrap import WrappedTexts

CATEGORIES = ["Sources", "Detect", "Landmarks", "Align", "Select", "Swap", "Colour", "Mask", "Merge", "Enhance",
              "Output"]
TIP_WIDTH = 320  # px, a palette tooltip's lines at most
SLIDER_SPAN = 2000  # an int param with a wider range gets a typed field instead of a slider
UI_CHAR_PX = 8  # about, a character of the UI font: the inspector's param names get the room this guesses


class Palette:
    """Node types by category, with a search box; click a type to add it, or drag it onto the canvas."""

    def __init__(self, state: EditorState, parent, on_add: Callable[[str], None], width: int):
        self.entries: list[tuple[int, str, str]] = []  # (button, category, text searched)
        self.headers: dict[str, int] = {}
        self.tips = WrappedTexts(width=TIP_WIDTH)  # the types' descriptions name files: "x.onnx"
        by_category: dict[str, list] = {}
        for cls in state.registry:
            by_category.setdefault(cls.category, []).append(cls)
        order = [c for c in CATEGORIES if c in by_category] + sorted(set(by_category) - set(CATEGORIES))
        with dpg.child_window(parent=parent, width=width, height=-1, border=False) as self.window:
            dpg.add_text("NODES", color=theme.DIM)
            dpg.add_input_text(hint="search types", width=-1, callback=lambda s, a: self.filter(a))
            dpg.add_spacer(height=2)
            for category in order:
                with dpg.collapsing_header(label=category, default_open=True) as header:
                    self.headers[category] = header
                    for cls in by_category[category]:
                        name = cls.type_name()
                        doc = " ".join(cls.describe()["doc"].split())
                        button = dpg.add_button(label=name, width=-1, user_data=name,
                                                callback=lambda s, a, u: on_add(u))
                        with dpg.drag_payload(parent=button, drag_data=name, payload_type=PAYLOAD):
                            dpg.add_text(f"+ {name}")
                        with dpg.tooltip(button):
                            self.tips.add(doc or name)
                        self.entries.append((button, category, f"{name} {doc} {category}".lower()))

    def refresh(self) -> None:
        self.tips.follow()  # once the UI font can measure text

    def filter(self, query: str) -> None:
        query = query.strip().lower()
        shown: dict[str, int] = {}
        for button, category, text in self.entries:
            visible = all(word in text for word in query.split())
            dpg.configure_item(button, show=visible)
            shown[category] = shown.get(category, 0) + visible
        for category, header in self.headers.items():
            dpg.configure_item(header, show=shown.get(category, 0) > 0)
            if query:
                dpg.set_value(header, True)


class Inspector:
    """The selected node's params as widgets built from their specs; changes go through the state,
    which sends them to a running pipeline."""

    def __init__(self, state: EditorState, parent, on_browse: Callable[[str, str, PathParam], None]):
        self.state = state
        self.on_browse = on_browse
        self.node_id: str | None = None
        self.widgets: dict[str, tuple[int, Param]] = {}
        self.details: int | None = None
        self.problems: int | None = None
        self.shown_revision = -1
        self.shown_problems: dict | None = None  # the problems shown: they change without an edit (models fetched)
        self.resync = False  # a widget shows a value the state refused, or was being edited when the state changed
        with dpg.child_window(parent=parent, width=-1, height=-1, border=False) as self.window:
            pass
        self.wrapped = WrappedTexts(self.window)  # descriptions and problems name files: "x.onnx", "/root/.local"
        self.tips = WrappedTexts(width=360)  # the params' help

    def show(self, node_id: str | None) -> None:
        """Rebuild for another node (or none); values of the same node are refreshed in `refresh`."""
        if node_id is not None and node_id not in self.state.graph.nodes:
            node_id = None
        self.node_id = node_id
        self.widgets.clear()
        self.details = self.problems = None
        dpg.delete_item(self.window, children_only=True)
        with dpg.group(parent=self.window):
            if node_id is None:
                self._graph_summary()
            else:
                self._node_panel(node_id)
        self.shown_revision = self.state.revision
        self.shown_problems = self.state.problems()

    def _graph_summary(self) -> None:
        graph = self.state.graph
        dpg.add_text("INSPECTOR", color=theme.DIM)
        dpg.add_text(graph.name or "untitled")
        if graph.description:
            self.wrapped.add(graph.description, color=theme.DIM)
        nodes, links = len(graph.nodes), len(graph.links)
        dpg.add_text(f"{nodes} node{'s' * (nodes != 1)}, {links} link{'s' * (links != 1)}", color=theme.DIM)
        dpg.add_spacer(height=6)
        dpg.add_text("Select a node to edit its params. Drag a type from the palette onto the canvas, "
                     "or click it. Drag from an output pin to an input pin to link.", wrap=0, color=theme.DIM)
        if (failure := self.state.last_run_failure()) is not None:  # not a problem the graph shows before a run
            dpg.add_spacer(height=6)
            dpg.add_text("the last run failed:", color=theme.ERROR)
            self.wrapped.add(f"- {failure[0]}: {failure[1]}", color=theme.ERROR)
        problems = self.state.graph_problems()
        if count := sum(map(len, problems.values())):
            dpg.add_spacer(height=6)
            dpg.add_text(f"{count} problem{'s' * (count != 1)} to fix before running:", color=theme.WARNING)
            for node_id, texts in problems.items():
                for text in texts:
                    self.wrapped.add(f"- {node_id + ': ' if node_id else ''}{text}", color=theme.ERROR)

    def _node_panel(self, node_id: str) -> None:
        spec = self.state.graph.nodes[node_id]
        cls = self.state.registry.get(spec.type)
        dpg.add_text("INSPECTOR", color=theme.DIM)
        dpg.add_text(f"{node_id}")
        dpg.add_text(f"{spec.type}  [{cls.category if cls else 'unknown type'}]", color=theme.DIM)
        if cls is None:
            dpg.add_text(self.state.registry.unknown_type_message(spec.type), wrap=0, color=theme.ERROR)
            return
        doc = " ".join(cls.describe()["doc"].split())
        if doc:
            self.wrapped.add(doc, color=theme.DIM)
        dpg.add_separator()
        if not cls.params:
            dpg.add_text("no params", color=theme.DIM)
        with dpg.table(header_row=False, borders_innerV=False, policy=dpg.mvTable_SizingStretchProp):
            # the names as wide as the longest needs (of about 280 px), within reason
            names = min(0.55, max(0.3, UI_CHAR_PX * max(map(len, cls.params), default=0) / 280))
            dpg.add_table_column(init_width_or_weight=names)
            dpg.add_table_column(init_width_or_weight=1 - names)
            for name, param in cls.params.items():
                with dpg.table_row():
                    label = dpg.add_text(name)
                    if param.help:
                        with dpg.tooltip(label):
                            self.tips.add(param.help)
                    self.widgets[name] = (self._widget(node_id, name, param), param)
        dpg.add_separator()
        self.details = dpg.add_text("", wrap=0, color=theme.DIM, show=False)  # a run's figures: a blank line before
        self.problems = dpg.add_group()
        self._show_problems()

    def _show_problems(self) -> None:
        self.shown_problems = self.state.problems()
        dpg.delete_item(self.problems, children_only=True)
        for text in self.state.problems().get(self.node_id, []):
            self.wrapped.add(text, color=theme.ERROR, parent=self.problems)

    def _widget(self, node_id: str, name: str, param: Param) -> int:
        value = shown_value(param, self.state.param_value(node_id, name))

        def apply(convert):
            def changed(sender, app_data):
                if self.state.set_param(node_id, name, convert(app_data)) is not None:
                    self.resync = True
            return changed

        if isinstance(param, Float):
            # clamped: a value typed after Ctrl+click is kept in range, as the node takes it
            return dpg.add_slider_float(default_value=float(value), min_value=param.min, max_value=param.max,
                                        clamped=True, width=-1, format="%.3g", callback=apply(float))
        if isinstance(param, Int):
            if param.max - param.min <= SLIDER_SPAN:
                return dpg.add_slider_int(default_value=int(value), min_value=param.min, max_value=param.max,
                                          clamped=True, width=-1, callback=apply(int))
            return dpg.add_input_int(default_value=int(value), min_value=param.min, max_value=param.max,
                                     min_clamped=True, max_clamped=True, width=-1, callback=apply(int))
        if isinstance(param, Bool):
            return dpg.add_checkbox(default_value=bool(value), callback=apply(bool))
        if isinstance(param, Choice):
            return dpg.add_combo(param.options, default_value=str(value), width=-1, callback=apply(str))
        if isinstance(param, Colour):
            return dpg.add_color_edit(list(value) + [255], no_alpha=True, width=-1,
                                      callback=apply(lambda rgba: [int(round(c)) for c in rgba[:3]]))
        if isinstance(param, PathParam):
            with dpg.group(horizontal=True, horizontal_spacing=4):
                field = dpg.add_input_text(default_value=str(value), width=-34, hint=param.help or "path",
                                           callback=apply(str))
                dpg.add_button(label="...", width=28, callback=lambda: self.on_browse(node_id, name, param))
            return field
        if isinstance(param, Text):
            return dpg.add_input_text(default_value=str(value), width=-1, callback=apply(str))
        return dpg.add_text(repr(value))

    def _show_values(self) -> bool:
        """Put the state's values into the widgets; returns whether one was being edited (it is left as it is)."""
        editing = False
        for name, (widget, param) in self.widgets.items():
            value = shown_value(param, self.state.param_value(self.node_id, name))
            if isinstance(param, Colour):
                value = list(value) + [255]
            if dpg.is_item_active(widget):
                editing = True
            elif _differs(dpg.get_value(widget), value):
                dpg.set_value(widget, value)
        return editing

    def refresh(self, status: RunStatus) -> None:
        """Follow the state: widget values after undo/redo, and the node's live stats."""
        self.wrapped.follow()
        self.tips.follow()
        if self.node_id is not None and self.node_id not in self.state.graph.nodes:
            self.show(None)
            return
        problems_changed = self.state.problems() != self.shown_problems
        if self.node_id is None:
            if self.shown_revision != self.state.revision or problems_changed:
                self.show(None)
            return
        if problems_changed and self.problems is not None:
            self._show_problems()
        if self.shown_revision != self.state.revision or self.resync:
            self.shown_revision = self.state.revision
            self.resync = self._show_values()
        if self.details is not None:
            node = status.nodes.get(self.node_id)
            if node is None:
                text = ""
            else:
                text = (f"frames {node.frames}   {node.ms_mean:.2f} ms mean   {node.ms_p95:.2f} ms p95\n"
                        f"drops {node.drops}   errors {node.errors}"
                        + (f"\nlast error: {node.last_error}" if node.last_error else ""))
            if dpg.get_value(self.details) != text:
                dpg.set_value(self.details, text)
                dpg.configure_item(self.details, show=bool(text))


def shown_value(param: Param, value: Any) -> Any:
    """`value` as its widget can show it: a preset may hold one of the wrong type (null, "wide"), which the
    node's problems name; its widget then shows the default, and setting it puts a good value in."""
    try:
        return param.validate(value)
    except (ValueError, TypeError, OverflowError):
        return param.default


def _differs(shown: Any, value: Any) -> bool:
    if isinstance(shown, (list, tuple)) and isinstance(value, (list, tuple)):
        return [round(float(a)) for a in shown[:3]] != [round(float(b)) for b in value[:3]]
    if isinstance(shown, float) and isinstance(value, (int, float)):
        return abs(shown - value) > 1e-6 * max(1.0, abs(value))
    return shown != value


class LogPanel:
    """The editor's messages, newest at the bottom; errors in red."""

    def __init__(self, state: EditorState, parent, height: int):
        self.state = state
        self.seen = 0
        self.scroll_frames = 0
        self.width = 0
        with dpg.child_window(parent=parent, height=height, width=-1, border=True) as self.window:
            self.tail = dpg.add_spacer(height=0)  # under the newest message: the room that keeps the top line whole
        self.wrapped = WrappedTexts(self.window, beside="00:00:00")  # messages name files: "/root/.local"

    def refresh(self) -> None:
        width = dpg.get_item_rect_size(self.window)[0]
        if self.wrapped.follow() or width != self.width:  # the messages wrap anew
            self.width, self.scroll_frames = width, 2
        if self.scroll_frames:  # the scroll range follows the text a frame or two later
            self.scroll_frames -= 1
            if not self.scroll_frames:
                self._show_newest()
        fresh = self.state.log_total - self.seen
        if not fresh:
            return
        self.seen = self.state.log_total
        colours = {"error": theme.ERROR, "warning": theme.WARNING}
        for entry in list(self.state.log)[-fresh:]:
            stamp = time.strftime("%H:%M:%S", time.localtime(entry.time))
            with dpg.group(horizontal=True, parent=self.window, before=self.tail):
                dpg.add_text(stamp, color=theme.DIM)
                self.wrapped.add(entry.text, color=colours.get(entry.level, theme.TEXT))
        for item in self.entries()[:-300]:
            dpg.delete_item(item)
        self.scroll_frames = 2

    def entries(self) -> list[int]:
        return [item for item in dpg.get_item_children(self.window, 1) or [] if item != self.tail]

    def _show_newest(self) -> None:
        """Scroll to the bottom with the top message whole: wrapped messages differ in height, so the room under
        the newest one is sized for the scroll to stop where a message starts."""
        room = dpg.get_item_configuration(self.tail)["height"]
        full_end = dpg.get_y_scroll_max(self.window) - room  # the scroll's end with no room added
        end = full_end - theme.ITEM_SPACING[1]  # the newest message is whole from here: below it is blank
        # a message 3 px under the window's top edge: whole, and clear of the one before (items are 6 px apart)
        starts = [dpg.get_item_pos(item)[1] - 3 for item in self.entries()]
        target = min([start for start in starts if start >= end], default=end) if end > 0 else 0
        wanted = max(0, int(target - full_end))
        if room != wanted:
            dpg.configure_item(self.tail, height=wanted)
            self.scroll_frames = 2  # measured again once the scroll's end has moved
        dpg.set_y_scroll(self.window, target)
