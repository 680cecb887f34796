"""How a stage process starts, its side of the handshake in `protocol`: its nodes' classes imported
and made (thread budget first), the sources set up and said to the supervisor (`Loaded`), the
`Start` taken, the other nodes set up, the rings and preview taps opened (`Ready`), then `Go` awaited.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2

from ..errors import InvalidInput
from ..execution import timed_setup
from ..node import Node, make_node
from ..setup_refusals import raise_refusals, set_up_each
from ..step import Step
from ..threads import set_budget
from .channels import Inlet, Outlet
from .config import SLOTS, TAP_SLOTS, buffer_suffix, tap_suffix
from .joins import RealtimeJoin
from .protocol import Created, Go, Loaded, Ready, SourceInfo, Start
from .setup_end import endable


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


class StageStartup:
    """The start of `worker.StageWorker`, its base class: it fills the worker's steps, sources,
    opened, lossless, outlets, inlets, join and taps."""

    def load(self) -> None:
        set_thread_budget(self.cfg.threads)
        for nc in self.cfg.nodes:
            cls = import_class(nc.module, nc.qualname, nc.id)
            node = make_node(cls, nc.id, nc.params)
            node.base_dir = Path(nc.base_dir)
            node.stoppable_sleep = self.sleep
            self.steps.append(Step(nc.id, node, self.stats[nc.id], nc.inputs))
        self.sources = [step for step in self.steps if step.is_source]

    def handshake(self) -> None:
        """A node's set-up that refuses its input does not stop the others' (`set_up_each`): the stage sets up the
        rest, where the run is refused already too, but no node that writes files, and then says every refusal."""
        refusals: list[tuple[str, str | None]] = []
        set_up_each([step.node for step in self.sources], self.setup, refusals)
        self.control.send(Loaded(tuple(SourceInfo(s.id, s.node.stream_info(), s.node.is_live())
                                       for s in self.sources if s.node in self.opened)))
        start = self.control.wait_for(Start)
        self.lossless = start.mode == "lossless"
        for step in self.steps:
            step.node.stream = start.stream
        set_up_each([step.node for step in self.steps if not step.is_source], self.setup, refusals, start.refused)
        raise_refusals(refusals, [step.id for step in self.steps])
        self.open_channels()
        self.control.send(Ready())
        self.control.wait_for(Go)

    def setup(self, node: Node) -> None:
        self.tally.busy(list(self.stats).index(node.id))  # a process that dies in here died in this node's set-up
        try:
            with endable(not any(type(done).writes_files() for done in [*self.opened, node])):
                timed_setup(node, self.stats[node.id])
        finally:
            self.tally.busy(None)
        self.opened.append(node)

    def open_channels(self) -> None:
        cfg, resume = self.cfg, self.cfg.resume

        def created(name: str) -> None:
            self.control.send(Created(name))

        for oc in cfg.outlets:
            self.outlets[(oc.node, oc.port)] = Outlet(
                cfg.run_id, lambda g, b=oc.buffer: buffer_suffix(b, g), oc.readers, SLOTS, self.lossless,
                resume, created)
        for ic in cfg.inlets:
            self.inlets.append(((ic.node, ic.port), Inlet(
                cfg.run_id, lambda g, b=ic.buffer: buffer_suffix(b, g), ic.reader, self.lossless, resume)))
        self.join = RealtimeJoin(self.inlets, self.read_one, self.idle)
        for node_id, index in cfg.taps.items():
            self.taps[node_id] = Outlet(cfg.run_id, lambda g, i=index: tap_suffix(i, g), 1, TAP_SLOTS, False,
                                        resume, created)
