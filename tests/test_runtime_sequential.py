"""The in-process runner's side of what the editor reads: previews made in the run thread and kept,
the base preview on frames a node did not process, and live stats in the runtime's shape."""

import signal
import threading
import time
from typing import ClassVar

import numpy as np
import pytest
from runtime_nodes import build, registry

from nodegraph.editor.session import make_runner
from nodegraph.errors import InvalidInput
from nodegraph.execution import PREVIEW_FPS, frame_total, stream_of
from nodegraph.node import Node, StreamInfo
from nodegraph.params import Float, Int
from nodegraph.runner import NodeSnapshot, RunSnapshot, StageSnapshot
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner
from nodegraph.types import Frame
from nodes.sources import TestPattern


class Inverts(Node):
    """Inverts the frame after `delay_ms`; its preview shows the frame it kept, and it fails on frame `fail_at`."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"delay_ms": Float(0.0, 1000.0, default=0.0), "fail_at": Int(-1, 1000, default=-1)}
    preview_threads: ClassVar[list[int]] = []

    def process(self, frame):
        if self.frame_id == self.fail_at:
            raise ValueError("not this one")
        time.sleep(self.delay_ms / 1000.0)
        self.kept = frame
        return {"frame": 255 - frame}

    def preview(self, outputs):
        Inverts.preview_threads.append(threading.get_ident())
        return self.kept.copy()


def chain(frames: int, **inverts):
    reg = registry()
    reg.add(Inverts, "tests")
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": frames}),
                   ("inv", "Inverts", inverts)], ["src.frame -> inv.frame"])
    return graph, reg


def test_previews_are_made_in_the_run_thread_at_the_preview_rate_and_kept():
    graph, reg = chain(60, delay_ms=8.0)  # about half a second
    runner = SequentialRunner(graph, reg)
    Inverts.preview_threads.clear()
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    seen = []
    while thread.is_alive():
        picture = runner.preview("inv")
        if picture is not None and (not seen or picture is not seen[-1]):
            seen.append(picture)
        time.sleep(0.002)
    thread.join()
    run_thread = thread.ident
    assert Inverts.preview_threads and set(Inverts.preview_threads) == {run_thread}
    elapsed = runner.report.elapsed_s
    # one picture per preview period at most, each made once however often it was asked for (a busy
    # poller may miss some, so it can see fewer pictures than were made, never more)
    made = len(Inverts.preview_threads)
    assert 2 <= len(seen) <= made <= elapsed * PREVIEW_FPS + 2
    assert runner.preview("inv") is runner.preview("inv")


def test_a_frame_the_node_did_not_process_shows_what_passed_through():
    """Its preview would draw what it kept from frame 3; the picture is frame 4, which passed through."""
    graph, reg = chain(5, fail_at=4)
    runner = SequentialRunner(graph, reg)
    report = runner.run()
    assert report.nodes["inv"]["errors"] == 1
    pattern = TestPattern("p", {"width": 64, "height": 48, "frames": 5})
    pattern.setup()
    frames = []
    for frame_id in (3, 4):
        pattern.frame_id = frame_id
        frames.append(pattern.process()["frame"])
    assert np.array_equal(runner._steps["inv"].node.kept, frames[0])
    assert np.array_equal(runner.preview("inv"), frames[1])


def test_both_runners_give_typed_snapshots_of_one_shape():
    graph, reg = chain(3)
    runner = SequentialRunner(graph, reg)
    runner.run()
    seq = runner.snapshot()
    mp = Runtime(build([("src", "TestPattern", {"frames": 3}), ("inv", "FrameAdjuster", {})],
                       ["src.frame -> inv.frame"]), registry()).snapshot()
    assert isinstance(seq, RunSnapshot) and isinstance(mp, RunSnapshot)
    assert set(seq.nodes) == set(mp.nodes) == {"src", "inv"}
    assert all(isinstance(n, NodeSnapshot) for n in [*seq.nodes.values(), *mp.nodes.values()])
    assert all(isinstance(s, StageSnapshot) for s in [*seq.stages.values(), *mp.stages.values()])
    assert (seq.frames, seq.running, seq.nodes["inv"].frames, seq.nodes["inv"].stage) == (3, False, 3, "main")
    assert seq.stages["main"].nodes == ("src", "inv") and seq.stages["main"].state == "done"
    assert (mp.frames, mp.running, mp.nodes["inv"].frames) == (0, False, 0)


def test_the_in_process_runner_refuses_realtime_mode():
    graph, reg = chain(3)
    with pytest.raises(InvalidInput, match="no realtime mode"):
        make_runner(graph, reg, frames=None, mode="realtime", engine="sequential")
    assert isinstance(make_runner(graph, reg, frames=None, mode=None, engine="sequential"), SequentialRunner)


def test_the_stream_and_the_frame_total_of_a_run():
    infos = [StreamInfo(None, 50, None), StreamInfo(25.0, None, "a.mp4"), StreamInfo(30.0, 40, "b.mp4")]
    stream, again = stream_of(infos), stream_of(infos)
    assert (stream.fps, stream.frames, stream.media) == (25.0, 40, "a.mp4")
    assert len(stream.run) == 12 and stream.run != again.run  # each run its own token
    assert (stream_of([]).fps, stream_of([]).frames, stream_of([]).media) == (None, None, None)
    assert [frame_total(StreamInfo(frames=f), m) for f, m in ((40, None), (40, 10), (None, 10), (None, None))] \
        == [40, 10, 10, None]


def test_a_second_ctrl_c_while_outputs_close_interrupts_but_leaves_the_runner_finished():
    """The first signal stops the run after its frame; a second one during the closing raises
    KeyboardInterrupt, and still the runner has ended and our own handlers are back."""
    from fault_nodes import InterruptedTwice

    reg = registry()
    reg.add(InterruptedTwice, "tests")
    graph = build([("src", "TestPattern", {"width": 32, "height": 24, "frames": 0}),
                   ("twice", "InterruptedTwice", {"at": 3})],
                  ["src.frame -> twice.frame"])
    # Python's own Ctrl-C handler, as in a terminal: started in the background by a shell without job
    # control, pytest inherits SIGINT ignored, and nothing would interrupt the closing
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ours = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        runner = SequentialRunner(graph, reg)
        with pytest.raises(KeyboardInterrupt):
            runner.run()
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == ours
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert runner.report.interrupted and runner.report.frames == 4
    assert not runner.snapshot().running
