"""The entry point of a stage process (spawn-started): signals, niceness and logging, then the
stage's loop (`worker.StageWorker`)."""

from __future__ import annotations

import logging
import os
import signal
import sys

from .. import shm
from .config import StageConfig
from .control import ParentGone
from .protocol import Log
from .setup_end import ignore_ending
from .tally import Tally
from .worker import StageWorker

log = logging.getLogger("nodegraph")


def stage_main(config: StageConfig, conn, tally: Tally) -> None:
    # Ctrl-C, and a service manager's SIGTERM to the whole process group, are the supervisor's to
    # handle: it stops the stages in order, so outputs are closed (a stage whose supervisor died
    # notices on its own)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ignore_ending()  # but in a node's set-up that a kill leaves nothing of
    if hasattr(signal, "pthread_sigmask"):  # held since the supervisor started this process
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if config.niceness and hasattr(os, "nice"):
        os.nice(config.niceness)  # first: the threads this process starts inherit it
    shm.allow_spinning(config.spin)
    log.setLevel(config.log_level)
    worker = StageWorker(config, conn, tally)
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
            self.worker.control.send(Log(record.levelno, self.format(record)))
        except ParentGone:
            self.fallback.emit(record)
        except Exception:  # a bad log call must not break the node that made it
            self.handleError(record)
