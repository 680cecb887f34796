"""A run started in the real editor window (under Xvfb) that fails, with either engine: the node it failed at is
marked red on the canvas, and the log says what went wrong as the command line says it; the toolbar's legend says
which processes the engine runs the nodes in. Run directly, this file is the window's driver
(`python tests/test_editor_run_failures.py NAME`)."""

import os
import re
import sys
import time
from pathlib import Path

import pytest
from editor_window import frames, open_editor, run_driver
from test_editor_gui import display  # noqa: F401 (a fixture)
from test_editor_models import inspector_text

REPO = Path(__file__).resolve().parent.parent
ENGINES = ("sequential", "process")

pytestmark = pytest.mark.gui


def test_a_run_that_fails_marks_the_node_it_failed_at(display, tmp_path):  # noqa: F811
    # only a set-up refusal (InvalidInput) marked its node: a refusal met while frames ran, or a node that failed to
    # start, left every node as if nothing were wrong, the node named in the log alone
    run_driver(display, tmp_path, "marked", __file__, timeout=240)


def test_a_node_s_error_on_a_frame_is_said_as_the_command_line_says_it(display, tmp_path):  # noqa: F811
    # the log said "flaky: ValueError: ...", the command line "node 'flaky' (FlakyFrame) failed on frame N: ..."
    run_driver(display, tmp_path, "frame_error", __file__, timeout=240)


def test_the_legend_says_the_sequential_engine_runs_every_node_in_one_process(display, tmp_path):  # noqa: F811
    # `nodegraph edit --sequential` showed the multiprocess plan, "processes: [1] s0 ... [2] s1 ...", but while a run
    # went on
    run_driver(display, tmp_path, "legend", __file__, timeout=240)


def test_a_one_frame_run_shows_no_fps_in_the_run_bar(display, tmp_path):  # noqa: F811
    # with one frame there is no interval to time: the bar showed the summary's "23.8 fps", one over the run's time
    run_driver(display, tmp_path, "one_frame", __file__, timeout=240)


def run_to_its_end(state, app, engine: str, preset: Path, frames_to_run: int | None = None) -> None:
    state.engine = engine
    assert state.open(preset), state.log[-1].text
    frames(app)
    assert state.start_run(frames_to_run)
    until_it_ends(state, app)


def until_it_ends(state, app) -> None:
    deadline = time.monotonic() + 90
    while (state.session.alive or state.poll().active) and time.monotonic() < deadline:
        app.frame()
    from nodegraph.editor.app import STATUS_PERIOD_S

    shown = time.monotonic() + 3 * STATUS_PERIOD_S  # the canvas reads the status that often, not every frame
    while time.monotonic() < shown:
        app.frame()


def marked(app) -> dict[str, str]:
    """The nodes drawn as failed (red, with the reason under their thumbnail): node id -> the reason."""
    from nodegraph.editor import theme

    return {node_id: view.error_text for node_id, view in app.canvas.nodes.items() if theme.ERROR in view.look}


def drive_marked() -> None:
    from fault_nodes import BrokenSetup, DyingFrame
    from runtime_nodes import BrokenClose, BrokenSink, FrameLog
    from test_cli import node, write_preset
    from test_partial_outputs import folder_to_video, pictures

    here = Path.cwd()
    pictures(here / "imgs", 3, bad=1)
    unreadable = folder_to_video(here, here / "o.mp4")
    broken_setup = write_preset(here / "setup.json", [node("src", "TestPattern", frames=5), node("bad", "BrokenSetup")],
                                [("src.frame", "bad.frame")])
    sink = write_preset(here / "sink.json", [node("src", "TestPattern", frames=20), node("sink", "BrokenSink", at=3)],
                        [("src.frame", "sink.frame")])
    closing = write_preset(here / "close.json", [node("src", "TestPattern", frames=5), node("share", "BrokenClose")],
                           [("src.frame", "share.frame")])
    # a stage of two nodes dies in one of them; its other node's file cannot be resumed, so the run stops
    dying = [node("src", "TestPattern", frames=0), node("die", "DyingFrame", after=3),
             node("log", "FrameLog", path=str(here / "frames.txt"))]
    for each, pin in zip(dying, "abb", strict=True):
        each["process"] = pin
    dies = write_preset(here / "dies.json", dying, [("src.frame", "die.frame"), ("die.frame", "log.frame")])
    state, app = open_editor(None)
    for cls in (BrokenSetup, BrokenSink, BrokenClose, DyingFrame, FrameLog):
        state.registry.add(cls, "tests")
    for engine in ENGINES:
        for preset, node_id, words in ((unreadable, "src", "not a picture OpenCV can decode"),
                                       (broken_setup, "bad", "failed to start: KeyError: 'lut'"),
                                       (sink, "sink", "the disk went away at frame "),
                                       (closing, "share", "failed to close: OSError: the network share went away"),
                                       (dies, "die", "died (killed by SIGKILL)")):
            if preset is dies and engine == "sequential":
                continue  # it would kill the editor itself
            run_to_its_end(state, app, engine, preset, 5 if preset is closing else None)  # its pattern loops
            said = state.log[-1]
            assert said.text.startswith("run failed: ") and words in said.text, (engine, said.text)
            assert said.node == node_id, (engine, said.text, said.node)
            assert list(marked(app)) == [node_id], (engine, preset.name, marked(app))
            assert words in marked(app)[node_id], (engine, marked(app))
            # the node's title names it: the reason under it does not say it again
            assert f"node '{node_id}'" not in marked(app)[node_id], (engine, marked(app))
            # the inspector says it as the run's failure: it headed it "1 problem(s) to fix before running"
            app.inspector.show(None)
            shown = inspector_text(app)
            assert "the last run failed:" in shown and f"- {node_id}:" in shown, shown
            assert "to fix before running" not in shown, shown
    print("marked checks passed")


