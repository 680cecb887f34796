"""The editor at the size people use it (1280x800), under Xvfb: true-size screenshots, fit to view,
zoom, key panning, collapsing, and a clear error for a display that cannot be reached.

Run directly, this file is the subprocess that drives the real window (`python tests/test_editor_view.py drive`).
"""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from test_editor_gui import display, gui_env  # noqa: F401  (the Xvfb fixture)

REPO = Path(__file__).resolve().parent.parent

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
    assert "--window" in result.stderr and "1280x800" in result.stderr or "640x480" in result.stderr


def inside(rect, area):
    x, y, w, h = rect
    ax, ay, aw, ah = area
    return ax <= x and ay <= y and x + w <= ax + aw and y + h <= ay + ah


@pytest.mark.parametrize("name,window", [("video_swap", None), ("two_faces", None), ("demo", "1024x700")])
def test_the_screenshot_is_the_window_as_opened_with_every_node_in_view(cli, display, tmp_path, name, window):  # noqa: F811
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
    assert layout["zoom"] >= 0.4


def test_fit_zoom_pan_and_collapse_in_the_real_window(display, tmp_path):  # noqa: F811
    result = subprocess.run([sys.executable, __file__, "drive"], cwd=tmp_path, env=gui_env(display, tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "view checks passed" in result.stdout


def drive() -> None:
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.app import EditorApp
    from nodegraph.editor.files import RecentFiles
    from nodegraph.editor.menus import view_key
    from nodegraph.editor.state import EditorState

    state = EditorState(recent=RecentFiles(Path.cwd() / "recent.json"), engine="sequential")
    assert state.open(REPO / "presets" / "video_swap.json")
    app = EditorApp(state)
    app.build()

    def frames(n=3):
        for _ in range(n):
            app.frame()

    def settle():
        for _ in range(40):
            app.frame()
            if not app.view.fitting:
                break
        frames(3)

    def all_inside():
        area = app.canvas.screen_rect()
        return all(inside(rect, area) for rect in app.canvas.node_rects().values())

    settle()
    assert all_inside(), (app.canvas.node_rects(), app.canvas.screen_rect())
    fitted = app.canvas.zoom

    # arrow keys pan: every node moves by the same amount, the graph's positions do not change
    positions = {n: spec.pos for n, spec in state.graph.nodes.items()}
    before = app.canvas.node_rects()
    view_key(app, dpg.mvKey_Right, False)
    frames()
    after = app.canvas.node_rects()
    moved = {round(before[n][0] - after[n][0]) for n in before}
    assert moved == {120}, moved
    assert {n: spec.pos for n, spec in state.graph.nodes.items()} == positions

    # zoom in: thumbnails and text grow; F fits again
    thumb_before = dpg.get_item_configuration(app.canvas.nodes["source"].image)["width"]
    view_key(app, 602, False)  # '=' / '+'
    frames()
    assert app.canvas.zoom > fitted
    assert dpg.get_item_configuration(app.canvas.nodes["source"].image)["width"] > thumb_before
    view_key(app, dpg.mvKey_F, False)
    settle()
    assert app.canvas.zoom == fitted and all_inside()
    # a drag at this zoom puts the node where the mouse left it, in graph units
    state.move_nodes(app.canvas.positions())
    assert all(abs(state.graph.nodes[n].pos[0] - positions[n][0]) == 0 for n in positions)

    # collapsing hides a node's body and makes it shorter; C toggles the selection
    height = app.canvas.node_rects()["swapper"][3]
    app.canvas.set_collapsed(["swapper"], True)
    frames()
    assert app.canvas.node_rects()["swapper"][3] < height / 2
    app.canvas.set_collapsed(["swapper"], False)
    frames()
    assert abs(app.canvas.node_rects()["swapper"][3] - height) < 2

    # the help window lists every control
    view_key(app, dpg.mvKey_F1, False)
    frames()
    assert app.help.window is not None and dpg.is_item_shown(app.help.window)
    app.close()
    print("view checks passed")


if __name__ == "__main__" and sys.argv[1:] == ["drive"]:
    sys.path.insert(0, str(REPO))
    drive()
