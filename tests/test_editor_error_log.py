"""The editor's log of nodes' errors on frames, from real runs read as the editor reads them (its status a few times
a second): every failing frame is counted, a new error is said in full, and the same error again is said in few
lines however many frames fail."""

import re
import time
from pathlib import Path

import pytest
from runtime_nodes import SameFault, registry
from test_cli import node, write_preset

from nodegraph.editor.files import RecentFiles
from nodegraph.editor.state import EditorState

READS_PER_S = 10  # as the editor's window reads the run's status


def logged_run(tmp_path: Path, engine: str, failing: dict, frames: int) -> tuple[list[str], int]:
    """A run of `frames` frames through the node `failing`; what the log said of it, and its error count."""
    preset = write_preset(tmp_path / f"{engine}.json", [node("src", "TestPattern", frames=frames), failing,
                                                        node("out", "NullOutput")],
                          [("src.frame", "bad.frame"), ("bad.frame", "out.frame")])
    nodes = registry()  # the tests' own: the shared default registry stays as the other tests expect it
    nodes.add(SameFault, "tests")
    state = EditorState(nodes, recent=RecentFiles(tmp_path / "recent.json"), engine=engine)
    assert state.open(preset)
    assert state.start_run(frames)
    while state.poll().active:
        time.sleep(1 / READS_PER_S)
    status = state.poll()
    assert status.state == "finished", status.message
    return [entry.text for entry in state.log if entry.node == "bad"], status.nodes["bad"].errors


def frames_in(line: str) -> int:
    """How many failing frames one log line accounts for."""
    if again := re.fullmatch(r"node 'bad' failed on (\d+) more frames?, the last frame \d+: the same error", line):
        return int(again[1])
    full = re.fullmatch(r"node 'bad' \((\w+)\) failed on frame \d+: [^()]*( \((\d+) frames? before it failed too, "
                        r"(its error|their errors) unread\))?", line)
    assert full, line
    return 1 + int(full[3] or 0)


@pytest.mark.parametrize("engine", ["sequential", "process"])
def test_the_same_error_on_every_frame_is_counted_in_a_few_lines(tmp_path, engine):
    # the log said a node's error only when its text changed: a node failing on all 150 frames with one error
    # was said once, as if it had failed on one
    said, errors = logged_run(tmp_path, engine, node("bad", "SameFault"), 150)
    assert errors > 100  # the pattern's realtime pace may drop a few
    assert re.match(r"node 'bad' \(SameFault\) failed on frame \d+: ValueError: the model refuses this frame", said[0])
    assert sum(map(frames_in, said)) == errors, said
    assert len(said) <= 10, said  # a line every 2 s at most, not one a frame


def test_every_failing_frame_is_counted_when_each_error_differs(tmp_path):
    # frames whose errors came between two reads of the status were never said
    said, errors = logged_run(tmp_path, "sequential", node("bad", "FlakyFrame", every=2), 400)
    assert errors > 100
    assert sum(map(frames_in, said)) == errors, said
