"""TestPattern's frame counter, the number a user reads off the demo's video."""

from nodegraph.node import make_node
from nodegraph.registry import default_registry


def test_the_frame_counter_reads_over_the_dark_end_of_the_ramp():
    # it was black on the ramp's black end: "000100" was hard to make out in out/demo.mp4
    pattern = make_node(default_registry().get("TestPattern"), "pattern", {"frames": 200})
    pattern.setup()
    pattern.frame_id = 100
    frame = pattern.process()["frame"]
    height = frame.shape[0]
    counter = frame[height - 60: height - 10, 10:190]  # six digits over the ramp's first 190 of 640 columns
    assert frame[height - 5, 10:190].max() < 80  # the ramp there: dark
    assert (counter.min(axis=2) > 200).sum() > 500  # the digits: white
