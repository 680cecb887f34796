"""The control messages between the supervisor and its stages: frozen dataclasses that cross a real
pipe intact, and a stage's control end that sorts them (edits queued, stops flagged, handshake kept)."""

import dataclasses
import multiprocessing as mp
import typing

import pytest

from nodegraph.node import StreamInfo
from nodegraph.runtime.control import Control, StopNow
from nodegraph.runtime.protocol import (
    Created,
    Done,
    Error,
    Failed,
    Go,
    Loaded,
    Log,
    Ready,
    SetParam,
    SourceInfo,
    StageStats,
    Start,
    Stats,
    Stop,
    ToStage,
    ToSupervisor,
)

STREAM = StreamInfo(fps=25.0, frames=100, media="clip.mp4")
STATS = StageStats(7, {"adj": {"frames": 7}}, [1.5, 2.5], 12.0)
MESSAGES = [Start(STREAM, "lossless"), Go(), SetParam("adj", "brightness", 40), Stop(), Stop(now=True),
            Loaded((SourceInfo("src", STREAM, False),)), Loaded(), Ready(), Created("ng1234a_b0g0"),
            Log(20, "hello"), Stats(STATS), Failed("the disk went away"), Done(STATS, ""), Error(True, "bad")]


def test_every_message_crosses_a_pipe_intact_and_is_frozen():
    here, there = mp.get_context("spawn").Pipe()
    for message in MESSAGES:
        here.send(message)
        assert there.recv() == message
        if dataclasses.fields(message):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(message, dataclasses.fields(message)[0].name, None)
    assert {type(m) for m in MESSAGES} == {*typing.get_args(ToStage), *typing.get_args(ToSupervisor)}  # all


def test_a_stage_queues_edits_flags_stops_and_keeps_the_handshake_message():
    supervisor, stage = mp.get_context("spawn").Pipe()
    control = Control(stage)
    supervisor.send(SetParam("adj", "brightness", 40))
    supervisor.send(SetParam("adj", "degrade", 10))
    supervisor.send(Start(STREAM, "realtime"))
    control.poll()
    assert [e.name for e in control.edits] == ["brightness", "degrade"]
    assert control.pending == Start(STREAM, "realtime")
    assert [e.value for e in control.take_edits()] == [40, 10] and control.edits == []
    supervisor.send(Go())
    assert control.wait_for(Go) == Go()
    supervisor.send(Stop())
    control.check()  # a stop after the frame: no StopNow
    assert control.stop_asked and not control.stop_now
    supervisor.send(Stop(now=True))
    with pytest.raises(StopNow):
        control.check()
    control.send(Done(STATS))
    assert supervisor.recv() == Done(STATS, "")
