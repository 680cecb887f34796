"""The editor's menus: the menu bar, the canvas's right-click menu, and the keyboard shortcuts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg

from . import theme
from .dialogs import cancel_dialogs
from .model_fetching import MENU_LABEL
from .panels import CATEGORIES
from .view import PAN_STEP

if TYPE_CHECKING:
    from .app import EditorApp


def menu_bar(app: EditorApp) -> None:
    with dpg.menu_bar(parent=app.root):
        with dpg.menu(label="File"):
            dpg.add_menu_item(label="New", shortcut="Ctrl+N", callback=lambda: app.guard(app.state.new))
            dpg.add_menu_item(label="Open...", shortcut="Ctrl+O", callback=app.open_dialog)
            app.recent_menu = dpg.add_menu(label="Open recent")
            dpg.add_menu_item(label="Save", shortcut="Ctrl+S", callback=lambda: app.save())
            dpg.add_menu_item(label="Save as...", shortcut="Ctrl+Shift+S", callback=lambda: app.save_as())
            dpg.add_separator()
            app.fetch_item = dpg.add_menu_item(label=MENU_LABEL, enabled=False, callback=lambda: app.models.offer())
            dpg.add_separator()
            dpg.add_menu_item(label="Quit", callback=lambda: app.guard(app.request_quit))
        with dpg.menu(label="Edit"):
            dpg.add_menu_item(label="Undo", shortcut="Ctrl+Z", callback=lambda: app.state.undo())
            dpg.add_menu_item(label="Redo", shortcut="Ctrl+Y", callback=lambda: app.state.redo())
            dpg.add_menu_item(label="Delete selection", shortcut="Delete", callback=app.delete_selection)
        with dpg.menu(label="Run"):
            dpg.add_menu_item(label="Run", shortcut="F5", callback=app.run_pipeline)
            dpg.add_menu_item(label="Stop", shortcut="Shift+F5", callback=app.stop_pipeline)
        with dpg.menu(label="View"):
            dpg.add_menu_item(label="Fit to view", shortcut="F", callback=lambda: app.view.request_fit())
            dpg.add_menu_item(label="Zoom in", shortcut="+", callback=lambda: app.view.step_zoom(1))
            dpg.add_menu_item(label="Zoom out", shortcut="-", callback=lambda: app.view.step_zoom(-1))
            dpg.add_menu_item(label="Collapse / expand the selection", shortcut="C",
                              callback=lambda: toggle_collapsed(app))
            dpg.add_menu_item(label="Expand all", callback=lambda: app.canvas.set_collapsed(list(app.canvas.nodes),
                                                                                          False))
            dpg.add_menu_item(label="Auto layout", callback=lambda: app.view.relayout())
            app.panels_item = dpg.add_menu_item(label="Palette and inspector", shortcut="Tab", check=True,
                                                default_value=True, callback=lambda s, a: app.show_panels(a))
            dpg.add_separator()
            dpg.add_menu_item(label="Live viewer of the selected node", shortcut="double-click",
                              callback=lambda: [app.open_viewer(n) for n in sorted(app.state.selection)])
        with dpg.menu(label="Help"):
            dpg.add_menu_item(label="Controls", shortcut="?", callback=lambda: app.help.toggle())


def open_context_menu(app: EditorApp) -> None:
    """The right-click menu at the mouse, in place of the one open."""
    x, y = dpg.get_mouse_pos(local=False)
    # a menu shown takes the hover from the canvas: the node is found by where nodes are drawn
    node_id = app.canvas.node_at(x, y) if close_context_menu(app) else app.canvas.hovered_node()
    app.popup = context_menu(app, node_id, x, y)


def close_context_menu(app: EditorApp) -> bool:
    """Close the right-click menu; whether one was shown."""
    shown = app.popup is not None and dpg.is_item_shown(app.popup)
    if app.popup is not None:
        dpg.delete_item(app.popup)
        app.popup = None
    return shown


def context_menu(app: EditorApp, node_id: str | None, x: float, y: float) -> int | str:
    """The right-click menu at (x, y): for the node under the mouse, else for the selection and the canvas."""
    # min_size: a window is at least 100x100 px otherwise, and a short menu had a blank row under its items
    with dpg.window(popup=True, no_title_bar=True, autosize=True, min_size=[0, 0], pos=[int(x), int(y)]) as menu:
        def item(label, action):
            def run():
                dpg.delete_item(menu)
                app.popup = None
                action()
            dpg.add_menu_item(label=label, callback=run)

        if node_id is not None:
            dpg.add_text(node_id, color=theme.DIM)
            item("Open live viewer", lambda: app.open_viewer(node_id))
            collapsed = node_id in app.canvas.collapsed
            item("Expand" if collapsed else "Collapse", lambda: app.canvas.set_collapsed([node_id], not collapsed))
            item("Delete node", lambda: app.state.remove_nodes([node_id]))
            links = app.state.graph.links_into(node_id) + app.state.graph.links_from(node_id)
            if links:
                item(f"Delete its {len(links)} link(s)", lambda: app.state.remove_links(links))
        else:
            nodes, links = app.canvas.selected()
            if nodes or links:
                item(f"Delete selection ({len(nodes)} nodes, {len(links)} links)",
                     lambda: app.state.delete(nodes, links))
            position = app.canvas.screen_to_graph(x, y)
            with dpg.menu(label="Add node"):
                by_category: dict[str, list[str]] = {}
                for cls in app.state.registry:
                    by_category.setdefault(cls.category, []).append(cls.type_name())
                for category in [c for c in CATEGORIES if c in by_category] + sorted(
                        set(by_category) - set(CATEGORIES)):
                    with dpg.menu(label=category):
                        for name in by_category[category]:
                            item(name, lambda name=name: app.state.add_node(name, position))
            item("Auto layout", app.view.relayout)
            item("Fit to view", app.view.request_fit)
    return menu


def shortcut(app: EditorApp, key: int) -> None:
    """What a key press does (the menus show the same shortcuts). While a dialog asks something, the graph
    behind it takes no key."""
    if key == dpg.mvKey_Escape and cancel_dialogs():
        return
    if a_dialog_is_open() or (key == dpg.mvKey_Escape and close_context_menu(app)):
        return
    ctrl, shift = dpg.is_key_down(dpg.mvKey_ModCtrl), dpg.is_key_down(dpg.mvKey_ModShift)
    if key == dpg.mvKey_F5:
        app.stop_pipeline() if shift else app.run_pipeline()
    elif ctrl and key == dpg.mvKey_S:
        app.save_as() if shift else app.save()
    elif ctrl and key == dpg.mvKey_O:
        app.open_dialog()
    elif ctrl and key == dpg.mvKey_N:
        app.guard(app.state.new)
    elif typing_in_a_field():
        return  # Delete and Ctrl+Z belong to the text field
    elif ctrl and key == dpg.mvKey_Z:
        app.state.redo() if shift else app.state.undo()
    elif ctrl and key == dpg.mvKey_Y:
        app.state.redo()
    elif key == dpg.mvKey_Delete:  # not while a live viewer has the focus: it hides the selection it would delete
        if not any(dpg.is_item_focused(viewer.window) for viewer in app.viewers):
            app.delete_selection()
    elif not ctrl:
        view_key(app, key, shift)


ZOOM_IN_KEYS = (602, dpg.mvKey_Add)  # ImGuiKey_Equal ('=' and '+'; Dear PyGui 2.3.1 names no constant), keypad +
ZOOM_OUT_KEYS = (dpg.mvKey_Minus, dpg.mvKey_Subtract)
ARROWS = {dpg.mvKey_Left: (-1, 0), dpg.mvKey_Right: (1, 0), dpg.mvKey_Up: (0, -1), dpg.mvKey_Down: (0, 1)}


def view_key(app: EditorApp, key: int, shift: bool) -> None:
    """The keys that move around the canvas (none of them edits the graph)."""
    if key == dpg.mvKey_F:
        app.view.request_fit()
    elif key in ZOOM_IN_KEYS:
        app.view.step_zoom(1)
    elif key in ZOOM_OUT_KEYS:
        app.view.step_zoom(-1)
    elif key in ARROWS:
        dx, dy = ARROWS[key]
        app.view.pan(dx * PAN_STEP, dy * PAN_STEP)
    elif key == dpg.mvKey_C:
        toggle_collapsed(app)
    elif key == dpg.mvKey_F1 or (shift and key == dpg.mvKey_Slash):
        app.help.toggle()
    elif key == dpg.mvKey_Tab:
        shown = not dpg.get_value(app.panels_item)
        dpg.set_value(app.panels_item, shown)
        app.show_panels(shown)


def toggle_collapsed(app: EditorApp) -> None:
    """Collapse the selected nodes, or expand them when all are collapsed already."""
    nodes = app.canvas.selected()[0]
    app.canvas.set_collapsed(nodes, not all(n in app.canvas.collapsed for n in nodes))


def typing_in_a_field() -> bool:
    # A mouse click comes as a key press too, and the item it clicked has the focus: a menu item, which has
    # no "active" state (is_item_active raised KeyError and closed the editor), or a dialog's button, gone
    # with its dialog.
    focused = dpg.get_focused_item()
    return bool(focused) and dpg.does_item_exist(focused) and dpg.get_item_state(focused).get("active", False)


def a_dialog_is_open() -> bool:
    """A modal window (a question, a file dialog) is shown."""
    return any(dpg.get_item_configuration(window).get("modal") and dpg.is_item_shown(window)
               for window in dpg.get_windows())
