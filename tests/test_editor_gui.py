"""The Dear PyGui editor under a virtual X display (Xvfb): the real window, real textures, real runs.

Each test starts its own Xvfb and runs the editor in a subprocess (Dear PyGui aborts the process,
rather than raising, when something is wrong with the display). Run directly, this file is that
subprocess for the canvas checks (`python tests/test_editor_gui.py drive`).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from editor_window import frames, gui_env, open_editor, run_driver

REPO = Path(__file__).resolve().parent.parent
PRESETS = ["demo.json", "video_swap.json"]

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def display():
    """A private Xvfb display, e.g. ':5'."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): the editor needs an X display to test")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(10)


def test_edit_without_a_display_fails_clearly(cli, tmp_path):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    result = cli("edit", REPO / "presets" / "demo.json", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "no display" in result.stderr and "xvfb-run" in result.stderr


def test_edit_a_missing_preset_says_so(cli, display, tmp_path):
    result = cli("edit", tmp_path / "nope.json", cwd=tmp_path, env=gui_env(display, tmp_path))
    assert result.returncode == 2
    assert "nope.json" in result.stderr and "file not found" in result.stderr


def test_the_screenshot_never_lands_on_the_preset_and_never_writes_through_a_link(cli, display, tmp_path):
    preset = tmp_path / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", preset)
    kept = preset.read_bytes()
    env = gui_env(display, tmp_path)
    for args, said in ((["--screenshot", preset.with_suffix(".png"), "--layout-json", preset], "is the input"),
                       (["--screenshot", tmp_path / "shot.jpg"], "written as PNG; name it NAME.png"),
                       (["--screenshot", tmp_path / "a.png", "--layout-json", tmp_path / "a.png"],
                        "is also where an output goes"),
                       (["--screenshot", tmp_path / "nowhere" / "a.png"], "does not exist")):
        result = cli("edit", preset, *args, cwd=tmp_path, env=env)
        assert result.returncode == 2 and said in result.stderr, result.stderr
    assert preset.read_bytes() == kept and not list(tmp_path.glob("*.png"))
    swap = tmp_path / "video_swap.json"
    shutil.copy(REPO / "presets" / "video_swap.json", swap)
    (tmp_path / "media").mkdir()
    portrait = tmp_path / "media" / "astronaut.png"
    shutil.copy(REPO / "presets" / "media" / "astronaut.png", portrait)
    portrait_bytes = portrait.read_bytes()
    for args in (["--screenshot", portrait], ["--screenshot", tmp_path / "b.png", "--layout-json", portrait]):
        result = cli("edit", swap, *args, cwd=tmp_path, env=env)
        assert result.returncode == 2 and f"is the input {portrait}" in result.stderr, result.stderr
    assert portrait.read_bytes() == portrait_bytes and not (tmp_path / "b.png").exists()
    precious = tmp_path / "precious.png"
    precious.write_bytes(b"keep me")
    (tmp_path / "shot.png").symlink_to(precious)
    result = cli("edit", preset, "--screenshot", tmp_path / "shot.png", cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert precious.read_bytes() == b"keep me" and not (tmp_path / "shot.png").is_symlink()
    assert cv2.imread(str(tmp_path / "shot.png")).shape == (800, 1280, 3)


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_screenshot_shows_every_node_with_a_live_thumbnail(cli, display, tmp_path, name):
    path = REPO / "presets" / name
    shot, layout_file = tmp_path / "shot.png", tmp_path / "shot.json"
    result = cli("edit", path, "--run-frames", 60, "--screenshot", shot, "--layout-json", layout_file,
                 cwd=tmp_path, env=gui_env(display, tmp_path), timeout=400)
    assert result.returncode == 0, result.stderr
    picture = cv2.imread(str(shot))
    layout = json.loads(layout_file.read_text())
    assert picture.shape[1::-1] == tuple(layout["size"])
    graph_nodes = json.loads(path.read_text())["nodes"]
    assert sorted(layout["nodes"]) == sorted(n["id"] for n in graph_nodes)

    cx, cy, cw, ch = layout["canvas"]
    minimap = (cx + 0.8 * cw, cy + 0.8 * ch)  # imnodes draws it over the canvas's bottom-right fifth
    thumbnails = {}
    for node_id, where in layout["nodes"].items():
        x, y, w, h = (int(round(v)) for v in where["thumbnail"])
        assert w >= 160 * layout["zoom"] - 4 and h >= 120 * layout["zoom"] - 4, f"{node_id}: thumbnail is {w}x{h}"
        assert cx <= x and x + w <= cx + cw and cy <= y and y + h <= cy + ch, f"{node_id}: thumbnail off the canvas"
        assert not (x + w > minimap[0] and y + h > minimap[1]), f"{node_id}: the minimap hides its thumbnail"
        crop = picture[y + 3:y + h - 3, x + 3:x + w - 3].astype(np.float32)
        assert where["previews"] >= 1, f"{node_id}: no preview arrived"
        assert crop.std() > 12, f"{node_id}: its thumbnail is blank"
        thumbnails[node_id] = crop
    ids = list(thumbnails)
    differences = [np.abs(thumbnails[a] - thumbnails[b]).mean() for i, a in enumerate(ids) for b in ids[i + 1:]]
    assert max(differences, default=100.0) > 3.0, "every thumbnail shows the same picture"


def test_canvas_palette_and_inspector_follow_the_state(display, tmp_path):
    run_driver(display, tmp_path, "canvas", __file__)


def drive() -> None:
    """Build the real editor window, drive its state and its callbacks, and check what Dear PyGui
    holds after each rendered frame."""
    import dearpygui.dearpygui as dpg

    from nodegraph.graph import Link

    state, app = open_editor(REPO / "presets" / "demo.json", 1400, 900)

    def drawn_links():
        return len(dpg.get_item_children(app.canvas.editor, 0) or [])

    def drawn_nodes():
        return len(dpg.get_item_children(app.canvas.editor, 1) or [])

    frames(app)
    assert drawn_nodes() == 3 and drawn_links() == 2
    assert set(app.canvas.nodes) == {"pattern", "adjust", "out"}

    # a link drawn by the user goes through the state's type check
    state.remove_links([Link("adjust", "frame", "out", "frame")])
    frames(app)
    assert drawn_links() == 1
    out_pin = app.canvas.nodes["adjust"].ports[("out", "frame")]
    in_pin = app.canvas.nodes["out"].ports[("in", "frame")]
    app.canvas._on_link(app.canvas.editor, (out_pin, in_pin))
    frames(app)
    assert drawn_links() == 2 and Link("adjust", "frame", "out", "frame") in state.graph.links
    app.canvas._on_link(app.canvas.editor, (app.canvas.nodes["pattern"].ports[("out", "frame")], in_pin))
    frames(app)
    assert drawn_links() == 2 and "out.frame already has a link from adjust.frame; remove that link first" \
        in app.notice.text, app.notice.text

    # delete, undo, redo redraw the canvas
    state.delete(["adjust"])
    frames(app)
    assert drawn_nodes() == 2 and drawn_links() == 0
    state.undo()
    frames(app)
    assert drawn_nodes() == 3 and drawn_links() == 2

    # every registered node type can be added, and its inspector has a widget per param
    for cls in state.registry:
        node_id = state.add_node(cls.type_name(), app.canvas.free_spot() or app.canvas.below_all())
        frames(app, 2)
        assert app.inspector.node_id == node_id, (app.inspector.node_id, node_id)
        assert sorted(app.inspector.widgets) == sorted(cls.params), cls.type_name()
    assert drawn_nodes() == 3 + len(list(state.registry))

    # a third-party port type is drawn in its own colour: the pin, and the port's name
    from depth_nodes import DEPTH_COLOUR, DepthGuess

    state.registry.add(DepthGuess, "depth-nodes")
    node_id = state.add_node("DepthGuess", app.canvas.free_spot() or app.canvas.below_all())
    frames(app, 2)
    pin = app.canvas.nodes[node_id].ports[("out", "depth")]
    (component,) = dpg.get_item_children(dpg.get_item_theme(pin), 1)
    pin_colour = dpg.get_value(dpg.get_item_children(component, 1)[0])
    assert [round(c) for c in pin_colour[:3]] == list(DEPTH_COLOUR), pin_colour
    names = [item for group in dpg.get_item_children(pin, 1) for item in dpg.get_item_children(group, 1)]
    assert [round(c * 255) for c in dpg.get_item_configuration(names[-1])["color"][:3]] == list(DEPTH_COLOUR)

    # an inspector edit goes to the state (the widget's callback, as a user's drag would call it)
    state.selection = {"adjust"}
    app.inspector.show("adjust")
    widget, _ = app.inspector.widgets["brightness"]
    dpg.get_item_callback(widget)(widget, 42)
    frames(app)
    assert state.param_value("adjust", "brightness") == 42
    state.undo()
    frames(app)
    assert dpg.get_value(widget) == 10  # the widget follows undo

    # the palette's search hides what does not match
    app.palette.filter("pattern")
    shown = [dpg.get_item_label(b) for b, _, _ in app.palette.entries if dpg.is_item_shown(b)]
    assert shown == ["TestPattern"], shown
    app.palette.filter("")

    # viewers open cascaded, each inside the window (the 4th ran past a 720 px window's bottom), and close
    dpg.set_viewport_height(720)
    frames(app)
    for _ in range(8):
        app.open_viewer("adjust")
    frames(app)
    assert len(app.viewers) == 8
    room = (dpg.get_viewport_client_width(), dpg.get_viewport_client_height())
    for viewer in app.viewers:
        (x, y), (w, h) = dpg.get_item_pos(viewer.window), dpg.get_item_rect_size(viewer.window)
        assert x >= 0 and y >= 0 and x + w <= room[0] and y + h <= room[1], ((x, y, w, h), room)
    # the graph stays in sight beside a new viewer: at full size, one hid the whole canvas
    _, _, canvas_width, canvas_height = app.canvas.screen_rect()
    w, h = dpg.get_item_rect_size(app.viewers[0].window)
    assert w * h <= 0.4 * canvas_width * canvas_height, ((w, h), (canvas_width, canvas_height))
    app.open_viewer("pattern")
    state.remove_nodes(["adjust"])  # its viewers stayed open, showing a node that was no longer there
    frames(app)
    assert [viewer.node_id for viewer in app.viewers] == ["pattern"]
    state.undo()
    while app.viewers:
        app._close_viewer(app.viewers[0])
    dpg.set_viewport_height(900)
    frames(app)

    # a preset naming a node type nobody installed still opens: the node is drawn, in red, with
    # the ports its links use, and the run refuses with the reason
    data = json.loads((REPO / "presets" / "demo.json").read_text())
    data["nodes"][1]["type"] = "NoSuchFilter"
    unknown = Path.cwd() / "unknown.json"
    unknown.write_text(json.dumps(data))
    app.open(str(unknown))
    deadline = time.monotonic() + 10  # a run of the previous preset may still be winding down
    while time.monotonic() < deadline and "NoSuchFilter" not in app.canvas.nodes["adjust"].error_text:
        frames(app, 1)
        time.sleep(0.02)
    assert drawn_nodes() == 3 and drawn_links() == 2
    assert set(app.canvas.nodes["adjust"].ports) == {("in", "frame"), ("out", "frame")}
    assert "unknown node type 'NoSuchFilter'" in app.canvas.nodes["adjust"].error_text
    assert not state.start_run()
    app.close()
    print("canvas checks passed")


def test_save_as_asks_before_replacing_another_preset(display, tmp_path):
    run_driver(display, tmp_path, "replace", __file__)


def drive_replace() -> None:
    """Save as onto another existing preset in the real window: a modal names the file; Cancel keeps it,
    Replace saves over it. Saving onto the file open asks nothing."""
    import dearpygui.dearpygui as dpg

    mine, other = Path.cwd() / "mine.json", Path.cwd() / "other.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    other.write_text("someone else's preset")
    state, app = open_editor(mine, 1400, 900)
    app.frame()

    def prompt():
        frames(app)
        windows = [w for w in dpg.get_windows() if dpg.get_item_label(w) == "Replace file?"]
        if not windows:
            return None, {}
        items = dpg.get_item_children(windows[0], 1)
        texts = [dpg.get_value(t) for t in items if dpg.get_item_type(t).endswith("Text")]
        group = next(c for c in items if dpg.get_item_type(c).endswith("Group"))
        buttons = {dpg.get_item_label(b): b for b in dpg.get_item_children(group, 1)}
        assert dpg.get_item_configuration(windows[0])["modal"] and dpg.is_item_shown(windows[0])
        assert f"other.json already exists in {Path.cwd()}." in texts, texts
        return windows[0], buttons

    app.save_to(str(Path.cwd() / "other"))  # as the dialog gives a typed name: .json is added
    window, buttons = prompt()
    assert window is not None and sorted(buttons) == ["Cancel", "Replace"]
    dpg.get_item_callback(buttons["Cancel"])()
    assert prompt()[0] is None and other.read_text() == "someone else's preset" and state.path == mine

    app.save_to(str(other))
    window, buttons = prompt()
    dpg.get_item_callback(buttons["Replace"])()
    assert prompt()[0] is None and state.path == other and json.loads(other.read_text())["nodes"]

    app.save_to(str(other))  # the file open: saved without a question
    assert prompt()[0] is None and not state.dirty
    app.close()
    print("replace checks passed")


if __name__ == "__main__" and sys.argv[1:] == ["canvas"]:
    drive()
if __name__ == "__main__" and sys.argv[1:] == ["replace"]:
    drive_replace()
