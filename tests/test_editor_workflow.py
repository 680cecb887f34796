"""A user's whole job in the editor, clicked and typed for real through XTest (see test_editor_clicks.py):
values typed into the inspector, the refused-link notice, the file dialogs. Run directly, this file is the
editor's process (`python tests/test_editor_workflow.py typed`)."""

import shutil
import sys
from pathlib import Path

import pytest
from test_editor_clicks import REPO, editor, faults, rect, run_driver
from test_editor_gui import display  # noqa: F401 (a fixture)

pytestmark = pytest.mark.gui


def test_a_value_typed_into_a_slider_is_the_value_the_node_gets(display, tmp_path):  # noqa: F811
    # Ctrl+click on a slider and 9999 typed: the node got 99 (a keystroke on the way) and the slider showed 9999;
    # an emptied path was refused, but its field stayed empty
    run_driver(display, tmp_path, "typed", __file__)


def select(app, pointer, node_id: str) -> None:
    """A click on the node's title bar."""
    x, y, _, _ = app.canvas.node_rects()[node_id]
    pointer.click(((x + 10, y - 4), (x + 30, y + 2)))
    assert app.inspector.node_id == node_id, app.inspector.node_id


def type_into_slider(pointer, widget, text: str) -> None:
    """Ctrl+click turns a slider into a text field; the text replaces its value."""
    pointer.hold("Control_L", lambda: pointer.click(rect(widget)))
    pointer.hold("Control_L", lambda: pointer.key("a"))
    pointer.type(text)
    pointer.key("Return")


def drive_typed() -> None:
    import dearpygui.dearpygui as dpg

    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    select(app, pointer, "adjust")
    widget = app.inspector.widgets["brightness"][0]
    type_into_slider(pointer, widget, "9999")
    pointer.frames(3)
    assert state.param_value("adjust", "brightness") == 255 and dpg.get_value(widget) == 255, \
        (state.param_value("adjust", "brightness"), dpg.get_value(widget))
    type_into_slider(pointer, widget, "-12")
    pointer.frames(3)
    assert state.param_value("adjust", "brightness") == -12 and dpg.get_value(widget) == -12
    select(app, pointer, "out")  # its path emptied: refused (a file is needed), and the field shows the path again
    field = app.inspector.widgets["path"][0]
    pointer.click(rect(field))
    pointer.hold("Control_L", lambda: pointer.key("a"))
    pointer.key("BackSpace")
    pointer.key("Return")
    pointer.frames(3)
    assert state.param_value("out", "path") == "out/demo.mp4" and dpg.get_value(field) == "out/demo.mp4", \
        dpg.get_value(field)
    assert faults(state) == []
    app.close()
    print("typed checks passed")


DRIVERS = {"typed": drive_typed}

if __name__ == "__main__" and sys.argv[1:2] and sys.argv[1] in DRIVERS:
    DRIVERS[sys.argv[1]]()
