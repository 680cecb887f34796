"""What a command says on the terminal: its lines, which outlive a reader that went away, and its progress bar."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

log = logging.getLogger("nodegraph")


def tell(text: str, stream=None, end: str = "\n") -> None:
    """Print a line for the user. When its reader went away (`2>&1 | head`), the rest goes to /dev/null and
    the command goes on: what it does, and its exit status, do not depend on who reads what it says."""
    stream = stream or sys.stderr
    encoding = getattr(stream, "encoding", None) or "utf-8"
    # what cannot be encoded (a lone surrogate from a preset's "\ud800", or a terminal that is not UTF-8) is
    # written as its escape rather than ending the command with a UnicodeEncodeError
    text = text.encode(encoding, "backslashreplace").decode(encoding)
    try:
        print(text, file=stream, end=end, flush=True)
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # ValueError: a stream with no descriptor
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stream.fileno())
            os.close(null)


class ProgressBar:
    """frames done, fps and eta on one line of a terminal, at most 10 updates a second. A log line printed
    meanwhile starts on a line of its own, and the bar goes on below it."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.last = stream, 0.0
        self.line_open = False  # the bar's line is not ended yet
        log.addFilter(self._end_line_before_log)

    def __call__(self, done: int, total: int | None, elapsed: float) -> None:
        if elapsed - self.last < 0.1 and done != total:
            return
        self.last = elapsed
        fps = done / elapsed if elapsed > 0 else 0.0
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            eta = (total - done) / fps if fps > 0 else 0.0
            text = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames  {fps:5.1f} fps  eta {eta:4.0f} s"
        else:
            text = f"{done} frames  {fps:5.1f} fps"
        tell("\r" + text, self.stream, end="")
        self.line_open = True

    def _end_line_before_log(self, record: logging.LogRecord) -> bool:
        self.end_line()
        return True  # a filter: the record is printed

    def end_line(self):
        if self.line_open:
            self.line_open = False
            tell("", self.stream)

    def finish(self):
        log.removeFilter(self._end_line_before_log)
        self.end_line()
