"""The editor at the size people use it (1280x800), under Xvfb: true-size screenshots, fit to view,
zoom, key panning, collapsing, and a clear error for a display that cannot be reached.

Run directly, this file is the subprocess that drives the real window (`python tests/test_editor_view.py drive`).
"""

import json
import sys

import cv2
import pytest
from editor_window import REPO, frames, gui_env, open_editor, run_driver, settle
from test_editor_gui import display  # noqa: F401  (the Xvfb fixture)
from xtest_pointer import Pointer

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("value", [":4093", "nonsense"])
def test_a_display_that_cannot_be_opened_exits_2_without_aborting(cli, tmp_path, value):
    result = cli("edit", REPO / "presets" / "demo.json", cwd=tmp_path, env={"DISPLAY": value, "WAYLAND_DISPLAY": ""})
    assert result.returncode == 2, result.stderr
    assert "no display" in result.stderr and repr(value) in result.stderr and "xvfb-run" in result.stderr


@pytest.mark.parametrize("value", ["big", "100x100", "1280x"])
def test_a_bad_window_size_is_refused(cli, tmp_path, value):
    result = cli("edit", "--window", value, cwd=tmp_path)
    assert result.returncode == 2
    assert "--window" in result.stderr and ("1280x800" in result.stderr or "640x480" in result.stderr)


def inside(rect, area):
    x, y, w, h = rect
    ax, ay, aw, ah = area
    return ax <= x and ay <= y and x + w <= ax + aw and y + h <= ay + ah


def drawn_pixels_at_the_edges(shot, canvas, band: int = 6) -> int:
    """Pixels brighter than the grid (node outlines, pins, links) within `band` px inside the canvas's border, off the
    minimap: the nodes' outlines and the links' curves keep 8 px from the canvas's edges at least, 16 where the nodes
    keep their full margin (a link came within 2 px of a side, and in a tight fit the outlines touched it)."""
    x, y, w, h = (int(v) for v in canvas)
    drawn = cv2.imread(str(shot)).max(axis=2) > 70  # the grid and its lines are 64 at the most
    minimap_x, minimap_y = x + int(0.75 * w), y + int(0.75 * h)  # imnodes draws it over about a fifth of each
    edges = (drawn[y:y + h, x + 1:x + 1 + band], drawn[y:minimap_y, x + w - 1 - band:x + w - 1],
             drawn[y + 1:y + 1 + band, x:x + w], drawn[y + h - 1 - band:y + h - 1, x:minimap_x])
    return sum(int(edge.sum()) for edge in edges)


# The least zoom each window may show: a small laptop's window shows the widest preset whole, links and all, at the
# smallest zoom (it was cut off at 0.4), and a full-HD one shows the demo chain with its port types (it was compact
# at 0.6). At 1366x768 the link back to the second band of video_swap curved out past the canvas's left side: the
# fit measured it from the nodes' rects, 8 px inside the outlines its pins are drawn on. At 1920x1080 two_faces fits at
# about 0.78 and was shown compact at 0.7, the zoom level below. At 1280x720 two_faces, too tall for 0.4, was shown at
# 0.3 with 140 px empty at each side. neural_swap at 1280x720 fits only with the tight margin, whose outlines touched
# the canvas's sides; at 1000x720 its swapper was cut off at the bottom even at the smallest zoom, 0.3
@pytest.mark.parametrize("name,window,least_zoom", [("video_swap", None, 0.4), ("two_faces", None, 0.35),
                                                     ("demo", "1024x700", 0.4), ("two_faces", "1280x720", 0.35),
                                                     ("neural_swap", "1280x720", 0.35),
                                                     ("neural_swap", "1000x720", 0.25),
                                                     ("video_swap", "1366x768", 0.6),
                                                     ("video_swap", "1920x1080", 0.75),
                                                     ("two_faces", "1920x1080", 0.75)])
