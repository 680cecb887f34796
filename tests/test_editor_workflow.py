"""A user's whole job in the editor, clicked and typed for real through XTest (see test_editor_clicks.py):
values typed into the inspector, the refused-link notice, the file dialogs. Run directly, this file is the
editor's process (`python tests/test_editor_workflow.py typed`)."""

import shutil
import sys
from pathlib import Path

import pytest
from editor_window import settle
from test_editor_clicks import REPO, editor, faults, rect, run_driver
from test_editor_gui import display  # noqa: F401 (a fixture)

pytestmark = pytest.mark.gui


def test_a_value_typed_into_a_slider_is_the_value_the_node_gets(display, tmp_path):  # noqa: F811
    # Ctrl+click on a slider and 9999 typed: the node got 99 (a keystroke on the way) and the slider showed 9999;
    # an emptied path was refused, but its field stayed empty
    run_driver(display, tmp_path, "typed", __file__)


def test_the_note_on_a_refused_link_does_not_take_the_next_drag(display, tmp_path):  # noqa: F811
    # the note, a window at the mouse, covered the next pin: a drag from it panned the graph out of view
    run_driver(display, tmp_path, "notice", __file__)


def test_the_note_on_a_refused_link_stays_on_the_canvas(display, tmp_path):  # noqa: F811
    # refused at a pin near the canvas's right edge, the note covered the inspector's text beside it
    run_driver(display, tmp_path, "notice_room", __file__)


def test_a_link_into_a_linked_input_is_refused_saying_how_to_remove_the_first(display, tmp_path):  # noqa: F811
    # the note said "keep one" and not how: here its steps are followed, and the second link goes in
    run_driver(display, tmp_path, "input_taken", __file__)


def test_the_log_shows_its_top_message_whole_when_messages_wrap(display, tmp_path):  # noqa: F811
    # scrolled to the newest message, the log showed a message sliced through at its top edge
    run_driver(display, tmp_path, "log_lines", __file__)


def test_a_file_dialog_gives_the_file_chosen_or_nothing(display, tmp_path):  # noqa: F811
    # OK with demo.mkv in the dialog gave demo.mp4 (the first type's extension put in its place), a file picked
    # under "all files" came back as demo.*, and OK with no file chosen opened ".json"
    run_driver(display, tmp_path, "dialog", __file__)


def test_escape_answers_a_question_as_its_cancel_does(display, tmp_path):  # noqa: F811
    # Escape left "Unsaved changes" and "Replace file?" open: only a click on Cancel closed them
    run_driver(display, tmp_path, "questions", __file__)


def test_delete_pressed_in_a_live_viewer_deletes_nothing_behind_it(display, tmp_path):  # noqa: F811
    # the viewer covered the canvas, and Delete deleted the selected node hidden behind it
    run_driver(display, tmp_path, "viewer", __file__)


def test_a_live_viewer_opened_after_the_run_shows_the_node_s_last_picture(display, tmp_path):  # noqa: F811
    # the node's thumbnail held the run's last picture, but its viewer, opened by a double-click, stayed black
    run_driver(display, tmp_path, "late_viewer", __file__)


def test_a_live_viewer_without_a_picture_says_how_to_get_one(display, tmp_path):  # noqa: F811
    # opened before a run, the viewer was an empty box that said nothing
    run_driver(display, tmp_path, "viewer_hint", __file__)


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


def pin(app, node_id: str, kind: str, port: str) -> tuple[float, float]:
    """Where a port's pin is drawn: on the node's left edge for an input, its right edge for an output (a node's
    rect starts inside its 8 px padding)."""
    import dearpygui.dearpygui as dpg

    row = dpg.get_item_children(app.canvas.nodes[node_id].ports[(kind, port)], 1)[0]
    y = (dpg.get_item_rect_min(row)[1] + dpg.get_item_rect_max(row)[1]) / 2
    x, _, width, _ = app.canvas.node_rects()[node_id]
    return (x - 8, y) if kind == "in" else (x + width - 8, y)


