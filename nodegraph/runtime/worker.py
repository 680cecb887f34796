"""The loop a stage process runs: build its nodes once, then per frame wait for the inputs of one
frame id, run the nodes in order, publish the outputs, record timings; between frames, apply
control messages (param edits, stop). A stage whose supervisor dies aborts the run's rings,
closes its nodes (outputs stay playable) and unlinks what it can.

Handshake with the supervisor: the stage sets up its sources and sends "stream" (or "loaded"
when it has none), gets "start" with the stream's info and the mode, sets up the other nodes,
sends "ready", waits for "go", runs, and ends with "done". At the end it reads its inputs to
their end and waits until its readers have read its outputs to theirs before it removes its
rings: a reader may open a ring only after its writer has written everything.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2

from .. import shm
from ..errors import InvalidInput, RunFailed
from ..execution import STATS_EVERY_S, Previews, call_node, call_source, close_nodes, earliest
from ..node import Node
from ..stats import NodeStats
from ..threads import set_budget
from .channels import Inlet, Outlet
from .config import POLL_S, SLOTS, TAP_SLOTS, StageConfig, buffer_suffix, tap_suffix

log = logging.getLogger("nodegraph")

JOIN_DEPTH = 16  # realtime joins keep this many recent packets per input to find a common frame id


class ParentGone(Exception):
    """The supervisor died: clean up and leave."""


class StopNow(Exception):
    """The supervisor asked every stage to stop at once."""


def stage_main(config: StageConfig, conn) -> None:
    """Entry point of a stage process (spawn-started)."""
    # Ctrl-C, and a service manager's SIGTERM to the whole process group, are the supervisor's to
    # handle: it stops the stages in order, so outputs are closed (a stage whose supervisor died
    # notices on its own)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held since the supervisor started this process
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if config.niceness and hasattr(os, "nice"):
        os.nice(config.niceness)  # first: the threads this process starts inherit it
    shm.allow_spinning(config.spin)
    log.setLevel(config.log_level)
    worker = StageWorker(config, conn)
    log.handlers[:] = [ToSupervisor(worker)]
    log.propagate = False
    worker.main()


class ToSupervisor(logging.Handler):
    """Sends this stage's log lines to the supervisor, which prints them (an announcement once per
    run, however many stages make it); to stderr once the supervisor is gone."""

    def __init__(self, worker: StageWorker):
        super().__init__()
        self.worker = worker
        self.fallback = logging.StreamHandler(sys.stderr)
        self.fallback.setFormatter(logging.Formatter("nodegraph: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.worker.send("log", record.levelno, self.format(record))
        except ParentGone:
            self.fallback.emit(record)
        except Exception:  # a bad log call must not break the node that made it
            self.handleError(record)


def import_class(module: str, qualname: str, node_id: str) -> type[Node]:
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as e:
        raise InvalidInput(f"node '{node_id}': its class {module}.{qualname} cannot be imported in a stage "
                           f"process: {type(e).__name__}: {e}") from None
    return obj


def set_thread_budget(threads: int) -> None:
    """OpenCV's threads now; onnxruntime's for the sessions this process makes later."""
    cv2.setNumThreads(threads)
    set_budget(threads)


class StageWorker:
    def __init__(self, config: StageConfig, conn):
        self.cfg, self.conn = config, conn
        self.ppid = os.getppid()
        self.nodes: dict[str, Node] = {}
        self.stats = {n.id: NodeStats() for n in config.nodes}
        self.opened: list[Node] = []
        self.sources = [n.id for n in config.nodes if n.is_source]
        self.lossless = True
        self.stop_asked = False  # end after the current frame
        self.stop_now = False  # give up every wait
        self.edits: list[tuple[str, str, object]] = []
        self.frames = 0
        self.last_frame_at: float | None = None  # when the latest frame was done (monotonic, system-wide)
        self.latency: list[float] = []
        self.join_drops = 0  # realtime joins: frames lost here (see join_realtime)
        self.outlets: dict[tuple[str, str], Outlet] = {}
        self.inlets: list[tuple[tuple[str, str], Inlet]] = []
        self.taps: dict[str, Outlet] = {}
        self.previews = Previews()
        self.history: list[dict] = []  # realtime joins, per input: frame id -> (packet, packets it stands for)
        self.passed: list[int] = []  # per input: packets brought but gone from `history` since the last join
        self.reader_drops: list[int] = []  # per input: its reader's drops, as last seen
        self.pending = None  # the handshake message waited for
        self.send_lock = threading.Lock()
        self.last_stats = 0.0
        # realtime drops are counted on the node that reads the stage's first input
        self.drop_node = next((n.id for n in config.nodes for _, src, port in n.inputs
                               if config.inlets and (src, port) == (config.inlets[0].node, config.inlets[0].port)),
                              None)

    # -- messages -------------------------------------------------------------------

    def send(self, *message) -> None:
        try:
            with self.send_lock:  # a node's own thread may log, and log lines go through here
                self.conn.send(message)
        except (OSError, EOFError):
            raise ParentGone() from None

    def poll_control(self, timeout: float = 0.0) -> None:
        """Handle what the supervisor sent; raises ParentGone when it is gone."""
        try:
            while self.conn.poll(timeout):
                timeout = 0.0
                self.handle(self.conn.recv())
        except (OSError, EOFError):
            raise ParentGone() from None
        if os.getppid() != self.ppid:
            raise ParentGone()

    def handle(self, message) -> None:
        kind = message[0]
        if kind == "param":
            self.edits.append(message[1:])
        elif kind == "stop":
            self.stop_asked = True
            self.stop_now = self.stop_now or message[1] == "now"
        else:
            self.pending = message

    def wait_for(self, kind: str):
        self.pending = None
        while True:
            self.poll_control(POLL_S)
            if self.stop_asked:
                raise StopNow()
            if self.pending is not None and self.pending[0] == kind:
                return self.pending

    def apply_edits(self) -> None:
        for node_id, name, value in self.edits:
            try:
                self.nodes[node_id].set_param(name, value)
            except InvalidInput as e:
                self.stats[node_id].record_error(str(e))
        self.edits = []

    def stats_payload(self) -> dict:
        if self.drop_node is not None:
            self.stats[self.drop_node].drops = self.inlets[0][1].drops if len(self.inlets) == 1 else self.join_drops
        latency, self.latency = self.latency, []
        return {"frames": self.frames, "nodes": {i: s.summary() for i, s in self.stats.items()},
                "latency": latency, "last_frame_at": self.last_frame_at}

    def maybe_send_stats(self) -> None:
        now = time.monotonic()
        if now - self.last_stats >= STATS_EVERY_S:
            self.last_stats = now
            self.send("stats", self.stats_payload())

    # -- life -----------------------------------------------------------------------

    def main(self) -> None:
        try:
            try:
                self.load()
                self.handshake()
            except StopNow:
                close_nodes(self.opened)
                self.send("done", self.stats_payload(), "")
                return
            except InvalidInput as e:
                close_nodes(self.opened)
                self.send("error", "invalid", str(e))
                return
            except Exception as e:
                close_nodes(self.opened)
                message = str(e) if isinstance(e, RunFailed) else f"stage {self.cfg.name}: {type(e).__name__}: {e}"
                self.send("error", "failed", message)
                return
            error = self.run_frames()
            self.finish(error)
        except ParentGone:
            self.abandon()
        finally:
            self.drop_nodes()
            self.close_channels()

    def load(self) -> None:
        set_thread_budget(self.cfg.threads)
        for nc in self.cfg.nodes:
            cls = import_class(nc.module, nc.qualname, nc.id)
            node = cls(nc.id, nc.params)
            node.base_dir = Path(nc.base_dir)
            self.nodes[nc.id] = node

    def handshake(self) -> None:
        sources = [self.nodes[i] for i in self.sources]
        for node in sources:
            self.setup(node)
        if sources:
            self.send("stream", [(n.id, n.stream_info(), n.is_live()) for n in sources])
        else:
            self.send("loaded")
        _, stream, mode = self.wait_for("start")
        self.lossless = mode == "lossless"
        for nc in self.cfg.nodes:
            node = self.nodes[nc.id]
            node.stream = stream
            if not nc.is_source:
                self.setup(node)
        self.open_channels()
        self.send("ready")
        self.wait_for("go")

    def setup(self, node: Node) -> None:
        try:
            node.setup()
        except (InvalidInput, RunFailed):
            raise
        except Exception as e:
            raise RunFailed(f"node '{node.id}' ({node.type_name()}) failed to start: {type(e).__name__}: {e}") from None
        self.opened.append(node)

    def open_channels(self) -> None:
        cfg, resume = self.cfg, self.cfg.resume

        def created(name: str) -> None:
            self.send("created", name)

        for oc in cfg.outlets:
            self.outlets[(oc.node, oc.port)] = Outlet(
                cfg.run_id, lambda g, b=oc.buffer: buffer_suffix(b, g), oc.readers, SLOTS, self.lossless,
                resume, created)
        for ic in cfg.inlets:
            self.inlets.append(((ic.node, ic.port), Inlet(
                cfg.run_id, lambda g, b=ic.buffer: buffer_suffix(b, g), ic.reader, self.lossless, resume)))
        self.history = [{} for _ in self.inlets]
        self.passed = [0] * len(self.inlets)
        self.reader_drops = [0] * len(self.inlets)
        for node_id, index in cfg.taps.items():
            self.taps[node_id] = Outlet(cfg.run_id, lambda g, i=index: tap_suffix(i, g), 1, TAP_SLOTS, False,
                                        resume, created)

    # -- frames ---------------------------------------------------------------------

    def first_frame(self) -> int:
        """0, or after a restart the frame after those its outputs already carry."""
        if not self.cfg.resume or not self.sources:
            return 0
        done = [o.last_frame for o in self.outlets.values()]
        if not done:
            return 0
        start = (min(done) if self.lossless else max(done)) + 1
        if self.lossless:  # files: read again up to where the crashed stage had come
            for frame_id in range(start):
                for node_id in self.sources:
                    node = self.nodes[node_id]
                    node.frame_id = frame_id
                    if node.process() is None:
                        return frame_id
        return start

    def run_frames(self) -> str:
        """The frame loop; returns an error message ("" when the stream simply ended)."""
        frame_id = self.first_frame()
        try:
            while True:
                self.poll_control()
                if self.stop_asked:
                    break
                if self.edits:
                    self.apply_edits()
                if self.sources:
                    if self.cfg.max_frames is not None and frame_id >= self.cfg.max_frames:
                        break
                    got = self.read_sources(frame_id)
                    if got is not None and self.inlets:
                        got = self.join_lossless(got)
                else:
                    got = self.join_lossless() if self.lossless else self.join_realtime()
                if got is None:
                    break
                frame_id, capture_time, values = got
                self.run_nodes(frame_id, capture_time, values)
                for _, inlet in self.inlets:
                    inlet.release()
                self.frames += 1
                self.last_frame_at = time.monotonic()
                frame_id += 1
                self.maybe_send_stats()
        except (StopNow, shm.RingAborted):
            pass
        except RunFailed as e:
            return str(e)
        except Exception as e:  # a fault of the stage itself: restarting would only repeat it
            log.debug("stage %s failed", self.cfg.name, exc_info=True)
            return f"stage {self.cfg.name} failed on frame {frame_id}: {type(e).__name__}: {e}"
        return ""

    def read_sources(self, frame_id: int):
        values, capture_time = {}, None
        for node_id in self.sources:
            node = self.nodes[node_id]
            try:
                outputs = call_source(node, frame_id, self.stats[node_id])
            except RunFailed:
                raise
            except Exception as e:
                raise RunFailed(f"node '{node_id}' ({node.type_name()}) failed on frame {frame_id}: "
                                f"{type(e).__name__}: {e}") from None
            if outputs is None:
                return None
            capture_time = earliest(capture_time, node.capture_time)
            values.update({(node_id, port): value for port, value in outputs.items()})
        return frame_id, capture_time, values

    def read_one(self, inlet: Inlet):
        """The next packet of one input; waits, looking at the control pipe meanwhile."""
        while True:
            packet = inlet.read(POLL_S)
            if packet is not None:
                return packet
            self.poll_control()
            if self.stop_now:
                raise StopNow()

    def join_lossless(self, sourced=None):
        """One packet per input, all of one frame id (lossless rings deliver every frame in order)."""
        values, capture_time = {}, None
        frame_id = None
        if sourced is not None:
            frame_id, capture_time, values = sourced
        for key, inlet in self.inlets:
            packet = self.read_one(inlet)
            if packet.eos:
                return None
            if frame_id is None:
                frame_id = packet.frame_id
            elif packet.frame_id != frame_id:
                names = ", ".join(f"{n}.{p}" for (n, p), _ in self.inlets)
                raise RunFailed(f"stage {self.cfg.name}: inputs {names} are out of step (frame "
                                f"{packet.frame_id} of {key[0]}.{key[1]} came with frame {frame_id})")
            capture_time = earliest(capture_time, packet.capture_time)
            values[key] = packet.value
        return frame_id, capture_time, values

    def join_realtime(self):
        """The newest frame id every input has. A realtime ring gives a lone input its newest packet;
        a join reads every packet still in its rings (oldest first) and keeps the recent ones per input.

        Drops of a join: per frame joined, the packets its sparsest input brought since the previous
        one (those its reader skipped included), less the one joined. Those are the frames lost here;
        a frame an upstream stage lost on one input's way is counted there, not again here."""
        if len(self.inlets) == 1:
            key, inlet = self.inlets[0]
            packet = self.read_one(inlet)
            return None if packet.eos else (packet.frame_id, packet.capture_time, {key: packet.value})
        waited = 0.0
        while True:
            for i, (_, inlet) in enumerate(self.inlets):
                recent = self.history[i]
                while not inlet.ended and (packet := inlet.read(0, oldest=True)) is not None:
                    skipped, self.reader_drops[i] = inlet.drops - self.reader_drops[i], inlet.drops
                    if packet.eos:
                        self.passed[i] += skipped
                        break
                    recent[packet.frame_id] = (packet, 1 + skipped)
                    if len(recent) > JOIN_DEPTH:
                        self.passed[i] += recent.pop(next(iter(recent)))[1]
            common = set(self.history[0]).intersection(*self.history[1:])
            if common:
                frame_id = max(common)
                packets = [recent[frame_id][0] for recent in self.history]
                self.join_drops += min(self.brought(n, frame_id) for n in range(len(self.inlets))) - 1
                values = {key: p.value for (key, _), p in zip(self.inlets, packets, strict=True)}
                return frame_id, min(p.capture_time for p in packets), values
            # an input that ended can still match the others with what it holds: the end comes once one
            # that ended holds nothing, or every input ended
            ended = [inlet.ended for _, inlet in self.inlets]
            if all(ended) or any(done and not recent for done, recent in zip(ended, self.history, strict=True)):
                self.join_drops += min(self.brought(n, None) for n in range(len(self.inlets)))
                return None
            time.sleep(0.001)
            waited += 0.001
            if waited >= POLL_S:
                waited = 0.0
                self.poll_control()
                if self.stop_now:
                    raise StopNow()

    def brought(self, i: int, up_to: int | None) -> int:
        """How many packets input `i` brought up to frame `up_to` (None: all) since the last join;
        forgets them."""
        recent = self.history[i]
        done = [frame_id for frame_id in recent if up_to is None or frame_id <= up_to]
        count, self.passed[i] = self.passed[i] + sum(recent.pop(frame_id)[1] for frame_id in done), 0
        return count

    def run_nodes(self, frame_id: int, capture_time: float, values: dict) -> None:
        for nc in self.cfg.nodes:
            node, stats = self.nodes[nc.id], self.stats[nc.id]
            shown, ran = None, True
            if not nc.is_source:
                node.frame_id, node.capture_time = frame_id, capture_time
                inputs = {port: values.get((src, src_port)) for port, src, src_port in nc.inputs}
                done = stats.frames
                outputs = call_node(node, inputs, stats)
                ran = stats.frames > done
                values.update({(nc.id, port): value for port, value in outputs.items()})
                if not node.outputs:
                    self.latency.append((time.monotonic() - capture_time) * 1000.0)
                    shown = inputs
            for port in node.outputs:
                outlet = self.outlets.get((nc.id, port))
                if outlet is not None:
                    try:
                        self.persist(partial(outlet.write, frame_id, capture_time, values.get((nc.id, port))))
                    except TypeError as e:
                        raise RunFailed(f"node '{nc.id}' ({node.type_name()}), output '{port}': {e}; it "
                                        "cannot go to another process (pin the nodes it feeds with it)") from None
            tap = self.taps.get(nc.id)
            if tap is not None:
                if shown is None:
                    shown = {port: values.get((nc.id, port)) for port in node.outputs}
                picture = self.previews.take(node, shown, ran)
                if picture is not None:
                    try:
                        tap.write(frame_id, capture_time, picture)
                    except shm.RingAborted:
                        raise
                    except Exception as e:  # a preview that cannot be shown must not stop the pipeline
                        log.debug("preview of node '%s' cannot be shown: %s", nc.id, e)

    def persist(self, attempt: Callable[[float], object]) -> None:
        """Call `attempt(timeout)`, a wait on rings, until it no longer raises TimeoutError, handling
        control messages in between; StopNow when the supervisor says "stop now"."""
        while True:
            try:
                attempt(POLL_S)
                return
            except TimeoutError:
                self.poll_control()
                if self.stop_now:
                    raise StopNow() from None

    # -- ending ---------------------------------------------------------------------

    def finish(self, error: str) -> None:
        """Say end-of-stream downstream, close the nodes (files get finalised), read the inputs to
        their end (their writers wait for that), wait until the readers of the outputs have read
        them to their end (they may not have opened them yet), and report."""
        if error:  # at once: the supervisor must stop the sources before this stage's inputs can end
            self.send("failed", error)
        try:
            for outlet in self.outlets.values():
                self.persist(outlet.write_eos)
        except (StopNow, shm.RingAborted):
            pass
        failures = close_nodes(self.opened)
        self.opened = []
        try:
            self.drain_inputs()
            for outlet in self.outlets.values():
                self.persist(outlet.drain)
        except (StopNow, shm.RingAborted):
            pass
        self.send("done", self.stats_payload(), "; ".join(failures))

    def drain_inputs(self) -> None:
        """Read every input to its end and release it, so its writer is never left waiting on this stage."""
        for _, inlet in self.inlets:
            inlet.release()
            while not inlet.ended:
                self.read_one(inlet)
                inlet.release()

    def abandon(self) -> None:
        """The supervisor is gone: wake every process waiting on the run's rings, close the
        nodes so outputs stay playable, and remove the run's segments."""
        for channel in [*self.outlets.values(), *(inlet for _, inlet in self.inlets)]:
            channel.abort()
        close_nodes(self.opened)
        self.drop_nodes()
        self.close_channels()
        shm.cleanup(self.cfg.run_id)

    def drop_nodes(self) -> None:
        """Let go of the nodes and what they kept of their last inputs (views into the rings), so
        the rings unmap at close."""
        self.opened = []
        self.nodes.clear()
        self.history = []
        gc.collect()

    def close_channels(self) -> None:
        for channel in [*self.outlets.values(), *(inlet for _, inlet in self.inlets), *self.taps.values()]:
            channel.close()
