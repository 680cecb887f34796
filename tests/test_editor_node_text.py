"""The problem text drawn on a node and in the inspector, in the real window under Xvfb: broken into lines
between words, never inside one.

Run directly, this file is the subprocess that drives the window (`python tests/test_editor_node_text.py drive`).
"""

import sys
import time

import pytest
from editor_window import REPO, frames, open_editor, run_driver, settle
from test_editor_gui import display  # noqa: F401  (the Xvfb fixture)

pytestmark = pytest.mark.gui


def test_problem_text_on_a_node_breaks_between_words(display, tmp_path):  # noqa: F811
    run_driver(display, tmp_path, "node text", __file__)


def test_problems_and_descriptions_in_the_inspector_break_between_words(display, tmp_path):  # noqa: F811
    # Dear PyGui wrapped them inside words, after a '.' or a '/': '(arcface_w600k_r50.' / 'onnx)'
    run_driver(display, tmp_path, "inspector", __file__)


def test_log_messages_and_tooltips_break_between_words(display, tmp_path):  # noqa: F811
    # Dear PyGui wrapped them inside words: '(looked in /root/.' / 'local/share/nodegraph/models'
    run_driver(display, tmp_path, "log", __file__)


def test_a_node_s_problems_tooltip_is_readable_at_the_smallest_zoom(display, tmp_path):  # noqa: F811
    # it took the node's font: 8 px at the zoom neural_swap fits in at 1000x720
    from test_editor_clicks import run_driver as run_clicking_driver

    run_clicking_driver(display, tmp_path, "tooltip", __file__)


def neural_swap(width: int = 1280):
    """The editor on neural_swap at `width`x720, fitted: its models are not installed, so 3 nodes have problems."""
    state, app = open_editor(REPO / "presets" / "neural_swap.json", width, 720)  # a small zoom: narrow lines
    settle(app)
    return state, app


def drive() -> None:
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.node_text import shortened

    state, app = neural_swap()
    problems = state.problems()
    shown = {n: view for n, view in app.canvas.nodes.items() if view.error_text}
    assert {"swapper", "mask", "enhancer"} <= set(shown), sorted(shown)
    for node_id, view in shown.items():
        lines = dpg.get_value(view.error).split("\n")
        assert " ".join(lines) == shortened(problems[node_id]), (node_id, lines)  # whole words, none left out
        drawn_width = dpg.get_item_rect_size(view.error)[0]
        for line in lines:  # a line wider than the text as drawn is broken again by Dear PyGui, inside a word
            assert dpg.get_text_size(line, font=app.canvas.font)[0] <= drawn_width + 0.5, (node_id, line, drawn_width)
        assert len(lines) > 1 and drawn_width <= 2 * app.canvas.thumb_size()[0], (node_id, lines, drawn_width)
    app.close()
    print("node text checks passed")


def drive_inspector() -> None:
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.app import STATUS_PERIOD_S

    state, app = neural_swap()
    every = [f"- {node_id}: {text}" for node_id, texts in state.problems().items() for text in texts]
    every.append(state.graph.description)  # it names a model 'gfpgan_1.4': '...gfpgan_1.' / '4:'
    assert_broken_between_words(app, every)
    dpg.set_viewport_width(1000)  # a narrower inspector (its share of the window): broken again at its width
    frames_for(app, 3 * STATUS_PERIOD_S)  # the texts follow the width at the next status refresh
    assert_broken_between_words(app, every)
    state.selection = {"swapper"}
    frames(app, 5)
    doc = " ".join(state.registry.get(state.graph.nodes["swapper"].type).describe()["doc"].split())
    assert_broken_between_words(app, [doc, *state.problems()["swapper"]])
    # the problems follow the params with a separator between, not a blank line too (an empty text for a run's
    # figures stood there: 47 px from the last param to the first problem)
    last_param = app.inspector.widgets["provider"][0]
    first_problem = dpg.get_item_children(app.inspector.problems, 1)[0]
    gap = dpg.get_item_rect_min(first_problem)[1] - dpg.get_item_rect_max(last_param)[1]
    assert 0 < gap <= 24, gap
    app.close()
    print("inspector checks passed")


