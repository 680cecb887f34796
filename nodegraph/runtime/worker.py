"""The loop a stage process runs once started (`stage_startup`: its nodes built once, the
handshake): per frame wait for the inputs of one frame id (`joins`), run the step (`step.run_step`:
the nodes in order, outputs to the rings, pictures to the preview taps), record timings; between
frames, apply control messages (param edits, stop). While it waits for a frame, a param edit is
applied at once and the last frame is replayed through the edited nodes for the previews (never to
the rings). How it ends (its inputs read to their end, its readers waited for; or the run's rings
aborted when its supervisor dies) is `stage_ending`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from .. import shm
from ..busy_watch import watching
from ..errors import InvalidInput, RunFailed, Stopped
from ..execution import STATS_EVERY_S, Previews, close_nodes, named
from ..node import Node
from ..stats import NodeStats
from ..step import Step, Values, apply_edit, read_sources, replay, run_step
from .channels import Inlet, Outlet
from .config import POLL_S, StageConfig
from .control import Control, ParentGone, StopNow
from .joins import RealtimeJoin, join_lossless
from .protocol import Done, Error, StageStats, Stats
from .stage_ending import StageEnding
from .stage_startup import StageStartup
from .tally import Tally

log = logging.getLogger("nodegraph")


def detached(value):
    """`value` with every array in it that views memory numpy does not own (a ring's slot) copied."""
    if isinstance(value, np.ndarray):
        root = value
        while isinstance(root.base, np.ndarray):
            root = root.base
        return value if root.base is None else value.copy()
    if isinstance(value, dict):
        return {key: detached(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [detached(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value


class StageWorker(StageStartup, StageEnding):
    def __init__(self, config: StageConfig, conn, tally: Tally):
        self.cfg = config
        self.tally = tally
        self.control = Control(conn)
        self.stats = {n.id: NodeStats() for n in config.nodes}
        self.steps: list[Step] = []
        self.opened: list[Node] = []
        self.sources: list[Step] = []
        self.lossless = True
        self.running = False  # in the frame loop: edits may be applied while waiting for a frame
        self.frames = 0
        self.complete = False  # the stream ran to its end: sources ran out (or the frame limit came), inputs whole
        self.last_frame_at: float | None = None  # when the latest frame was done (monotonic, system-wide)
        self.first_frame_at: float | None = None
        self.last: tuple[int, float, Values] | None = None  # the latest frame's values, for replays (previews on)
        self.latency: list[float] = []
        self.outlets: dict[tuple[str, str], Outlet] = {}
        self.inlets: list[tuple[tuple[str, str], Inlet]] = []
        self.join = RealtimeJoin([], self.read_one, self.idle)
        self.taps: dict[str, Outlet] = {}
        self.previews = Previews()
        self.last_stats = 0.0
        self.publishing: Node | None = None  # the node whose outputs go out now: a stage error meanwhile names it
        self.reading: Inlet | None = None  # the input whose packet is being read and joined: an error names its node
        # realtime drops are counted on the node that reads the stage's first input
        self.drop_node = next((n.id for n in config.nodes for _, src, port in n.inputs
                               if config.inlets and (src, port) == (config.inlets[0].node, config.inlets[0].port)),
                              None)

    # -- control ------------------------------------------------------------------

    def apply_edits(self) -> set[str]:
        """The queued param edits; returns the nodes that took theirs."""
        return {e.node_id for e in self.control.take_edits() if apply_edit(self.step_of(e.node_id), e.name, e.value)}

    def step_of(self, node_id: str) -> Step:
        return next(step for step in self.steps if step.id == node_id)

    def idle(self) -> None:
        """While the stage waits for a frame: handle control messages; a param edit is applied at once
        and, when previews are on, the latest frame runs again through the edited nodes and those they
        feed in this stage, for their previews only (the rings get nothing: outputs get no extra frame,
        and later stages show the edit from the next frame)."""
        self.control.check()
        if self.control.edits and self.running:
            edited = self.apply_edits()
            if edited and self.last is not None:
                replay(self.steps, edited, *self.last, partial(self.show, now=True))

    def sleep(self, seconds: float) -> None:
        """A node's wait (`Node.stoppable_sleep`: a paced source's), which a stop ends (Stopped): the control
        pipe is watched meanwhile, as while the stage waits for a frame."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.control.poll(min(left, POLL_S))
            except ParentGone:  # said again, and handled, once the run stops
                raise Stopped() from None
            if self.control.stop_asked:
                raise Stopped()

    def count_drops(self) -> None:
        if self.drop_node is not None:
            self.stats[self.drop_node].drops = self.join.drops

    def stats_payload(self) -> StageStats:
        self.count_drops()
        latency, self.latency = self.latency, []
        return StageStats(self.frames, {i: s.summary() for i, s in self.stats.items()}, latency, self.last_frame_at,
                          self.first_frame_at)

    def maybe_send_stats(self) -> None:
        now = time.monotonic()
        if now - self.last_stats >= STATS_EVERY_S:
            self.last_stats = now
            self.control.send(Stats(self.stats_payload()))

    # -- life -----------------------------------------------------------------------

    def main(self) -> None:
        try:
            try:
                self.load()
                self.handshake()
            except StopNow:
                close_nodes(self.opened)
                self.control.send(Done(self.stats_payload()))
                return
            except InvalidInput as e:
                close_nodes(self.opened)
                self.control.send(Error(True, str(e), e.node, tuple(getattr(e, "refusals", [(str(e), e.node)]))))
                return
            except Exception as e:
                close_nodes(self.opened)
                message = str(e) if isinstance(e, RunFailed) else f"stage {self.cfg.name}: {type(e).__name__}: {e}"
                self.control.send(Error(False, message, getattr(e, "node", None)))
                return
            positions = {node_id: i for i, node_id in enumerate(self.stats)}  # the tally's order
            with watching(self.cfg.busy_warning_s, lambda node_id: self.tally.busy(positions.get(node_id))):
                error = self.run_frames()
            self.finish(error)
        except ParentGone:
            self.abandon()
        finally:
            self.drop_nodes()
            self.close_channels()

    # -- frames ---------------------------------------------------------------------

    def first_frame(self) -> int:
        """0, or after a restart the frame after those its outputs already carry; a lossless stage without
        outputs to other stages, the frame its inputs give again (the one its dead process had not finished)."""
        if not self.cfg.resume or not self.sources:
            return 0
        done = [o.last_frame for o in self.outlets.values()]
        if done:
            start = (min(done) if self.lossless else max(done)) + 1
        elif self.lossless and self.inlets:
            start = self.frame_read_again()
        else:
            return 0
        if self.lossless:  # files: read again up to where the crashed stage had come
            for frame_id in range(start):
                for step in self.sources:
                    step.node.frame_id = frame_id
                    if step.node.process() is None:
                        return frame_id
        return start

    def run_frames(self) -> RunFailed | None:
        """The frame loop; returns why the run cannot go on (None when the stream simply ended)."""
        # realtime: a frame taken from the inputs counts as dropped, should the process die before it is done
        in_hand_at = None if self.lossless or self.drop_node is None else list(self.stats).index(self.drop_node)
        self.running, frame_id = True, 0
        try:
            frame_id = self.first_frame()
            while True:
                self.control.poll()
                if self.control.stop_asked:
                    break
                if self.control.edits:
                    self.apply_edits()
                got = self.next_frame(frame_id)
                self.reading = None
                if got is None:
                    self.complete = all(inlet.complete for _, inlet in self.inlets if inlet.ended)
                    break
                frame_id, capture_time, values = got
                if in_hand_at is not None:
                    self.count_drops()  # the packets the read skipped, too
                    self.tally.record(self.frames, self.stats.values(), in_hand_at)
                run_step(self.steps, frame_id, capture_time, values, partial(self.publish, frame_id, capture_time),
                         self.latency)
                if self.taps:
                    self.keep(frame_id, capture_time, values)
                for _, inlet in self.inlets:
                    inlet.release()
                self.frames += 1
                self.last_frame_at = time.monotonic()
                self.first_frame_at = self.first_frame_at or self.last_frame_at
                self.count_drops()
                self.tally.record(self.frames, self.stats.values())
                frame_id += 1
                self.maybe_send_stats()
        except (StopNow, Stopped, shm.RingAborted):
            pass
        except Exception as e:  # RunFailed (/dev/shm full...), or a fault of the stage: a restart repeats it
            log.debug("stage %s failed", self.cfg.name, exc_info=True)
            failure = e if isinstance(e, RunFailed) else RunFailed(
                f"stage {self.cfg.name} failed on frame {frame_id}: {type(e).__name__}: {e}")
            if self.publishing is not None:
                return named(self.publishing, failure)
            return self.at_input(self.reading, failure) if self.reading is not None else failure
        finally:
            self.running = False
        return None

    def frame_read_again(self) -> int:
        """The id of the frame a restarted lossless stage's first input gives again (0 at its end); left
        there for the join to read."""
        _, inlet = self.inlets[0]
        packet = self.read_one(inlet)
        inlet.reader.rewind()
        self.reading = None  # read, not joined: a source's error next is not this input's
        return 0 if packet.eos else packet.frame_id

    def next_frame(self, frame_id: int) -> tuple[int, float, Values] | None:
        """The values of the next frame: from this stage's sources (frame `frame_id`) and inputs."""
        if not self.sources:
            return join_lossless(self.cfg.name, self.inlets, self.read_one) if self.lossless else self.join.next()
        if not self.lossless and not self.inlets:
            frame_id = self.skip_late(frame_id)
        if self.cfg.max_frames is not None and frame_id >= self.cfg.max_frames:
            return None
        sourced = read_sources(self.sources, frame_id)
        if sourced is None:
            return None
        got = (frame_id, *sourced)
        return join_lossless(self.cfg.name, self.inlets, self.read_one, got) if self.inlets else got

    def skip_late(self, frame_id: int) -> int:
        """Realtime: when this stage fell behind its paced sources, the newest frame id every one of them has
        due (a source at a higher rate never makes the others wait for a frame of theirs not due yet); the
        frames between are dropped, counted on the source that set the pace. Otherwise `frame_id`. The end
        of a stream, or of `--frames`, is as far as it skips."""
        due = [(d, step) for step in self.sources if (d := step.node.due_frame()) is not None]
        if not due:
            return frame_id
        newest, pacing = min(due, key=lambda pair: pair[0])
        ends = [n for step in self.sources if (n := step.node.length()) is not None]
        target = min([newest, *ends] + ([self.cfg.max_frames] if self.cfg.max_frames is not None else []))
        if target <= frame_id:
            return frame_id
        pacing.stats.drops += target - frame_id
        return target

    def keep(self, frame_id: int, capture_time: float, values: Values) -> None:
        """Keep the frame's values for a replay. Lossless inputs are views into the rings, valid only
        until released, and a node may pass one on: those are copied (only when previews are on)."""
        if self.lossless:
            values = {key: detached(value) for key, value in values.items()}
        self.last = (frame_id, capture_time, values)

    def read_one(self, inlet: Inlet):
        """The next packet of one input; waits, looking at the control pipe meanwhile."""
        while True:
            self.reading = inlet  # kept once read: the join checks the packet next
            packet = inlet.read(POLL_S)
            if packet is not None:
                return packet
            self.reading = None  # an edit's error while waiting is not this input's
            self.idle()

    def at_input(self, inlet: Inlet, failure: RunFailed) -> RunFailed:
        """`failure`, met reading `inlet`, begun "node 'ID' (Type), port 'P': " for the first node of this stage
        that takes it, as validate names an input, with its `node` that node (the editor marks it)."""
        key = next(key for key, other in self.inlets if other is inlet)
        step, port = next((step, port) for step in self.steps for port, *source in step.inputs
                          if tuple(source) == key)
        failure.args = (f"node '{step.id}' ({step.node.type_name()}), port '{port}': {failure}",)
        failure.node = step.id
        return failure

    def publish(self, frame_id: int, capture_time: float, step: Step, shown: dict, ran: bool) -> None:
        """After a node ran: its outputs to the rings that other stages read, its picture to its tap."""
        node = self.publishing = step.node
        for port in node.outputs:
            outlet = self.outlets.get((step.id, port))
            if outlet is not None:
                try:
                    self.persist(partial(outlet.write, frame_id, capture_time, shown[port]))
                except TypeError as e:
                    raise RunFailed(f"node '{step.id}' ({node.type_name()}), output '{port}': {e}; it "
                                    "cannot go to another process (pin the nodes it feeds with it)", step.id) from None
        if step.id in self.taps:
            self.show(step, shown, ran)
        self.publishing = None

    def show(self, step: Step, shown: dict, ran: bool, now: bool = False) -> None:
        """The node's picture to its preview tap: when one is due, or `now`."""
        tap = self.taps.get(step.id)
        if tap is None:
            return
        picture = Previews.make(step.node, shown, ran) if now else self.previews.take(step.node, shown, ran)
        if picture is None:
            return
        try:  # a tap's packets are numbered by the tap: a replay shows a frame again
            tap.write(tap.last_frame + 1, time.monotonic(), picture)
        except shm.RingAborted:
            raise
        except Exception as e:  # a preview that cannot be shown must not stop the pipeline
            log.debug("preview of node '%s' cannot be shown: %s", step.id, e)

    def persist(self, attempt: Callable[[float], object]) -> None:
        """Call `attempt(timeout)`, a wait on rings, until it no longer raises TimeoutError, handling
        control messages in between; StopNow when the supervisor says "stop now"."""
        while True:
            try:
                attempt(POLL_S)
                return
            except TimeoutError:
                self.control.check()
