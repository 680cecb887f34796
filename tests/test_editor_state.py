"""The editor's state, driven without a screen: edits, links checked by type, undo/redo, and live param
changes reaching a running pipeline (its files: test_editor_files.py)."""

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from nodegraph.editor.files import RecentFiles
from nodegraph.editor.layout import COLUMN_GAP, NODE_WIDTH, auto_layout
from nodegraph.editor.session import STAGE_NICENESS
from nodegraph.editor.state import EditorState
from nodegraph.graph import Graph, Link
from nodegraph.node import Node
from nodegraph.params import Int
from nodegraph.registry import Registry, load_registry
from nodegraph.types import Frame, Mask

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "presets" / "media"


class BrightMask(Node):
    """The pixels brighter than a threshold, as a mask (a node with a Mask output, for type checks)."""

    category = "Select"
    inputs = {"frame": Frame}
    outputs = {"mask": Mask}
    params = {"threshold": Int(0, 255, default=128)}

    def process(self, frame):
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return {"mask": (grey > self.threshold).astype(np.float32)}


class FailsOnOddFrames(Node):
    """Raises on every odd frame (to see a node's errors reach the editor)."""

    category = "Colour"
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def process(self, frame):
        if self.frame_id % 2:
            raise ValueError(f"frame {self.frame_id} is odd")
        return {"frame": frame}


@pytest.fixture
def registry():
    registry = Registry()
    registry.add_all(load_registry(third_party=False).types.values(), "built-in")
    registry.add(BrightMask, "tests")
    registry.add(FailsOnOddFrames, "tests")
    return registry


@pytest.fixture
def state(registry, tmp_path):
    return EditorState(registry, recent=RecentFiles(tmp_path / "recent.json"))


def small_chain(state, frames=0, realtime=True):
    """pattern -> adjust -> out (a video file in the state's temporary folder)."""
    src = state.add_node("TestPattern", (0, 0))
    state.set_param(src, "width", 160)
    state.set_param(src, "height", 120)
    state.set_param(src, "frames", frames)
    state.set_param(src, "realtime", realtime)
    adjust = state.add_node("FrameAdjuster", (300, 0))
    out = state.add_node("VideoFileOutput", (600, 0))
    state.set_param(out, "path", str(state.recent.store.parent / "out.mp4"))
    assert state.add_link(src, "frame", adjust, "frame") is None
    assert state.add_link(adjust, "frame", out, "frame") is None
    return src, adjust, out


def test_add_link_delete_undo_redo(state):
    src = state.add_node("TestPattern", (10, 20))
    adjust = state.add_node("FrameAdjuster", (300, 20))
    assert state.selection == {adjust}
    assert state.add_link(src, "frame", adjust, "frame") is None
    assert state.graph.links == [Link(src, "frame", adjust, "frame")]
    assert state.dirty

    state.delete([adjust])
    assert list(state.graph.nodes) == [src] and state.graph.links == []
    assert adjust not in state.selection

    assert state.undo()
    assert list(state.graph.nodes) == [src, adjust]
    assert state.graph.links == [Link(src, "frame", adjust, "frame")]
    assert state.undo()  # the link
    assert state.graph.links == []
    assert state.redo() and state.redo()
    assert list(state.graph.nodes) == [src]
    assert not state.redo()

    for _ in range(4):  # delete, link, add, add
        assert state.undo()
    assert state.graph.nodes == {} and not state.dirty and not state.undo()