def drive_log() -> None:
    """The log's messages at 1000x720 (the models' folders in them), and the tooltips: the palette's, a param's and
    a node's problems'."""
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.theme import ITEM_SPACING

    state, app = neural_swap(1000)
    messages = [dpg.get_item_children(entry, 1)[1] for entry in app.log_panel.entries()]
    width = dpg.get_available_content_region(app.log_panel.window)[0] - dpg.get_text_size("00:00:00")[0] \
        - ITEM_SPACING[0]
    assert [dpg.get_value(m).replace("\n", " ") for m in messages] == [entry.text for entry in state.log]
    for message in messages:
        lines = dpg.get_value(message).split("\n")
        for line in lines:
            assert dpg.get_text_size(line)[0] <= width, (line, width)
        # drawn in as many lines as it holds: Dear PyGui broke none again
        assert dpg.get_item_rect_size(message)[1] == dpg.get_text_size(dpg.get_value(message))[1], lines
    assert sum("\n" in dpg.get_value(m) for m in messages) >= 4, "the models' messages are not broken at all"
    state.selection = {"swapper"}
    frames(app, 5)
    tips = {item: dpg.get_item_configuration(item)["wrap"] for item in dpg.get_all_items()
            if dpg.get_item_type(item).endswith("mvText") and dpg.get_item_type(dpg.get_item_parent(item)).endswith(
                "mvTooltip")}
    tips = {item: wrap for item, wrap in tips.items() if wrap > 0}  # those Dear PyGui would break
    where = [window for window in (app.palette.window, app.inspector.window, app.canvas.window)
             for item in tips if is_inside(item, window)]
    assert set(where) == {app.palette.window, app.inspector.window, app.canvas.window}, where
    for item, wrap in tips.items():
        lines = dpg.get_value(item).split("\n")
        assert all(dpg.get_text_size(line)[0] <= wrap for line in lines if " " in line), lines
    assert sum("\n" in dpg.get_value(item) for item in tips) >= 10
    app.close()
    print("log checks passed")


def drive_tooltip() -> None:
    """The pointer on a node's problem text at a small zoom: its tooltip is in the panels' font."""
    import dearpygui.dearpygui as dpg
    from xtest_pointer import Pointer

    state, app = neural_swap(1000)
    assert app.canvas.zoom < 0.6, app.canvas.zoom
    pointer = Pointer(lambda n: frames(app, n))
    view = app.canvas.nodes["mask"]  # one drawn wholly in view
    (left, top), right = dpg.get_item_rect_min(view.error), dpg.get_item_rect_max(view.error)[0]
    pointer.xtst.XTestFakeMotionEvent(pointer.display, -1, int((left + right) / 2), int(top + 3), 0)  # no click
    pointer.x11.XFlush(pointer.display)
    frames(app, 10)
    assert dpg.is_item_shown(view.error_tip) and dpg.get_item_rect_size(view.error_tip)[1] > 0, "no tooltip shown"
    text = dpg.get_value(view.error_tip)
    # at the smallest zoom the node shows its first problem's first words: the tooltip has the whole
    from nodegraph.editor.node_text import OVERVIEW_LINES

    shown = dpg.get_value(view.error).split("\n")
    said = " ".join(shown).removesuffix("...")
    assert len(shown) <= OVERVIEW_LINES and state.problems()["mask"][0].startswith(said) and len(said) > 30, shown
    assert text.replace("\n", " ").startswith(state.problems()["mask"][0]), text
    line_px = dpg.get_item_rect_size(view.error_tip)[1] / (text.count("\n") + 1)
    ui_line_px = dpg.get_text_size("Ag")[1]  # the panels' font
    assert line_px >= ui_line_px - 1, (line_px, ui_line_px)
    assert line_px > 1.5 * dpg.get_text_size("Ag", font=app.canvas.font)[1], line_px  # not the node's tiny font
    app.close()
    print("tooltip checks passed")


def frames_for(app, seconds: float) -> None:
    """Frames for `seconds`: what the editor does every STATUS_PERIOD_S, not every frame, has been done."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.frame()


def assert_broken_between_words(app, wanted: list[str]) -> None:
    """The inspector shows each of the texts `wanted` in lines broken at spaces, each of several words within its width,
    where Dear PyGui breaks none of them again (it breaks only a word wider than a line: the models' folder)."""
    import dearpygui.dearpygui as dpg

    texts = {dpg.get_value(item).replace("\n", " "): item for item in dpg.get_all_items()
             if dpg.get_item_type(item).endswith("mvText") and is_inside(item, app.inspector.window)}
    width = dpg.get_available_content_region(app.inspector.window)[0]
    for text in wanted:
        assert text in texts, (text, sorted(texts))
        lines = dpg.get_value(texts[text]).split("\n")
        assert len(lines) > 1, lines
        for line in lines:
            assert " " not in line or dpg.get_text_size(line)[0] <= width, (line, width)


def is_inside(item, window) -> bool:
    import dearpygui.dearpygui as dpg

    while item:
        if item == window:
            return True
        item = dpg.get_item_parent(item)
    return False


if __name__ == "__main__" and sys.argv[1:2]:
    sys.path.insert(0, str(REPO))
    {"node text": drive, "inspector": drive_inspector, "log": drive_log, "tooltip": drive_tooltip}[sys.argv[1]]()
