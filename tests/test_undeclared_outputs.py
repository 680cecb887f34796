"""A node that returns an output key it does not declare is an error naming the node and the key, in
both runners (it used to count as a success while every node downstream skipped the frame)."""

import pytest
from runtime_nodes import Misspells, build, registry

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
