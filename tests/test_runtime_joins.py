"""The joins of a stage's inputs, on real shared-memory rings: lossless (one frame id from every
input, out of step is an error naming them) and realtime (the newest common frame id, frames lost
counted)."""

import numpy as np
import pytest

from nodegraph import codec, shm
from nodegraph.errors import RunFailed
from nodegraph.runtime.channels import Inlet, Outlet
from nodegraph.runtime.joins import RealtimeJoin, join_lossless


def frame(n):
    return np.full((4, 6, 3), n, np.uint8)


@pytest.fixture
def rings():
    """(outlets, inlets keyed by producer port) of two rings, in the mode asked for."""
    run_id = shm.new_run_id()
    made = []

    def make(lossless):
        outlets = [Outlet(run_id, lambda g, i=i: f"j{i}g{g}", 1, 4, lossless) for i in range(2)]
        inlets = [(("a", "frame"), Inlet(run_id, lambda g: f"j0g{g}", 0, lossless)),
                  (("b", "frame"), Inlet(run_id, lambda g: f"j1g{g}", 0, lossless))]
        made.extend([*outlets, *(inlet for _, inlet in inlets)])
        return outlets, inlets

    yield make
    for channel in made:
        channel.close()
    shm.cleanup(run_id)
    assert shm.segments(run_id) == []


def read_one(inlet):
    packet = inlet.read(5.0)
    assert packet is not None
    return packet


def test_a_lossless_join_gives_one_frame_id_from_every_input(rings):
    (a, b), inlets = rings(True)
    for n in range(2):
        a.write(n, 10.0 + n, frame(n))
        b.write(n, 9.0 + n, frame(100 + n))
    for n in range(2):
        frame_id, capture_time, values = join_lossless("s1", inlets, read_one)
        assert (frame_id, capture_time) == (n, 9.0 + n)  # as old as its oldest input
        assert values[("a", "frame")][0, 0, 0] == n and values[("b", "frame")][0, 0, 0] == 100 + n
        for _, inlet in inlets:
            inlet.release()
    a.write(2, 0.0, frame(2))
    b.write(3, 0.0, frame(3))
    with pytest.raises(RunFailed, match=r"stage s1: inputs a.frame, b.frame are out of step "
                                        r"\(frame 3 of b.frame came with frame 2\)"):
        join_lossless("s1", inlets, read_one)


def test_a_lossless_join_adds_the_stages_own_sources_and_ends_with_the_stream(rings):
    (a, b), inlets = rings(True)
    a.write(5, 3.0, frame(5))
    b.write(5, 4.0, frame(6))
    sourced = (5, 2.0, {("src", "frame"): frame(1)})
    frame_id, capture_time, values = join_lossless("s1", inlets, read_one, sourced)
    assert (frame_id, capture_time, len(values)) == (5, 2.0, 3)
    for _, inlet in inlets:
        inlet.release()
    a.write_eos()
    b.write_eos()
    assert join_lossless("s1", inlets, read_one) is None


def test_a_realtime_join_takes_the_newest_common_frame_and_counts_what_was_lost(rings):
    (a, b), inlets = rings(False)
    for n in range(4):
        a.write(n, float(n), frame(n))
    for n in (2, 3):
        b.write(n, float(n) - 0.5, frame(100 + n))
    idled = []
    join = RealtimeJoin(inlets, read_one, lambda: idled.append(1))
    frame_id, capture_time, values = join.next()
    assert (frame_id, capture_time) == (3, 2.5)
    assert values[("a", "frame")][0, 0, 0] == 3 and values[("b", "frame")][0, 0, 0] == 103
    assert join.drops == 1  # b, the sparser input, brought frames 2 and 3: frame 2 was lost here
    a.write_eos()
    b.write_eos()
    assert join.next() is None


def test_a_stage_process_whose_inputs_come_out_of_step_names_the_node_and_port_that_take_them():
    # "stage s1: inputs a.frame, b.frame are out of step (...)" marked no node and named no port. This test is
    # the stage's supervisor and the two stages before it: it writes frame 0 on one input and frame 1 on the other
    from nodegraph.node import StreamInfo
    from nodegraph.runtime.config import InletConfig, NodeConfig, StageConfig, buffer_suffix
    from nodegraph.runtime.protocol import Done, Failed, Go, Loaded, Ready, Start
    from nodegraph.runtime.stages import spawn
    from nodegraph.runtime.tally import Tally

    run_id = shm.new_run_id()
    mix = NodeConfig("mix", "nodes.compose", "FrameCompose", {}, ".",
                     (("frame", "a", "frame"), ("second_frame", "b", "frame")), False)
    config = StageConfig(run_id, "s1", 1, (mix,), (InletConfig(0, 0, "a", "frame"), InletConfig(1, 0, "b", "frame")),
                         (), {}, None, 30)
    outlets = [Outlet(run_id, lambda g, i=i: buffer_suffix(i, g), 1, 4, True) for i in range(2)]
    process, conn = spawn(config, Tally(1), needs_main=False)
    said = []

    def next_of(kind):
        while not isinstance(message := conn.recv(), kind):
            said.append(message)
        return message

    try:
        next_of(Loaded)
        conn.send(Start(StreamInfo(), "lossless"))
        next_of(Ready)
        conn.send(Go())
        for outlet, frame_id in zip(outlets, (0, 1), strict=True):
            outlet.write(frame_id, 0.0, frame(frame_id))
            outlet.write_eos()
        failed = next_of(Failed)
        next_of(Done)
        process.join(10)
    finally:
        process.kill()
        for outlet in outlets:
            outlet.close()
        shm.cleanup(run_id)
    assert failed == Failed("node 'mix' (FrameCompose), port 'second_frame': stage s1: inputs a.frame, b.frame are "
                            "out of step (frame 1 of b.frame came with frame 0)", "mix"), said


def test_a_realtime_join_weighs_what_it_holds_by_the_bytes_the_rings_gave_each_packet(rings):
    """The bytes a join holds per input (bounded by JOIN_BYTES) come from the ring's own length of each
    packet, which the writer measured once, not from measuring every packet again as it is read."""
    (a, b), inlets = rings(False)
    faces = [{"box": np.arange(4.0), "score": 0.9, "crop": np.zeros((8, 8, 3), np.uint8), "name": "x"}]
    for n in range(3):
        a.write(n, float(n), frame(n))
        b.write(n, float(n), faces)
    packet = inlets[1][1].read(5.0, oldest=True)
    assert packet.size == codec.encoded_size(faces)
    join = RealtimeJoin(inlets, read_one, lambda: None)
    join._gather()  # frames 1 and 2 of each: b's frame 0 was read above, so a's can match nothing and goes
    assert join.held_bytes == [2 * codec.encoded_size(frame(0)), 2 * codec.encoded_size(faces)]
