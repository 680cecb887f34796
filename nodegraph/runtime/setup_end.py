"""A stop ends a stage at once while it sets up a node (a model's load and warm-up, which reads no stop), where
a kill there leaves nothing behind: no node it has set up so far, that one included, writes files
(`Node.writes_files`; an output's set-up records what it made in its lock only as it ends). The stage lets
SIGUSR1 end it, its default action, only while in such a set-up, and ignores it otherwise; the supervisor sends
it to every stage it stops. The kernel decides when the signal comes, so no set-up that makes files can begin
between a look and a kill. Where there is no SIGUSR1 (Windows), such a stage is asked to stop as any other.
Inside such a set-up, work that a kill would leave half-written (TensorRT's engine cache) is `held`."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

END_SIGNAL = getattr(signal, "SIGUSR1", None)


def ignore_ending() -> None:
    """The stage's side, as it starts: the signal does nothing outside `endable`."""
    if END_SIGNAL is not None:
        signal.signal(END_SIGNAL, signal.SIG_IGN)


@contextlib.contextmanager
def endable(allowed: bool) -> Iterator[None]:
    """The stage's side, around a node's set-up: the signal ends the process in here where `allowed`."""
    if not allowed or END_SIGNAL is None:
        yield
        return
    signal.signal(END_SIGNAL, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(END_SIGNAL, signal.SIG_IGN)


@contextlib.contextmanager
def held(hold: bool) -> Iterator[None]:
    """Around work that a kill would leave half-written, where `hold`: the signal does nothing in here, even inside
    `endable` (one sent now is dropped; the stage still gets the stop), and does what it did before once out.
    Not a thread mask: the kernel gives a process's signal to any thread not masking it, onnxruntime's among them.
    Only the main thread, where a stage sets its nodes up, can set what a signal does."""
    if not hold or END_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(END_SIGNAL, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(END_SIGNAL, signal.SIG_DFL if before is None else before)  # None: not set from Python


def end_if_endable(pid: int) -> None:
    """The supervisor's side: ends the stage `pid` if it is in an `endable` set-up; otherwise nothing happens."""
    if END_SIGNAL is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, END_SIGNAL)


def was_ended(exitcode: int | None) -> bool:
    """Whether a stage's process ended by `end_if_endable`."""
    return END_SIGNAL is not None and exitcode == -END_SIGNAL