def drive_notice() -> None:
    from nodegraph.graph import Link

    state, app, pointer = editor(REPO / "presets" / "video_swap.json")
    state.remove_links([Link("source", "frame", "merger", "frame"), Link("merger", "frame", "output", "frame")])
    settle(app, 300)
    pointer.drag(pin(app, "detector", "out", "faces"), pin(app, "merger", "in", "frame"))  # Faces into a Frame
    assert "gives Faces but 'merger.frame' takes Frame" in state.log[-1].text, state.log[-1].text
    drawn = {node_id: rect[:2] for node_id, rect in app.canvas.node_rects().items()}
    pointer.drag(pin(app, "merger", "out", "frame"), pin(app, "output", "in", "frame"))  # that pin is under the note
    assert {node_id: rect[:2] for node_id, rect in app.canvas.node_rects().items()} == drawn, app.canvas.node_rects()
    assert Link("merger", "frame", "output", "frame") in state.graph.links and faults(state) == []
    app.close()
    print("notice checks passed")


def drive_notice_room() -> None:
    import dearpygui.dearpygui as dpg

    state, app, pointer = editor(REPO / "presets" / "video_swap.json")
    settle(app, 300)
    left, top, width, height = app.canvas.screen_rect()
    rightmost = max(app.canvas.node_rects(), key=lambda node_id: app.canvas.node_rects()[node_id][0])
    pointer.drag(pin(app, "detector", "out", "faces"), pin(app, rightmost, "in", "frame"))  # Faces into a Frame
    assert "takes Frame" in app.notice.text, app.notice.text
    box = next(i for i in dpg.get_item_children(app.notice.layer, 2) if dpg.get_item_type(i).endswith("DrawRect"))
    (x0, y0), (x1, y1) = (dpg.get_item_configuration(box)[corner][:2] for corner in ("pmin", "pmax"))
    assert left <= x0 and x1 <= left + width and top <= y0 and y1 <= top + height, ((x0, y0, x1, y1),
                                                                                     app.canvas.screen_rect())
    assert faults(state) == []
    app.close()
    print("notice_room checks passed")


def drive_input_taken() -> None:
    from nodegraph.graph import Link

    state, app, pointer = editor(REPO / "presets" / "demo.json")
    settle(app, 300)
    taken = Link("adjust", "frame", "out", "frame")
    pointer.drag(pin(app, "pattern", "out", "frame"), pin(app, "out", "in", "frame"))
    assert app.notice.text == ("out.frame already has a link from adjust.frame; remove that link first (click it "
                               "and press Delete, or Ctrl+click it and drag it away)"), app.notice.text
    (x0, y0), (x1, y1) = pin(app, "adjust", "out", "frame"), pin(app, "out", "in", "frame")
    on_link = ((x0 + x1) / 2, (y0 + y1) / 2)  # a link's curve passes through the middle of its pins
    pointer.click((on_link, on_link))
    pointer.key("Delete")
    assert taken not in state.graph.links, state.graph.links
    pointer.hold("Control_L", lambda: pointer.key("z"))
    assert taken in state.graph.links, state.graph.links
    pointer.hold("Control_L", lambda: pointer.drag(on_link, (on_link[0], on_link[1] + 120)))  # the other way
    assert taken not in state.graph.links, state.graph.links
    pointer.drag(pin(app, "pattern", "out", "frame"), pin(app, "out", "in", "frame"))
    assert Link("pattern", "frame", "out", "frame") in state.graph.links and faults(state) == [], state.log[-1].text
    app.close()
    print("input_taken checks passed")


def drive_log_lines() -> None:
    import dearpygui.dearpygui as dpg

    state, app, pointer = editor(REPO / "presets" / "demo.json")
    panel = app.log_panel
    steps = [(wraps, 1280) for wraps in (0, 0, 0, 3, 0, 3, 1, 0, 2)] + [(None, 700), (None, 1280)]
    for wraps, width in steps:  # then the window narrowed and widened: the messages wrap anew
        if wraps is not None:
            state.say("the node's message, long enough to wrap at the log's right edge " * (1 + 2 * wraps), "error")
        dpg.set_viewport_width(width)
        pointer.frames(8)
        top = dpg.get_item_state(panel.window)["pos"][1] + 1  # under its border (the main window is at 0, 0)
        bottom = top + dpg.get_item_rect_size(panel.window)[1] - 2
        messages = [entry for entry in dpg.get_item_children(panel.window, 1)
                    if dpg.get_item_type(entry).endswith("Group")]  # a message: its time and text
        shown = [(dpg.get_item_rect_min(entry)[1], dpg.get_item_rect_max(entry)[1]) for entry in messages]
        assert not [(y0, y1) for y0, y1 in shown if y0 < top < y1], (wraps, top, shown)  # none sliced at the top
        assert shown[-1][1] <= bottom, (wraps, bottom, shown)  # the newest whole
    assert faults(state) == []
    app.close()
    print("log_lines checks passed")


