"""FFmpeg's own words for a failure: its log lines, captured while a call runs (PyAV's errors carry only a
code, such as "returned 22")."""

from __future__ import annotations

import contextlib

import av


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
