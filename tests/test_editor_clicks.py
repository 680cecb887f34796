"""The editor clicked and typed at for real: X events sent to its window through XTest, as a user's mouse
and keyboard send them (the other GUI tests call the callbacks). Run directly, this file is the editor's
process (`python tests/test_editor_clicks.py menus`)."""

import ctypes.util
import json
import shutil
import sys
from pathlib import Path

import editor_window
import pytest
from editor_window import open_editor
from test_editor_gui import display  # noqa: F401 (a fixture)
from xtest_pointer import Pointer

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.gui


def xtest_missing() -> str | None:
    for library in ("X11", "Xtst"):
        if ctypes.util.find_library(library) is None:
            return f"lib{library} is not installed (apt-get install libxtst6): it sends the clicks"
    return None


def run_driver(display, tmp_path, name, script=__file__):  # noqa: F811 (display is a fixture)
    if (missing := xtest_missing()) is not None:
        pytest.skip(missing)
    editor_window.run_driver(display, tmp_path, name, script)


def test_menu_items_clicked_with_the_mouse_do_their_work(display, tmp_path):  # noqa: F811
    # a click comes to the key handler as a key press too: File > Save clicked closed the editor with
    # KeyError 'active', and the unsaved changes were lost
    run_driver(display, tmp_path, "menus")


def test_keys_go_to_the_open_dialog_not_to_the_graph_behind_it(display, tmp_path):  # noqa: F811
    # Delete, pressed while "Unsaved changes" asked, deleted the selected node behind it
    run_driver(display, tmp_path, "modal")


def test_a_param_of_the_wrong_type_in_the_preset_shows_its_default_and_can_be_set(display, tmp_path):  # noqa: F811
    # clicking the node closed the editor (int(None)); a guard keeps the window over any such fault
    run_driver(display, tmp_path, "params")


def test_nodes_added_from_the_palette_go_where_no_node_is(display, tmp_path):  # noqa: F811
    # at a zoom below 1 the search for room covered part of the view only, and every new node went to the
    # canvas's top-left corner, over the graph's first node
    run_driver(display, tmp_path, "palette")


def test_the_graph_is_fitted_again_when_the_window_is_resized(display, tmp_path):  # noqa: F811
    # shrinking the window left the graph's right half cut off, and growing it left the graph in a corner
    run_driver(display, tmp_path, "resize")


def test_a_right_click_on_a_node_while_a_menu_is_open_gives_that_node_s_menu(display, tmp_path):  # noqa: F811
    # the open menu covered the canvas from hover, so the second menu was the canvas's: its "Delete selection"
    # deleted another node than the one clicked; and Escape left the menu open
    run_driver(display, tmp_path, "context")


def test_saving_a_preset_opened_through_a_link_asks_where_it_goes(display, tmp_path):  # noqa: F811
    # Save replaced the link with a file of its own, and the file it named never got the edit
    run_driver(display, tmp_path, "link")


def editor(preset: Path):
    state, app = open_editor(preset)
    editor_window.frames(app, 5)
    return state, app, Pointer(lambda n: editor_window.frames(app, n))


def item(kind: str, label: str) -> int:
    import dearpygui.dearpygui as dpg

    return next(i for i in dpg.get_all_items() if dpg.get_item_type(i) == f"mvAppItemType::{kind}"
                and dpg.get_item_label(i) == label)


def menu_rect(app, label: str):
    """Where the menu bar's menu `label` is on the screen (the window is at 0, 0)."""
    import dearpygui.dearpygui as dpg

    x, y = dpg.get_item_state(item("mvMenu", label))["pos"]
    return (x + 4, y + 4), (x + 24, menu_bar_height(app) - 4)


def menu_item_rect(app, menu: str, label: str):
    """Where the open menu's item `label` is: Dear PyGui gives a menu item's place in its menu only, and the
    menu opens under the menu bar, one row (the space between two items) an item."""
    import dearpygui.dearpygui as dpg

    x = dpg.get_item_state(item("mvMenu", menu))["pos"][0]
    tops = [dpg.get_item_state(i)["pos"][1] for i in dpg.get_item_children(item("mvMenu", menu), 1)]
    row = tops[1] - tops[0]
    top = menu_bar_height(app) + dpg.get_item_state(item("mvMenuItem", label))["pos"][1]
    return (x + 8, top + 4), (x + 60, top + row - 6)


def menu_bar_height(app) -> int:
    import dearpygui.dearpygui as dpg

    below = dpg.get_item_children(app.root, 1)[1]  # the run bar, one window padding (8 px) under the menu bar
    return dpg.get_item_state(below)["pos"][1] - 8


