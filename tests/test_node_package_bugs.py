"""What a node package's bugs do to a run. A node whose constructor raises stops it with a message naming the
node, in both runners: the sequential one used to end `nodegraph run --sequential` in a traceback, the
multiprocess one named only its stage ("stage s1: RuntimeError: ..."). A node that gives nothing leaves the
output after it without a frame: the run says so."""

import json

import pytest
from conftest import run_cli
from runtime_nodes import BrokenConstructor, ExitsAt, TextPreview, build, registry

from nodegraph import shm
from nodegraph.errors import RunFailed
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner

MESSAGE = ("node 'broken' (BrokenConstructor) could not be made: RuntimeError: no such attribute: self.modle; "
           "a bug in the package that provides BrokenConstructor")


def broken_graph():
    reg = registry()
    reg.add(BrokenConstructor, "tests")
    return build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 5}, "a"),
                  ("broken", "BrokenConstructor", {}, "b")],
                 ["src.frame -> broken.frame"]), reg


def test_the_sequential_runner_names_a_node_whose_constructor_raises():
    with pytest.raises(RunFailed) as raised:
        SequentialRunner(*broken_graph()).run()
    assert str(raised.value).startswith(MESSAGE)


def test_the_multiprocess_runtime_names_a_node_whose_constructor_raises():
    runtime = Runtime(*broken_graph())
    with pytest.raises(RunFailed) as raised:
        runtime.run()
    assert str(raised.value).startswith(MESSAGE)
    assert shm.segments(runtime.run_id) == []


def install_package(site, module: str, source: str, nodes: str):
    """A node package on `site` (a folder for PYTHONPATH) whose `nodegraph.nodes` entry point is `nodes`."""
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[nodegraph.nodes]\n{module} = {nodes}\n")


GIVES_NOTHING = '''
from nodegraph.node import Node
from nodegraph.types import Frame


class GivesNothing(Node):
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def process(self, frame):
        return {}
'''


@pytest.mark.parametrize("runner", [[], ["--sequential"]])
def test_a_run_whose_output_never_got_a_frame_says_so(tmp_path, runner):
    """It used to say only "done: 8 frames", exit 0, and write no file, without a word."""
    install_package(tmp_path / "site", "empty_nodes", GIVES_NOTHING, "empty_nodes:GivesNothing")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "format": "nodegraph-preset", "version": 1,
        "nodes": [{"id": "src", "type": "TestPattern", "params": {"width": 32, "height": 24, "frames": 8}},
                  {"id": "gap", "type": "GivesNothing"},
                  {"id": "out", "type": "VideoFileOutput", "params": {"path": "o.mp4"}}],
        "links": [{"from": "src.frame", "to": "gap.frame"}, {"from": "gap.frame", "to": "out.frame"}]}))
    done = run_cli("run", path, *runner, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    assert done.returncode == 0, done.stderr
    assert ("nodegraph: node 'out' (VideoFileOutput) got nothing to work on in 8 frames: gap.frame gave no value "
            "on any of them, so it wrote and showed nothing") in done.stderr
    assert not (tmp_path / "o.mp4").exists()


EXIT_MESSAGE = ("node 'exits' (ExitsAt) called sys.exit(3) on frame 2; a node raises an exception instead: a bug in "
                "the package that provides ExitsAt")


def exiting_graph(how=0):
    reg = registry()
    reg.add(ExitsAt, "tests")
    return build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 5}, "a"),
                  ("exits", "ExitsAt", {"how": how}, "b")],
                 ["src.frame -> exits.frame"]), reg


def test_the_sequential_runner_names_a_node_that_calls_sys_exit():
    """It ended `nodegraph run --sequential` with exit code 3 and no word of why."""
    with pytest.raises(RunFailed) as raised:
        SequentialRunner(*exiting_graph()).run()
    assert str(raised.value) == EXIT_MESSAGE


def test_the_multiprocess_runtime_names_a_node_that_calls_sys_exit(capfd):
    """Its stage died, was restarted to die again three times, and the resource tracker printed a traceback
    for each life."""
    runtime = Runtime(*exiting_graph())
    report = runtime.run()
    assert report.error == EXIT_MESSAGE
    assert "Traceback" not in capfd.readouterr().err
    assert shm.segments(runtime.run_id) == []


def test_the_multiprocess_runtime_names_a_node_that_raises_keyboard_interrupt(capfd):
    """A stage ignores Ctrl-C (the supervisor stops it), so a KeyboardInterrupt there is the node's own: it
    killed the stage as sys.exit() did."""
    runtime = Runtime(*exiting_graph(how=1))
    report = runtime.run()
    assert report.error == ("node 'exits' (ExitsAt) raised KeyboardInterrupt on frame 2, in a process where no "
                            "Ctrl-C comes; a node raises an exception instead: a bug in the package that provides "
                            "ExitsAt")
    assert not report.interrupted
    assert "Traceback" not in capfd.readouterr().err
    assert shm.segments(runtime.run_id) == []


@pytest.mark.parametrize("runner", [SequentialRunner, lambda graph, reg: Runtime(graph, reg, previews=True)],
                         ids=["sequential", "multiprocess"])
def test_a_preview_that_is_no_picture_shows_nothing_and_the_run_goes_on(runner):
    """A preview() returning text stopped the editor's run on its first frame ('str' object has no attribute
    'shape'); a preview that raises was already only left out."""
    reg = registry()
    reg.add(TextPreview, "tests")
    graph = build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 5}, "a"),
                   ("shown", "TextPreview", {}, "b")],
                  ["src.frame -> shown.frame"])
    run = runner(graph, reg)
    run.preview("shown")
    report = run.run()
    assert (report.frames, report.error) == (5, "")
    assert run.preview("shown") is None