def click_ok(pointer) -> None:
    """The file dialog's OK button: the dialog (760x460) is centred in the window, OK at its bottom left."""
    import dearpygui.dearpygui as dpg

    left = (dpg.get_viewport_client_width() - 760) // 2
    top = (dpg.get_viewport_client_height() - 460) // 2
    pointer.click(((left + 18, top + 434), (left + 28, top + 444)))


def drive_dialog() -> None:
    import dearpygui.dearpygui as dpg

    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    (Path.cwd() / "out").mkdir()
    state, app, pointer = editor(mine)
    pointer.hold("Control_L", lambda: pointer.key("o"))
    click_ok(pointer)  # nothing chosen: nothing opened, and nothing said
    assert state.path == mine and [entry.text for entry in state.log][-1] == f"opened {mine}", state.log[-1].text
    pointer.hold("Control_L", lambda: pointer.key("o"))
    escape_closes_the_file_dialog(pointer)  # as its Cancel does
    state.set_param("out", "path", "out/demo.mkv")
    select(app, pointer, "out")
    field = app.inspector.widgets["path"][0]
    pointer.click(rect(dpg.get_item_children(dpg.get_item_parent(field), 1)[1]))  # "..." beside the field
    offered = [dpg.get_item_configuration(item)["extension"] for item in dpg.get_all_items()
               if dpg.get_item_type(item).endswith("FileExtension")]
    click_ok(pointer)
    assert state.param_value("out", "path") == "out/demo.mkv" and faults(state) == [], state.param_value("out", "path")
    assert ".*" not in offered, offered  # under it, the dialog gave NAME.*
    saved = mine.read_bytes()
    pointer.hold("Shift_L", lambda: pointer.hold("Control_L", lambda: pointer.key("s")))  # Save as
    escape_closes_the_file_dialog(pointer)
    assert state.dirty and mine.read_bytes() == saved and faults(state) == []
    app.close()
    print("dialog checks passed")


def escape_closes_the_file_dialog(pointer) -> None:
    import dearpygui.dearpygui as dpg

    def shown() -> int:
        return sum(dpg.get_item_type(item).endswith("mvFileDialog") and dpg.is_item_shown(item)
                   for item in dpg.get_all_items())

    assert shown() == 1
    pointer.key("Escape")
    assert shown() == 0, "Escape left the file dialog open"


def drive_questions() -> None:
    from nodegraph.editor.dialogs import confirm_kept_changes

    mine, other, link = (Path.cwd() / name for name in ("demo.json", "other.json", "link.json"))
    shutil.copy(REPO / "presets" / "demo.json", mine)
    other.write_text("someone else's preset")
    link.symlink_to(mine)
    state, app, pointer = editor(link)
    state.set_param("adjust", "brightness", 33)
    pointer.hold("Control_L", lambda: pointer.key("n"))  # New, over unsaved changes
    escape_answers_cancel(pointer, "Unsaved changes")
    assert state.path == link and state.dirty and "adjust" in state.graph.nodes
    app.save_to(str(other))
    escape_answers_cancel(pointer, "Replace file?")
    assert other.read_text() == "someone else's preset" and state.path == link
    pointer.hold("Control_L", lambda: pointer.key("s"))  # Save, through a link
    escape_answers_cancel(pointer, "Save through a link?")
    assert link.is_symlink() and mine.read_bytes() == (REPO / "presets" / "demo.json").read_bytes() and state.dirty
    answers = []
    confirm_kept_changes("demo.json", "today", lambda: answers.append("recover"), lambda: answers.append("discard"))
    pointer.key("Escape")  # no answer is safe there: it stays until one is clicked
    assert questions_shown() == ["Unsaved changes kept"] and answers == [] and faults(state) == []
    app.close()
    print("questions checks passed")