def test_incompatible_link_is_refused_naming_both_types(state):
    src = state.add_node("TestPattern", (0, 0))
    mask = state.add_node("BrightMask", (300, 0))
    out = state.add_node("VideoFileOutput", (600, 0))
    other = state.add_node("TestPattern", (0, 200))
    assert state.add_link(src, "frame", mask, "frame") is None
    before = state.graph.copy()

    message = state.add_link(mask, "mask", out, "frame")
    assert message is not None
    assert "gives Mask" in message and "takes Frame" in message and f"{mask}.mask" in message
    assert state.graph == before  # nothing changed, and nothing to undo for it
    assert state.log[-1].level == "error" and state.log[-1].text == message

    assert state.add_link(src, "frame", mask, "frame") == f"{mask}.frame already has this link from {src}.frame"
    taken = state.add_link(other, "frame", mask, "frame")
    assert taken == (f"{mask}.frame already has a link from {src}.frame; remove that link first (click it and "
                     "press Delete, or Ctrl+click it and drag it away)"), taken
    state.undo()
    assert state.graph.links == []


def test_cycle_and_unknown_port_are_refused(state):
    a = state.add_node("FrameAdjuster", (0, 0))
    b = state.add_node("FrameAdjuster", (300, 0))
    assert state.add_link(a, "frame", b, "frame") is None
    assert "cycle" in state.add_link(b, "frame", a, "frame")
    assert "no output 'picture'" in state.add_link(a, "picture", b, "frame")


def test_param_changes_are_validated_and_undo_as_one_step(state):
    adjust = state.add_node("FrameAdjuster", (0, 0))
    refused = state.set_param(adjust, "brightness", 999)
    assert "out of range" in refused and "brightness" in refused
    assert "brightness" not in state.graph.nodes[adjust].params

    for value in (10, 20, 30, 40):  # a slider drag
        assert state.set_param(adjust, "brightness", value) is None
    assert state.param_value(adjust, "brightness") == 40
    state.undo()
    assert state.param_value(adjust, "brightness") == 0
    state.redo()
    assert state.param_value(adjust, "brightness") == 40
    assert state.history.undo_label == f"set {adjust}.brightness"


def test_auto_layout_places_nodes_by_depth_and_keeps_given_positions(registry):
    graph = Graph()
    for node_id in ("c", "a", "b"):
        graph.add_node("FrameAdjuster" if node_id != "a" else "TestPattern", node_id=node_id)
    graph.add_node("TestPattern", node_id="placed", pos=(5, 7))
    graph.add_link(Link("a", "frame", "b", "frame"))
    graph.add_link(Link("b", "frame", "c", "frame"))
    assert sorted(auto_layout(graph)) == ["a", "b", "c"]
    xs = {n: graph.nodes[n].pos[0] for n in "abc"}
    step = NODE_WIDTH + COLUMN_GAP
    assert xs["b"] - xs["a"] == step and xs["c"] - xs["b"] == step
    assert graph.nodes["placed"].pos == (5, 7)
    assert all(graph.nodes[n].pos[1] > 7 for n in "abc")  # below what was already placed


def test_a_graph_with_problems_does_not_run_and_says_why(state):
    state.add_node("FrameAdjuster", (0, 0))
    assert not state.start_run()
    texts = [e.text for e in state.log]
    assert any("required input (Frame) is not connected" in t for t in texts)
    assert "frame_adjuster1" in state.problems()


def test_node_errors_reach_the_state(state):
    src = state.add_node("TestPattern", (0, 0))
    for name, value in (("width", 64), ("height", 48), ("frames", 6)):
        state.set_param(src, name, value)
    failing = state.add_node("FailsOnOddFrames", (300, 0))
    state.add_link(src, "frame", failing, "frame")
    state.engine = "sequential"  # the test's node class lives in this module
    state.loop = False  # six frames, not a loop until Stop
    assert state.start_run()
    assert state.session.join(30)
    status = state.poll()
    assert status.state == "finished", status.message
    assert status.nodes[failing].errors == 3
    assert "frame 5 is odd" in status.nodes[failing].last_error
    assert any(e.node == failing and e.level == "error" and "is odd" in e.text for e in state.log)