def test_the_screenshot_is_the_window_as_opened_with_every_node_in_view(cli, display, tmp_path, name, window,  # noqa: F811
                                                                        least_zoom):
    shot, layout_file = tmp_path / "shot.png", tmp_path / "shot.json"
    extra = ["--window", window] if window else []
    result = cli("edit", REPO / "presets" / f"{name}.json", *extra, "--screenshot", shot, "--layout-json",
                 layout_file, cwd=tmp_path, env=gui_env(display, tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    size = tuple(int(v) for v in (window or "1280x800").split("x"))
    assert cv2.imread(str(shot)).shape[1::-1] == size
    layout = json.loads(layout_file.read_text())
    assert tuple(layout["size"]) == size
    canvas = layout["canvas"]
    cx, cy, cw, ch = canvas
    for node_id, where in layout["nodes"].items():
        assert inside(where["node"], canvas), f"{node_id} at {where['node']} is not inside the canvas {canvas}"
        x, y, w, h = where["node"]
        assert x + w <= cx + 0.8 * cw or y + h <= cy + 0.8 * ch, f"{node_id}: under the minimap"
    assert layout["zoom"] >= least_zoom
    assert drawn_pixels_at_the_edges(shot, canvas) == 0, "a node or a link comes within 8 px of the canvas's edges"


def test_fit_zoom_pan_and_collapse_in_the_real_window(display, tmp_path):  # noqa: F811
    run_driver(display, tmp_path, "view", __file__)


def test_the_minimap_checkbox_fits_the_graph_again(display, tmp_path):  # noqa: F811
    run_driver(display, tmp_path, "minimap", __file__)


def drive() -> None:
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.menus import view_key

    state, app = open_editor(REPO / "presets" / "video_swap.json")

    def all_inside():
        area = app.canvas.screen_rect()
        return all(inside(rect, area) for rect in app.canvas.node_rects().values())

    settle(app)
    assert all_inside(), (app.canvas.node_rects(), app.canvas.screen_rect())
    fitted = app.canvas.zoom
    # the preset's 8 nodes in one row fit only too small: opening laid them out again, in bands,
    # without making an unsaved change or an undo step
    assert any("laid out again" in entry.text for entry in state.log)
    assert not state.dirty and not state.undo()  # nothing to undo

    # arrow keys pan: every node moves by the same amount, the graph's positions do not change
    positions = {n: spec.pos for n, spec in state.graph.nodes.items()}
    before = app.canvas.node_rects()
    view_key(app, dpg.mvKey_Right, False)
    frames(app)
    after = app.canvas.node_rects()
    moved = {round(before[n][0] - after[n][0]) for n in before}
    assert moved == {120}, moved
    assert {n: spec.pos for n, spec in state.graph.nodes.items()} == positions

    # zoom in: thumbnails and text grow; F fits again
    thumb_before = dpg.get_item_configuration(app.canvas.nodes["source"].image)["width"]
    view_key(app, 602, False)  # '=' / '+'
    frames(app)
    assert app.canvas.zoom > fitted
    assert dpg.get_item_configuration(app.canvas.nodes["source"].image)["width"] > thumb_before
    view_key(app, dpg.mvKey_F, False)
    settle(app)
    assert app.canvas.zoom == fitted and all_inside()
    # a drag at this zoom puts the node where the mouse left it, in graph units
    state.move_nodes(app.canvas.positions())
    assert all(abs(state.graph.nodes[n].pos[0] - positions[n][0]) == 0 for n in positions)

    # collapsing hides a node's body and makes it shorter; C toggles the selection
    height = app.canvas.node_rects()["swapper"][3]
    app.canvas.set_collapsed(["swapper"], True)
    frames(app)
    assert app.canvas.node_rects()["swapper"][3] < height / 2
    app.canvas.set_collapsed(["swapper"], False)
    frames(app)
    assert abs(app.canvas.node_rects()["swapper"][3] - height) < 2

    # real input through XTest: a click in the minimap moves the view there, a middle-drag pans
    pointer = Pointer(lambda n: frames(app, n))
    left, top, width, height = app.canvas.screen_rect()
    before = app.canvas.grid_offset()
    minimap = (left + width * 0.83, top + height * 0.83)
    pointer.click((minimap, minimap))
    after = app.canvas.grid_offset()
    assert after != before, "a click in the minimap did not move the view"
    x0, y0 = int(left + width * 0.3), int(top + height * 0.05)  # empty canvas above the nodes
    pointer.drag((x0, y0), (x0 + 80, y0 + 40), steps=4, button=2)
    dragged = app.canvas.grid_offset()
    assert (round(dragged[0] - after[0]), round(dragged[1] - after[1])) == (80, 40), (after, dragged)
    assert {n: spec.pos for n, spec in state.graph.nodes.items()} == positions  # panning moves no node

    # a node that ran but made no picture says so instead of showing an empty frame
    from nodegraph.editor.node_view import EMPTY_NOTE
    from nodegraph.editor.session import RunStatus
    from nodegraph.runner import NodeSnapshot

    ran = RunStatus(state="finished", nodes={n: NodeSnapshot("s1", frames=5) for n in ("output", "swapper")})
    app.canvas.show_status(ran, {}, pictured={"swapper"})  # (the next frames show the idle editor's status)
    output, swapper = app.canvas.nodes["output"], app.canvas.nodes["swapper"]
    assert dpg.is_item_shown(output.note) and dpg.get_value(output.note) == EMPTY_NOTE
    assert not dpg.is_item_shown(output.image)
    assert not dpg.is_item_shown(swapper.note) and dpg.is_item_shown(swapper.image)

    # Tab hides the side panels: the canvas takes their room and the graph is fitted larger
    narrow = app.canvas.screen_rect()[2]
    view_key(app, dpg.mvKey_Tab, False)
    settle(app)
    assert app.canvas.screen_rect()[2] > narrow + 400 and app.canvas.zoom > fitted and all_inside()
    view_key(app, dpg.mvKey_Tab, False)
    settle(app)
    assert app.canvas.screen_rect()[2] == narrow and app.canvas.zoom == fitted and all_inside()

    # the help window lists every control
    view_key(app, dpg.mvKey_F1, False)
    frames(app)
    assert app.help.window is not None and dpg.is_item_shown(app.help.window)
    app.close()
    print("view checks passed")


def drive_minimap() -> None:
    """At 1500x768 the fit moves video_swap left, clear of the minimap: hidden, the minimap leaves room to fill."""
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.menus import view_key

    state, app = open_editor(REPO / "presets" / "video_swap.json", 1500, 768)

    def settled_rects():
        settle(app)
        return app.canvas.node_rects()

    def as_fitted():  # F fits again: a view the fit made stays where it is
        rects = app.canvas.node_rects()
        view_key(app, dpg.mvKey_F, False)
        return settled_rects() == rects

    checkbox = next(item for item in dpg.get_all_items() if dpg.get_item_type(item).endswith("mvCheckbox")
                    and dpg.get_item_label(item) == "minimap")
    pointer = Pointer(lambda n: frames(app, n))
    with_minimap = settled_rects()
    x, y = dpg.get_item_rect_min(checkbox)
    box = ((x + 4, y + 4), (x + 12, y + 12))
    pointer.click(box)
    assert not dpg.get_value(checkbox) and not dpg.get_item_configuration(app.canvas.editor)["minimap"]
    without = settled_rects()
    assert without != with_minimap, "hiding the minimap left the graph where the minimap had pushed it"
    assert as_fitted(), "hiding the minimap did not fit the graph again"
    pointer.click(box)
    assert dpg.get_value(checkbox) and settled_rects() == with_minimap and as_fitted()
    left, top, width, height = app.canvas.screen_rect()
    assert all(x + w <= left + 0.8 * width or y + h <= top + 0.8 * height for x, y, w, h in with_minimap.values())
    app.close()
    print("minimap checks passed")


if __name__ == "__main__" and sys.argv[1:] == ["view"]:
    sys.path.insert(0, str(REPO))
    drive()
if __name__ == "__main__" and sys.argv[1:] == ["minimap"]:
    sys.path.insert(0, str(REPO))
    drive_minimap()
