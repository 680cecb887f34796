"""How a stage gets the packets of one frame id from its inputs (rings from other stages).

Lossless: one packet per input, all of one frame id (the rings deliver every frame in order).
Realtime: the newest frame id every input has; frames lost on the way are counted as drops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import RunFailed
from ..execution import earliest
from ..shm import Packet
from .channels import Inlet
from .config import POLL_S

# A realtime join keeps at least JOIN_DEPTH recent packets per input to find a common frame id, and more, up to
# JOIN_PACKETS and JOIN_BYTES an input, while another input lags further behind (a slow branch: a frame of it
# comes a second after the same frame of the fast input, 30 packets later at 30 fps, and found that one gone)
JOIN_DEPTH = 16
JOIN_PACKETS = 128
JOIN_BYTES = 256 * 2**20

Key = tuple[str, str]  # (producer node, port)
Joined = tuple[int, float, dict[Key, Any]]  # frame id, capture time, values by (node, port)
ReadOne = Callable[[Inlet], Packet]  # the next packet of one input, waiting as long as it takes
Idle = Callable[[], None]  # called while a join waits (the stage looks at its control pipe)


def join_lossless(stage: str, inlets: list[tuple[Key, Inlet]], read_one: ReadOne,
                  sourced: Joined | None = None) -> Joined | None:
    """One packet per input, all of one frame id, added to `sourced` (what the stage's own sources
    made) when given; None at the end of the stream."""
    frame_id, capture_time, values = sourced if sourced is not None else (None, None, {})
    for key, inlet in inlets:
        packet = read_one(inlet)
        if packet.eos:
            return None
        if frame_id is None:
            frame_id = packet.frame_id
        elif packet.frame_id != frame_id:
            names = ", ".join(f"{n}.{p}" for (n, p), _ in inlets)
            raise RunFailed(f"stage {stage}: inputs {names} are out of step (frame "
                            f"{packet.frame_id} of {key[0]}.{key[1]} came with frame {frame_id})")
        capture_time = earliest(capture_time, packet.capture_time)
        values[key] = packet.value
    return frame_id, capture_time, values


class RealtimeJoin:
    """The newest frame id every input has. A realtime ring gives a lone input its newest packet; a
    join of several reads every packet still in its rings (oldest first) and keeps the recent ones
    per input.

    `drops`: per frame joined, the packets its sparsest input brought since the previous one (those
    its reader skipped included), less the one joined. Those are the frames lost here; a frame an
    upstream stage lost on one input's way is counted there, not again here. A lone input's drops
    are its reader's."""

    def __init__(self, inlets: list[tuple[Key, Inlet]], read_one: ReadOne, idle: Idle):
        self.inlets, self.read_one, self.idle = inlets, read_one, idle
        self.join_drops = 0
        self.history: list[dict] = [{} for _ in inlets]  # per input: frame id -> (packet, packets it stands for, bytes)
        self.held_bytes = [0] * len(inlets)  # per input: the bytes of the packets in `history`
        self.newest = [-1] * len(inlets)  # per input: the newest frame id it brought
        self.passed = [0] * len(inlets)  # per input: packets brought but gone from `history` since the last join
        self.reader_drops = [0] * len(inlets)  # per input: its reader's drops, as last seen

    @property
    def drops(self) -> int:
        return self.inlets[0][1].drops if len(self.inlets) == 1 else self.join_drops

    def next(self) -> Joined | None:
        if len(self.inlets) == 1:
            key, inlet = self.inlets[0]
            packet = self.read_one(inlet)
            return None if packet.eos else (packet.frame_id, packet.capture_time, {key: packet.value})
        waited = 0.0
        while True:
            self._gather()
            common = set(self.history[0]).intersection(*self.history[1:])
            if common:
                frame_id = max(common)
                packets = [recent[frame_id][0] for recent in self.history]
                self.join_drops += min(self._brought(n, frame_id) for n in range(len(self.inlets))) - 1
                values = {key: p.value for (key, _), p in zip(self.inlets, packets, strict=True)}
                return frame_id, min(p.capture_time for p in packets), values
            # an input that ended can still match the others with what it holds: the end comes once one
            # that ended holds nothing, or every input ended
            ended = [inlet.ended for _, inlet in self.inlets]
            if all(ended) or any(done and not recent for done, recent in zip(ended, self.history, strict=True)):
                self.join_drops += min(self._brought(n, None) for n in range(len(self.inlets)))
                return None
            time.sleep(0.001)
            waited += 0.001
            if waited >= POLL_S:
                waited = 0.0
                self.idle()

    def forget(self) -> None:
        """Let go of the packets kept (views into the rings), so the rings unmap at close."""
        self.history = [{} for _ in self.inlets]
        self.held_bytes = [0] * len(self.inlets)

    def _gather(self) -> None:
        brought = False
        for i, (_, inlet) in enumerate(self.inlets):
            recent = self.history[i]
            while not inlet.ended and (packet := inlet.read(0, oldest=True)) is not None:
                skipped, self.reader_drops[i] = inlet.drops - self.reader_drops[i], inlet.drops
                if packet.eos:
                    self.passed[i] += skipped
                    break
                recent[packet.frame_id] = (packet, 1 + skipped, packet.size)
                self.held_bytes[i] += packet.size
                self.newest[i] = packet.frame_id
                brought = True
        if not brought:
            return
        self._let_go_of_unmatchable()
        for i, recent in enumerate(self.history):
            while len(recent) > JOIN_DEPTH and (len(recent) > JOIN_PACKETS or self.held_bytes[i] > JOIN_BYTES):
                self._let_go(i, next(iter(recent)))

    def _let_go_of_unmatchable(self) -> None:
        """Drop the packets no other input can match any more: it brought a later frame id and no longer
        holds theirs (frame ids only grow). What a lagging input may still bring stays."""
        for i, recent in enumerate(self.history):
            others = [k for k in range(len(self.inlets)) if k != i]
            for frame_id in [f for f in recent
                             if any(self.newest[k] >= f and f not in self.history[k] for k in others)]:
                self._let_go(i, frame_id)

    def _let_go(self, i: int, frame_id: int) -> None:
        _, stands_for, size = self.history[i].pop(frame_id)
        self.passed[i] += stands_for
        self.held_bytes[i] -= size

    def _brought(self, i: int, up_to: int | None) -> int:
        """How many packets input `i` brought up to frame `up_to` (None: all) since the last join;
        forgets them."""
        recent = self.history[i]
        done = [frame_id for frame_id in recent if up_to is None or frame_id <= up_to]
        for frame_id in done:
            self._let_go(i, frame_id)  # counted in `passed`
        count, self.passed[i] = self.passed[i], 0
        return count
