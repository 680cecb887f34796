"""The problem text drawn on a node, in the real window under Xvfb: broken into lines between words, never
inside one.

Run directly, this file is the subprocess that drives the window (`python tests/test_editor_node_text.py drive`).
"""

import subprocess
import sys
from pathlib import Path

import pytest
from test_editor_gui import display, gui_env  # noqa: F401  (the Xvfb fixture)

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.gui


def test_problem_text_on_a_node_breaks_between_words(display, tmp_path):  # noqa: F811
    result = subprocess.run([sys.executable, __file__, "drive"], cwd=tmp_path, env=gui_env(display, tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "node text checks passed" in result.stdout


def drive() -> None:
    import dearpygui.dearpygui as dpg

    from nodegraph.editor.app import EditorApp
    from nodegraph.editor.files import RecentFiles
    from nodegraph.editor.node_text import shortened
    from nodegraph.editor.state import EditorState

    state = EditorState(recent=RecentFiles(Path.cwd() / "recent.json"), engine="sequential")
    assert state.open(REPO / "presets" / "neural_swap.json")  # its models are not installed: problems on 3 nodes
    app = EditorApp(state, width=1280, height=720)  # the smallest zoom, the narrowest lines
    app.build()
    for _ in range(200):
        app.frame()
        if not app.view.fitting:
            break
    for _ in range(5):
        app.frame()
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


if __name__ == "__main__" and sys.argv[1:] == ["drive"]:
    sys.path.insert(0, str(REPO))
    drive()
