"""A stage's tally: the counts a stage process writes after every frame into memory it shares with its
supervisor, read back when the process dies."""

import multiprocessing as mp

from nodegraph.runtime.tally import Tally
from nodegraph.stats import NodeStats


def _record_three_frames(tally: Tally) -> None:
    stats = [NodeStats(), NodeStats()]
    for frame in range(3):
        stats[0].record(2.0)
        stats[1].record(4.0)
        tally.record(frame + 1, stats)
    stats[1].drops = 5
    tally.record(3, stats, in_hand_at=1)
    tally.busy(1)


def test_what_a_spawned_stage_records_is_read_by_its_supervisor_once():
    tally = Tally(2)
    child = mp.get_context("spawn").Process(target=_record_three_frames, args=(tally,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    frames, counts, busy = tally.take()
    assert frames == 3 and busy == 1
    assert counts == [{"frames": 3.0, "errors": 0.0, "drops": 0.0, "total_ms": 6.0},
                      {"frames": 3.0, "errors": 0.0, "drops": 6.0, "total_ms": 12.0}]  # 5, and the frame in hand
    assert tally.take() == (0, [dict.fromkeys(counts[0], 0.0)] * 2, None)  # zeroed: nothing counts twice