def rect(tag):
    import dearpygui.dearpygui as dpg

    return dpg.get_item_rect_min(tag), dpg.get_item_rect_max(tag)


def faults(state) -> list[str]:
    return [entry.text for entry in state.log if "the editor failed" in entry.text]


def drive_menus() -> None:
    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    state.set_param("adjust", "brightness", 33)
    assert state.dirty
    pointer.click(menu_rect(app, "File"))
    pointer.click(menu_item_rect(app, "File", "Save"))
    assert faults(state) == [] and not state.dirty
    assert next(n for n in json.loads(mine.read_text())["nodes"] if n["id"] == "adjust")["params"]["brightness"] == 33
    pointer.click(menu_rect(app, "Edit"))
    pointer.click(menu_item_rect(app, "Edit", "Undo"))
    assert faults(state) == [] and state.param_value("adjust", "brightness") == 10
    app.close()
    print("menus checks passed")


def drive_modal() -> None:
    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    node = app.canvas.node_rects()["adjust"]
    pointer.click(((node[0] + 10, node[1] + 4), (node[0] + 30, node[1] + 12)))  # its title bar: selects it
    assert app.canvas.selected()[0] == ["adjust"]
    state.set_param("adjust", "brightness", 33)
    app.guard(lambda: None)  # asks about the unsaved changes
    pointer.frames(3)
    pointer.key("Delete")
    assert "adjust" in state.graph.nodes
    pointer.click(rect(item("mvButton", "Cancel")))
    pointer.key("Delete")  # the question gone: Delete deletes the selection again
    assert "adjust" not in state.graph.nodes and faults(state) == []
    app.close()
    print("modal checks passed")


def drive_params() -> None:
    import dearpygui.dearpygui as dpg

    preset = json.loads((REPO / "presets" / "demo.json").read_text())
    adjust = next(n for n in preset["nodes"] if n["id"] == "adjust")
    adjust["params"].update(brightness=None, median_blur="wide")
    mine = Path.cwd() / "bad.json"
    mine.write_text(json.dumps(preset))
    state, app, pointer = editor(mine)
    node = app.canvas.node_rects()["adjust"]
    pointer.click(((node[0] + 10, node[1] + 4), (node[0] + 30, node[1] + 12)))
    assert app.inspector.node_id == "adjust" and faults(state) == []
    widget = app.inspector.widgets["brightness"][0]
    assert dpg.get_value(widget) == 0  # FrameAdjuster's default, where the preset's null cannot be shown
    assert any("brightness" in text for text in state.problems()["adjust"])
    dpg.get_item_callback(widget)(widget, 12)  # as the slider calls it when dragged
    pointer.frames(3)
    assert state.param_value("adjust", "brightness") == 12 and faults(state) == []

    def broken():
        raise RuntimeError("a fault of the editor's own")

    app.script = None
    state.poll, saved_poll = broken, state.poll  # any fault in a frame's work: the window and the graph stay
    app._next_status = 0.0
    pointer.frames(3)
    state.poll = saved_poll
    assert faults(state) == ["the editor failed (RuntimeError: a fault of the editor's own); your graph is kept: "
                             "save it, and please report this"]
    assert state.dirty and state.param_value("adjust", "brightness") == 12
    app.close()
    print("params checks passed")


def drive_palette() -> None:
    import dearpygui.dearpygui as dpg

    mine = Path.cwd() / "video_swap.json"
    shutil.copy(REPO / "presets" / "video_swap.json", mine)
    state, app, pointer = editor(mine)
    pointer.frames(20)  # fitted
    button = next(b for b, _, _ in app.palette.entries if dpg.get_item_label(b) == "FrameAdjuster")
    for _ in range(3):
        pointer.click(rect(button))
        pointer.frames(20)
    boxes = app.canvas.node_rects()
    added = sorted(set(state.graph.nodes) - {"source", "detector", "marker", "aligner", "swapper", "colour",
                                            "merger", "output"})
    assert len(added) == 3 and len(boxes) == 11, (added, sorted(boxes))

    def overlap(a, b):
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

    crowded = [(n, m) for n in added for m in boxes if m != n and overlap(boxes[n], boxes[m])]
    assert crowded == [], (crowded, boxes)
    assert faults(state) == []
    app.close()
    print("palette checks passed")