def drive_frame_error() -> None:
    from runtime_nodes import FlakyFrame
    from test_cli import node, write_preset

    preset = write_preset(Path.cwd() / "flaky.json",
                          [node("src", "TestPattern", frames=12), node("flaky", "FlakyFrame", every=4),
                           node("out", "NullOutput")], [("src.frame", "flaky.frame"), ("flaky.frame", "out.frame")])
    state, app = open_editor(None)
    state.registry.add(FlakyFrame, "tests")
    for engine in ENGINES:
        seen = len(state.log)
        run_to_its_end(state, app, engine, preset, 12)
        assert state.log[-1].text.startswith("run finished"), (engine, state.log[-1].text)
        said = [entry.text for entry in list(state.log)[seen:] if entry.node == "flaky"]
        assert said, (engine, [entry.text for entry in list(state.log)[seen:]])
        for text in said:
            assert re.fullmatch(r"node 'flaky' \(FlakyFrame\) failed on frame (\d+): ValueError: frame \1 is not to "
                                r"my taste( \(\d+ frames? before it failed too, (its error|their errors) unread\))?",
                                text), (engine, text)
    print("frame_error checks passed")


def legend(app) -> list[str]:
    import dearpygui.dearpygui as dpg

    return [dpg.get_value(item) for item in dpg.get_item_children(app.runbar.legend, 1)]


def drive_legend() -> None:
    from editor_window import settle

    demo = REPO / "presets" / "demo.json"
    state, app = open_editor(demo)
    settle(app)
    every = "pattern, adjust, out"
    assert legend(app) == ["processes:", f"[1] main: {every}"], legend(app)
    assert state.start_run(120)
    running = ["processes:", f"[1] main (pid {os.getpid()}): {every}"]  # the editor's own
    deadline = time.monotonic() + 30  # the canvas reads the run's status 10 times a second, not every frame
    while legend(app) != running and (state.session.alive or state.poll().active) and time.monotonic() < deadline:
        app.frame()
    assert legend(app) == running, legend(app)
    until_it_ends(state, app)
    assert state.poll().state == "finished", state.poll().message
    assert legend(app) == ["processes:", f"[1] main: {every}"], legend(app)
    state.engine = "process"  # the plan the multiprocess runtime would run
    state.open(demo)
    frames(app, 10)
    assert len(legend(app)) > 2 and legend(app)[1].startswith("[1] s0: "), legend(app)
    print("legend checks passed")


def drive_one_frame() -> None:
    import dearpygui.dearpygui as dpg
    from test_cli import node, write_preset

    preset = write_preset(Path.cwd() / "one.json", [node("src", "TestPattern", width=64, height=48, frames=1),
                                                    node("out", "NullOutput")], [("src.frame", "out.frame")])
    state, app = open_editor(None)
    for engine in ENGINES:
        run_to_its_end(state, app, engine, preset, 1)  # the editor loops a source otherwise
        assert state.poll().state == "finished", (engine, state.poll().state, state.poll().message)
        shown = dpg.get_value(app.runbar.figures)
        assert "fps" not in shown and shown.startswith("latency p50") and shown.endswith(" 1 frame"), (engine, shown)
    print("one_frame checks passed")


if __name__ == "__main__" and sys.argv[1:] == ["one_frame"]:
    drive_one_frame()
if __name__ == "__main__" and sys.argv[1:] == ["legend"]:
    drive_legend()
if __name__ == "__main__" and sys.argv[1:] == ["marked"]:
    drive_marked()
if __name__ == "__main__" and sys.argv[1:] == ["frame_error"]:
    drive_frame_error()
