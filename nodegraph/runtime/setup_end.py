"""A stop ends a stage at once while it sets up a node (a model's load and warm-up, which reads no stop), where
a kill there leaves nothing behind: no node it has set up so far, that one included, writes files
(`Node.writes_files`; an output's set-up records what it made in its lock only as it ends). The stage lets
SIGUSR1 end it, its default action, only while in such a set-up, and ignores it otherwise; the supervisor sends
it to every stage it stops. The kernel decides when the signal comes, so no set-up that makes files can begin
between a look and a kill. Where there is no SIGUSR1 (Windows), such a stage is asked to stop as any other."""

from __future__ import annotations

import contextlib
import os
import signal
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


def end_if_endable(pid: int) -> None:
    """The supervisor's side: ends the stage `pid` if it is in an `endable` set-up; otherwise nothing happens."""
    if END_SIGNAL is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, END_SIGNAL)


def was_ended(exitcode: int | None) -> bool:
    """Whether a stage's process ended by `end_if_endable`."""
    return END_SIGNAL is not None and exitcode == -END_SIGNAL
