"""A node that does not return from a frame is said, naming the node and the frame, while the run goes on
waiting for it (nothing can interrupt a Python thread safely): it used to leave the run silent, its
progress stopped, until Ctrl-C."""

import logging

import pytest
from runtime_nodes import build, registry

from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner

SAID = ("node 'slow' (SlowFrame) has been on frame 0 for ",
        " s and has not returned: it may hang; Ctrl-C stops the run (press it again if the node still does not return)")


def slow_graph():
    return build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 3}, "a"),
                  ("slow", "SlowFrame", {"delay_ms": 1500.0}, "b")],
                 ["src.frame -> slow.frame"])


@pytest.mark.parametrize("runner", [SequentialRunner, Runtime])
def test_a_node_long_on_one_frame_is_said_and_its_own_pace_after_that_is_not(runner, caplog):
    caplog.set_level(logging.WARNING, logger="nodegraph")
    report = runner(slow_graph(), registry(), busy_warning_s=0.8).run()
    assert report.frames == 3 and not report.error
    said = [r.getMessage() for r in caplog.records if "has not returned" in r.getMessage()]
    assert said[0].startswith(SAID[0]) and said[0].endswith(SAID[1]), said
    # frames 1 and 2 take what frame 0 took: a slow node (a swapper on a CPU), not a hung one
    assert len(said) == 1, said


def test_a_node_quicker_than_the_limit_is_not_said(caplog):
    caplog.set_level(logging.WARNING, logger="nodegraph")
    graph = slow_graph()
    graph.set_param("slow", "delay_ms", 100.0)
    SequentialRunner(graph, registry(), busy_warning_s=0.8).run()
    assert not [r for r in caplog.records if "has not returned" in r.getMessage()]
