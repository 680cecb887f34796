"""A stage's end of its control pipe to the supervisor: messages out (`protocol`), and param edits
and stop requests in, gathered while the stage works or waits."""

from __future__ import annotations

import os
import threading

from .config import POLL_S
from .protocol import SetParam, Stop, ToSupervisor


class ParentGone(Exception):
    """The supervisor died: clean up and leave."""


class StopNow(Exception):
    """The supervisor asked every stage to stop at once."""


class Control:
    def __init__(self, conn):
        self.conn = conn
        self.ppid = os.getppid()
        self.edits: list[SetParam] = []  # not applied yet
        self.stop_asked = False  # end after the current frame
        self.stop_now = False  # give up every wait
        self.pending = None  # the handshake message waited for
        self.send_lock = threading.Lock()

    def send(self, message: ToSupervisor) -> None:
        try:
            with self.send_lock:  # a node's own thread may log, and log lines go through here
                self.conn.send(message)
        except (OSError, EOFError):
            raise ParentGone() from None

    def poll(self, timeout: float = 0.0) -> None:
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
        match message:
            case SetParam():
                self.edits.append(message)
            case Stop(now=now):
                self.stop_asked = True
                self.stop_now = self.stop_now or now
            case _:
                self.pending = message

    def check(self) -> None:
        """Handle what came; StopNow when the supervisor said "stop now"."""
        self.poll()
        if self.stop_now:
            raise StopNow()

    def wait_for(self, kind: type):
        """The next message of type `kind` (handshake steps); StopNow when asked to stop meanwhile."""
        self.pending = None
        while True:
            self.poll(POLL_S)
            if self.stop_asked:
                raise StopNow()
            if isinstance(self.pending, kind):
                return self.pending

    def take_edits(self) -> list[SetParam]:
        edits, self.edits = self.edits, []
        return edits
