"""How a stage process ends, the end of `worker.StageWorker` (its base class, as `stage_startup` is its
start): end-of-stream said downstream, the nodes closed (files finalised), the inputs read to their end and
the outputs' readers waited for before the rings go; or, when the supervisor is gone, every ring aborted
and the run's segments removed.
"""

from __future__ import annotations

import gc
from functools import partial

from .. import shm
from ..errors import RunFailed
from ..execution import close_nodes
from .control import StopNow
from .protocol import Done, Failed


class StageEnding:
    """The end of `worker.StageWorker`: it uses the worker's control, outlets, inlets, opened, steps,
    sources, last, join, taps, complete, persist, read_one and stats_payload."""

    def finish(self, error: RunFailed | None) -> None:
        """Say end-of-stream downstream (cut short unless `complete`), close the nodes (files get finalised,
        told whether the stream was complete), read the inputs to their end (their writers wait for that),
        wait until the readers of the outputs have read them to their end (they may not have opened them
        yet), and report."""
        if error:  # at once: the supervisor must stop the sources before this stage's inputs can end
            self.control.send(Failed(str(error), error.node))
        try:
            for outlet in self.outlets.values():
                self.persist(partial(outlet.write_eos, complete=self.complete))
        except (StopNow, shm.RingAborted, shm.ShmSpaceError):  # no room for the end's ring: the run failed
            pass
        failures = close_nodes(self.opened, self.complete)
        self.opened = []
        try:
            self.drain_inputs()
            for outlet in self.outlets.values():
                self.persist(outlet.drain)
        except (StopNow, shm.RingAborted):
            pass
        self.control.send(Done(self.stats_payload(), "; ".join(map(str, failures)), self.complete,
                               failures[0].node if failures else None))

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
        self.steps, self.sources, self.last = [], [], None
        self.join.forget()
        gc.collect()

    def close_channels(self) -> None:
        for channel in [*self.outlets.values(), *(inlet for _, inlet in self.inlets), *self.taps.values()]:
            channel.close()
