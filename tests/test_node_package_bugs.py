"""A node whose constructor raises (a bug in its package) stops the run with a message naming the node, in
both runners: the sequential one used to end `nodegraph run --sequential` in a traceback, the multiprocess
one named only its stage ("stage s1: RuntimeError: ...")."""

import pytest
from runtime_nodes import BrokenConstructor, build, registry

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
