"""A node that returns an output key it does not declare is an error naming the node and the key, in
both runners (it used to count as a success while every node downstream skipped the frame). So is one
that returns something other than a dict, or a value its port does not carry (a string for a Frame: the
node it fed was blamed, frame after frame, and the run said done without writing its file)."""

import pytest
from runtime_nodes import Misspells, ReturnsAs, build, registry

from nodegraph import shm
from nodegraph.errors import RunFailed
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner

MESSAGE = "node 'typo' (Misspells) returned output 'frmae', which it does not declare (its outputs: frame)"


def typo_registry():
    reg = registry()
    reg.add(Misspells, "tests")
    return reg


def graph():
    return build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 20}, "a"),
                  ("typo", "Misspells", {}, "b"),
                  ("adj", "SlowFrame", {}, "b")],
                 ["src.frame -> typo.frame", "typo.frame -> adj.frame"])


def test_the_sequential_runner_stops_on_an_undeclared_output():
    runner = SequentialRunner(graph(), typo_registry())
    with pytest.raises(RunFailed, match="^" + MESSAGE.replace("(", r"\(").replace(")", r"\)")):
        runner.run()
    assert runner.stats["adj"].frames == 0


def test_the_multiprocess_runtime_stops_on_an_undeclared_output():
    runtime = Runtime(graph(), typo_registry())
    report = runtime.run()
    assert report.error.startswith(MESSAGE)
    assert report.nodes["adj"]["frames"] == 0
    assert shm.segments(runtime.run_id) == []


WRONG_RETURNS = [
    (0, "node 'bad' (ReturnsAs) returned a list from process(); return a dict of its outputs (frame)"),
    (1, "node 'bad' (ReturnsAs), output 'frame': process() returned a str, but a Frame port carries a numpy array"),
    (2, "node 'bad' (ReturnsAs), output 'frame': process() returned a dict, but a Frame port carries a numpy array"),
    (3, "node 'bad' (ReturnsAs) returned an int from process(); return a dict of its outputs (frame)"),
    (4, "node 'bad' (ReturnsAs), output 'frame': process() returned an int, but a Frame port carries a numpy array"),
]


def wrong_return_graph(how):
    reg = registry()
    reg.add(ReturnsAs, "tests")
    return build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 20}, "a"),
                  ("bad", "ReturnsAs", {"how": how}, "b"),
                  ("adj", "SlowFrame", {"delay_ms": 0.0}, "c")],
                 ["src.frame -> bad.frame", "bad.frame -> adj.frame"]), reg


@pytest.mark.parametrize(("how", "message"), WRONG_RETURNS)
def test_the_sequential_runner_names_a_node_that_returns_the_wrong_kind_of_value(how, message):
    runner = SequentialRunner(*wrong_return_graph(how))
    with pytest.raises(RunFailed) as raised:
        runner.run()
    assert str(raised.value).startswith(message)
    assert runner.stats["adj"].frames == runner.stats["adj"].errors == 0


@pytest.mark.parametrize(("how", "message"), WRONG_RETURNS)
def test_the_multiprocess_runtime_names_a_node_that_returns_the_wrong_kind_of_value(how, message):
    runtime = Runtime(*wrong_return_graph(how))
    report = runtime.run()
    assert report.error.startswith(message)
    assert report.nodes["adj"]["frames"] == report.nodes["adj"]["errors"] == 0
    assert shm.segments(runtime.run_id) == []
