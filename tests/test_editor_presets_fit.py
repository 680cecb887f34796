"""Every preset opened in the real window at 1280x800 (Dear PyGui under Xvfb): no two nodes overlap
as drawn, problem text and all, and every node is inside the canvas.

Run directly, this file is the subprocess that drives the window (`python tests/test_editor_presets_fit.py drive`).
"""

import json
import sys
import time
from pathlib import Path

import pytest
from editor_window import REPO, open_editor, run_driver
from test_editor_gui import display  # noqa: F401  (the Xvfb fixture)

PRESETS = sorted((REPO / "presets").glob("*.json"))

pytestmark = pytest.mark.gui


def overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(rect, area) -> bool:
    return area[0] <= rect[0] and area[1] <= rect[1] and \
        rect[0] + rect[2] <= area[0] + area[2] and rect[1] + rect[3] <= area[1] + area[3]


def test_every_preset_opens_at_1280x800_with_no_node_over_another_and_all_in_the_canvas(display, tmp_path):  # noqa: F811
    run_driver(display, tmp_path, "presets", __file__, timeout=180)
    drawn = json.loads((tmp_path / "drawn.json").read_text())
    assert sorted(drawn) == sorted([p.stem for p in PRESETS] + [
        "two_faces after a run", "video_swap collapsed", "video_swap opened again"])
    for name, (canvas, rects, zoom) in drawn.items():
        # neural_swap, seven columns of nodes in one row, fits 0.4 only with its outlines touching the canvas's sides
        assert len(rects) >= 3 and zoom >= (0.35 if name == "neural_swap" else 0.4), (name, zoom)
        for node_id, rect in rects.items():
            assert rect[2] > 0 and rect[3] > 0, f"{name}: {node_id} was not drawn"
            assert inside(rect, canvas), f"{name}: {node_id} at {rect} is not inside the canvas {canvas}"
        placed = sorted(rects.items())
        for i, (a, rect_a) in enumerate(placed):
            for b, rect_b in placed[i + 1:]:
                assert not overlaps(rect_a, rect_b), f"{name}: {a} {rect_a} overlaps {b} {rect_b}"


def drive() -> None:
    state, app = open_editor(None)
    drawn = {}

    def settle(name):
        for _ in range(200):
            app.frame()
            if not app.view.fitting:
                break
        assert not app.view.fitting, f"{name}: still fitting after 200 frames"
        deadline = time.monotonic() + 0.5  # several status reads later: the text they bring changes nothing
        for frame in range(1000):
            if frame >= 30 and time.monotonic() > deadline and not app.view.fitting:
                break
            app.frame()
            time.sleep(0.02)
        drawn[name] = (app.canvas.screen_rect(), app.canvas.node_rects(), app.canvas.zoom)

    for path in PRESETS:
        app.open(str(path))  # as File > Open does: fit, laid out again where too big to read
        settle(path.stem)
    # nodes that grow after the fit are fitted (and laid out) again: Auto layout with every node
    # collapsed, then every node opened
    app.open(str(REPO / "presets" / "video_swap.json"))
    settle("video_swap")
    app.canvas.set_collapsed(list(state.graph.nodes), True)
    app.view.relayout()  # View > Auto layout
    settle("video_swap collapsed")
    app.canvas.set_collapsed(list(state.graph.nodes), False)
    refitted = False
    for _ in range(30):
        app.frame()
        refitted |= app.view.fitting
    assert refitted, "opening the collapsed nodes did not fit the graph again"
    settle("video_swap opened again")
    # once the user has panned, the view is theirs: a node that grows then moves nothing
    app.view.pan(120, 0)
    for _ in range(12):
        app.frame()
    app.canvas.set_collapsed(["swapper"], True)
    for _ in range(30):
        app.frame()
        assert not app.view.fitting, "the view was fitted again after the user panned"
    # a run's stats make nodes wider (text shrinks less than the zoom): the widest graph, after a run
    app.open(str(REPO / "presets" / "two_faces.json"))
    settle("two_faces")
    assert state.start_run(frames=20)
    deadline = time.monotonic() + 120
    while state.running and time.monotonic() < deadline:
        app.frame()
        time.sleep(0.02)
    assert not state.running, "the run did not finish in 120 s"
    app.view.watch_now()
    settle("two_faces after a run")
    assert all(" ms" in view.stats_text for view in app.canvas.nodes.values()), "the nodes show no run stats"
    app.close()
    Path("drawn.json").write_text(json.dumps(drawn))
    print("presets checks passed")


if __name__ == "__main__" and sys.argv[1:] == ["presets"]:
    sys.path.insert(0, str(REPO))
    drive()