def drive_resize() -> None:
    import dearpygui.dearpygui as dpg

    mine = Path.cwd() / "video_swap.json"
    shutil.copy(REPO / "presets" / "video_swap.json", mine)
    state, app, pointer = editor(mine)
    pointer.frames(20)
    for width, height in ((1024, 640), (1600, 1000)):
        dpg.set_viewport_width(width)
        dpg.set_viewport_height(height)
        editor_window.settle(app, 300)  # a fit measures, lays out again and measures, a frame or more each time
        left, top, canvas_width, canvas_height = app.canvas.screen_rect()
        boxes = app.canvas.node_rects()
        outside = [n for n, (x, y, w, h) in boxes.items()
                   if x < left or y < top or x + w > left + canvas_width or y + h > top + canvas_height]
        assert outside == [], (width, outside, boxes, app.canvas.screen_rect())
        used = max(x + w for x, _, w, _ in boxes.values()) - min(x for x, _, _, _ in boxes.values())
        assert used > 0.6 * canvas_width, (width, used, canvas_width)  # fitted, not left small in a corner
    state.engine = "process"  # the multiprocess plan: a process per stage in the legend
    assert state.open(REPO / "presets" / "two_faces.json")  # its process legend ran off the window's edge
    dpg.set_viewport_width(1024)
    pointer.frames(10)
    for text in [t for t in dpg.get_item_children(app.runbar.legend, 1) if dpg.get_item_type(t).endswith("Text")]:
        assert dpg.get_item_rect_min(text)[0] + dpg.get_item_rect_size(text)[0] <= 1024, dpg.get_value(text)
    assert faults(state) == []
    app.close()
    print("resize checks passed")


def drive_link() -> None:
    (Path.cwd() / "library").mkdir()
    shared = Path.cwd() / "library" / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", shared)
    link = Path.cwd() / "mine.json"
    link.symlink_to(shared)
    state, app, pointer = editor(link)

    def save_with(button: str) -> None:
        pointer.click(menu_rect(app, "File"))
        pointer.click(menu_item_rect(app, "File", "Save"))
        pointer.click(rect(item("mvButton", button)))

    def brightness(path: Path) -> int:
        return next(n for n in json.loads(path.read_text())["nodes"] if n["id"] == "adjust")["params"]["brightness"]

    state.set_param("adjust", "brightness", 33)
    save_with("Cancel")
    assert state.dirty and brightness(shared) == 10 and link.is_symlink()
    save_with("Save into demo.json")
    assert not state.dirty and brightness(shared) == 33 and link.is_symlink() and state.path == shared
    assert state.open(link)
    state.set_param("adjust", "brightness", 44)
    save_with("Replace the link")
    assert not state.dirty and not link.is_symlink() and brightness(link) == 44 and brightness(shared) == 33
    assert faults(state) == []
    app.close()
    print("link checks passed")


def drive_context() -> None:
    import dearpygui.dearpygui as dpg

    state, app, pointer = editor(REPO / "presets" / "demo.json")
    pointer.frames(20)
    nodes = sorted(state.graph.nodes)

    def shown_menu() -> list[str]:
        if app.popup is None or not dpg.is_item_shown(app.popup):
            return []
        return [dpg.get_item_label(child) or dpg.get_value(child) for child in dpg.get_item_children(app.popup, 1)]

    def title_of(node_id: str):
        x, y, w, _ = app.canvas.node_rects()[node_id]
        return (x + 10, y + 4), (x + w - 10, y + 10)

    left, top, width, height = app.canvas.screen_rect()
    empty_canvas = ((left + 20, top + height - 30), (left + 30, top + height - 20))
    pointer.click(empty_canvas, button=3)  # nothing selected: Add node, Auto layout, Fit to view
    assert len(shown_menu()) == 3, shown_menu()
    tops = [dpg.get_item_state(child)["pos"][1] for child in dpg.get_item_children(app.popup, 1)]
    # no more room under the last item than over the first (a window is 100 px tall at least unless told)
    menu_height = dpg.get_item_state(app.popup)["rect_size"][1]
    assert menu_height <= tops[-1] + (tops[-1] - tops[-2]) + tops[0], (menu_height, tops)
    pointer.key("Escape")
    pointer.click(title_of("pattern"))  # selected: the canvas's menu offers to delete it
    pointer.click(empty_canvas, button=3)
    assert any(label.startswith("Delete selection") for label in shown_menu()), shown_menu()
    pointer.click(title_of("out"), button=3)
    assert shown_menu()[:2] == ["out", "Open live viewer"], shown_menu()
    pointer.key("Escape")
    assert shown_menu() == []
    assert sorted(state.graph.nodes) == nodes
    assert faults(state) == []
    app.close()
    print("context checks passed")


DRIVERS = {"menus": drive_menus, "modal": drive_modal, "params": drive_params, "palette": drive_palette,
           "resize": drive_resize, "link": drive_link, "context": drive_context}

if __name__ == "__main__" and sys.argv[1:2] and sys.argv[1] in DRIVERS:
    DRIVERS[sys.argv[1]]()
