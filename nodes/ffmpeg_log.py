"""FFmpeg's own words for a failure: its log lines, captured while a call runs (PyAV's errors carry only a
code, such as "returned 22"). And the codec libraries that print to stderr themselves, not through FFmpeg's
log (x265, SVT-AV1), kept quiet: a run's terminal shows only what nodegraph says; their warnings and errors
show with -v."""

from __future__ import annotations

import contextlib
import logging
import os

import av


def verbose() -> bool:
    """Whether the run says more (-v): then the codec libraries' own warnings and errors show too."""
    return logging.getLogger("nodegraph").isEnabledFor(logging.DEBUG)


def x265_log_level() -> str:
    """x265's `log-level` (in its `x265-params`): none, or warnings and errors with -v."""
    return "warning" if verbose() else "none"


@contextlib.contextmanager
def svt_log_level():
    """SVT-AV1's log level while an encoder opens: SVT_LOG (0: fatal errors alone, 2: warnings and errors with
    -v), which it reads once a process, as its first encoder opens. Set for the opening alone, so a process the
    run starts later takes its own level; a user's own SVT_LOG is kept."""
    if "SVT_LOG" in os.environ:
        yield
        return
    os.environ["SVT_LOG"] = "2" if verbose() else "0"
    try:
        yield
    finally:
        os.environ.pop("SVT_LOG", None)


@contextlib.contextmanager
def ffmpeg_logs():
    """FFmpeg's error lines while the block runs, captured instead of printed (PyAV keeps them off otherwise).
    PyAV drops a line that repeats the one before, so a file opened twice would lose its reason the second time."""
    level, skip_repeated = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_skip_repeated(skip_repeated)
        av.logging.set_level(level)


def ffmpeg_reason(error: Exception, logs) -> str:
    """FFmpeg's own words for a failure: its log lines, which say more than the error code."""
    lines = [text.strip() for level, _, text in logs if level <= av.logging.ERROR and text.strip()]
    return "; ".join(dict.fromkeys(lines)) or getattr(error, "strerror", None) or str(error)