def questions_shown() -> list[str]:
    import dearpygui.dearpygui as dpg

    return [dpg.get_item_label(window) for window in dpg.get_windows()
            if dpg.get_item_configuration(window).get("modal") and dpg.is_item_shown(window)]


def escape_answers_cancel(pointer, title: str) -> None:
    assert questions_shown() == [title], questions_shown()
    pointer.key("Escape")
    assert questions_shown() == [], f"Escape left '{title}' open"


def drive_viewer() -> None:
    import dearpygui.dearpygui as dpg

    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    select(app, pointer, "adjust")
    app.open_viewer("pattern")
    pointer.frames(3)
    viewer = app.viewers[0]
    pointer.click(rect(viewer.image))
    assert dpg.is_item_focused(viewer.window)
    pointer.key("Delete")
    assert "adjust" in state.graph.nodes and faults(state) == []
    app._close_viewer(viewer)
    select(app, pointer, "adjust")  # the canvas again: Delete deletes the selection
    pointer.key("Delete")
    assert "adjust" not in state.graph.nodes and faults(state) == []
    app.close()
    print("viewer checks passed")


def drive_late_viewer() -> None:
    import time

    import numpy as np

    from nodegraph.editor.thumbnails import VIEWER_SIZE, blank_rgba

    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    assert state.start_run(frames=3)
    deadline = time.monotonic() + 60
    while state.running and time.monotonic() < deadline:
        pointer.frames(1)
    pointer.frames(10)
    assert not state.running and app.pump.updates.get("adjust"), app.pump.updates
    x, y, w, _ = app.canvas.node_rects()["adjust"]
    pointer.double_click((x + w / 2, y + 8))  # its title bar
    pointer.frames(10)
    assert [viewer.node_id for viewer in app.viewers] == ["adjust"]
    shown = app.viewers[0].buffer
    assert np.abs(shown - blank_rgba(VIEWER_SIZE)).max() > 0.2  # the test pattern's colours, not the empty box
    assert faults(state) == []
    app.close()
    print("late_viewer checks passed")


def drive_viewer_hint() -> None:
    import time

    import dearpygui.dearpygui as dpg

    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    x, y, w, _ = app.canvas.node_rects()["adjust"]
    pointer.double_click((x + w / 2, y + 8))  # its title bar
    pointer.frames(5)
    viewer = app.viewers[0]
    hint = dpg.get_value(viewer.hint)
    assert dpg.is_item_shown(viewer.hint) and "F5" in hint, hint
    for width in (None, 300):  # narrowed, it cut the hint off at its right edge
        if width is not None:
            dpg.set_item_width(viewer.window, width)
            pointer.frames(5)
        (left, top), (right, bottom) = dpg.get_item_rect_min(viewer.image), dpg.get_item_rect_max(viewer.image)
        (hint_left, hint_top), (hint_right, hint_bottom) = (dpg.get_item_rect_min(viewer.hint),
                                                            dpg.get_item_rect_max(viewer.hint))
        assert left <= hint_left and hint_right <= right and top <= hint_top and hint_bottom <= bottom, \
            (width, (left, top, right, bottom), (hint_left, hint_top, hint_right, hint_bottom))
    select(app, pointer, "adjust")  # the canvas has the keys again
    pointer.key("F5")  # what the hint says to do
    deadline = time.monotonic() + 60
    while not viewer.pictured and time.monotonic() < deadline:
        pointer.frames(1)
    pointer.frames(3)
    assert state.running and viewer.pictured and not dpg.is_item_shown(viewer.hint), state.log[-1].text
    state.stop_run()
    while state.running and time.monotonic() < deadline:
        pointer.frames(1)
    assert faults(state) == []
    app.close()
    print("viewer_hint checks passed")


DRIVERS = {"typed": drive_typed, "notice": drive_notice, "dialog": drive_dialog, "viewer": drive_viewer,
           "late_viewer": drive_late_viewer, "notice_room": drive_notice_room,
           "log_lines": drive_log_lines, "viewer_hint": drive_viewer_hint,
           "input_taken": drive_input_taken, "questions": drive_questions}

if __name__ == "__main__" and sys.argv[1:2] and sys.argv[1] in DRIVERS:
    DRIVERS[sys.argv[1]]()