def mean_preview(state, node_id):
    picture = state.session.preview(node_id)
    return None if picture is None else float(picture.mean())


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("engine", ["process", "sequential"])
def test_param_change_during_a_run_changes_the_output_without_a_restart(state, engine):
    src, adjust, out = small_chain(state)
    state.engine = engine
    assert state.start_run()
    try:
        wait_for(lambda: state.poll().state == "running" and mean_preview(state, adjust) is not None)
        pids = state.session.pids()
        dark = wait_for(lambda: mean_preview(state, adjust))
        assert state.set_param(adjust, "brightness", 120) is None
        bright = wait_for(lambda: (m := mean_preview(state, adjust)) is not None and m > dark + 40 and m)
        assert bright > dark + 40
        state.undo()  # undo reaches the pipeline too
        wait_for(lambda: (m := mean_preview(state, adjust)) is not None and m < dark + 20)
        assert state.session.pids() == pids  # the same stage processes: nothing was restarted
        if engine == "process":
            assert len(pids) >= 1 and all(pid != 0 for pid in pids.values())
            if hasattr(os, "getpriority"):  # the stages yield the CPU to the window
                ours = os.getpriority(os.PRIO_PROCESS, 0)
                assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in pids.values()} == \
                    {min(19, ours + STAGE_NICENESS)}
        assert state.poll().state == "running"
    finally:
        state.stop_run()
        assert state.session.join(30)
    status = state.poll()
    assert status.state == "stopped", status.message
    assert status.nodes[adjust].errors == 0


def test_a_node_shows_its_first_problem_and_how_many_more_in_one_line():
    # several problems were joined and cut at 70 characters: the second one never showed, nor that it existed
    from nodegraph.editor.node_text import shortened
    line = shortened(["model: " + "x" * 100, "recogniser: missing"])
    assert len(line) <= 70 and line.startswith("model: xxx") and line.endswith("... (+1 more)")
    assert shortened(["short"]) == "short" and shortened([]) == ""


def test_a_node_s_problem_is_cut_between_words():
    # it was cut at 70 characters inside a word: "... (hyperswap_1a_256.onnx) is not i..."
    from nodegraph.editor.node_text import shortened
    problem = "model 'hyperswap_1a_256' (hyperswap_1a_256.onnx) is not installed (looked in /root/models)"
    for problems in ([problem], [problem, "recogniser: missing"]):
        line = shortened(problems)
        kept = line.split("...")[0]
        assert len(line) <= 70 and problem.startswith(kept) and problem[len(kept)] == " ", line




def test_a_problem_names_its_param_once(state, isolated_models):
    # a missing model on the param `model` read "model: model 'hyperswap_1a_256' (...) is not installed"
    swapper = state.add_node("HyperSwapper", (0, 0))
    texts = state.problems()[swapper]
    assert any(t.startswith("model 'hyperswap_1a_256' (hyperswap_1a_256.onnx) is not installed") for t in texts), texts
    assert any(t.startswith("recogniser: model 'arcface_w600k_r50'") for t in texts), texts  # another param's name
    assert not any("model: model" in t for t in texts), texts


def test_a_model_not_installed_is_fetched_from_the_file_menu_in_the_editor(state, isolated_models):
    # the node said "fetch it with `nodegraph models fetch hyperswap_1a_256`": a terminal, where the editor's File menu
    # fetches it; the command line keeps its words
    swapper = state.add_node("HyperSwapper", (0, 0))
    texts = state.problems()[swapper]
    for name in ("hyperswap_1a_256", "arcface_w600k_r50"):
        said = next(t for t in texts if f"model '{name}'" in t)
        assert "; File > Fetch missing models downloads it, or place the file by hand in " in said, said
        assert "nodegraph models fetch" not in said, said
    assert not state.start_run()
    refusals = [entry.text for entry in state.log if entry.node == swapper]
    assert refusals and not any("nodegraph models fetch" in t for t in refusals), refusals
    assert any("File > Fetch missing models downloads it" in t for t in refusals), refusals
    cli = [str(p) for p in state.graph.validate(state.registry) if p.node == swapper]
    assert any("fetch it with `nodegraph models fetch hyperswap_1a_256`" in t for t in cli), cli
