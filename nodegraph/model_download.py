"""Download one model file over HTTPS into `<file>.part` beside its final name, resuming what an earlier try
left there with a Range request; connecting and reading are each bounded by a timeout, and the bytes written
by the manifest's size. One process at a time downloads into a .part: it holds a lock on it (not on Windows)."""

from __future__ import annotations

import errno
import http.client
import logging
import os
import shutil
import ssl
import stat as stat_mode
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from nodegraph import __version__
from nodegraph.model_manifest import ModelEntry, ModelError
from nodegraph.paths import fetch_dir_setting

try:
    import fcntl
except ImportError:  # Windows, where a file open in another process cannot be renamed: no lock
    fcntl = None

log = logging.getLogger("nodegraph")

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
# A server that trickles (a byte now and then, each within the read timeout) would never end: a download that
# gets fewer than SLOW_MIN_BYTES in any SLOW_WINDOW_S stops, keeping what came, as a stalled one does.
SLOW_WINDOW_S = 120.0
SLOW_MIN_BYTES = 64 << 10
_CHUNK = 1 << 20
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


@contextmanager
def claimed(entry: ModelEntry, part: Path) -> Iterator[bool]:
    """Hold `part` for this process alone while the block downloads into it and installs it; yields True when
    another process held it first (its fetch of the same model may have installed the file meanwhile). An
    empty .part left at the end (the download failed before its first byte) is removed."""
    if fcntl is None:
        yield False
        return
    waited = False
    while True:
        _make_room(entry, part)
        try:  # O_RDWR: a .part this user may not write is said here; O_NONBLOCK: a pipe put there is not waited on
            fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except OSError as exc:
            fix = "remove it or make it writable, or " if os.path.lexists(part) else ""
            raise ModelError(f"cannot write the download of '{entry.name}' to {part}: {exc.strerror}; {fix}point "
                             f"{fetch_dir_setting() or 'NODEGRAPH_MODELS'} at a folder you can write") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("%s: another nodegraph is downloading it into %s; waiting for it", entry.name, part)
                waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # a file system without locks (some network shares): go on unlocked, as on Windows
                break
            if _is_at(fd, part):  # else the holder renamed it into place (or deleted it) before letting go
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield waited
    finally:
        if _is_at(fd, part) and os.fstat(fd).st_size == 0:
            part.unlink()
        os.close(fd)


def _is_at(fd: int, path: Path) -> bool:
    return os.path.lexists(path) and os.path.samestat(os.fstat(fd), os.lstat(path))


def download(entry: ModelEntry, part: Path, context: ssl.SSLContext | None,
             progress: Callable[[int, int | None], None] | None, by_hand: str) -> None:
    """Fetch `entry.url` into `part`; ModelError saying what went wrong, and `by_hand` (how to place the file
    without this machine's network) where a network problem is the cause."""
    offset = _resumable_size(entry, part)
    request = urllib.request.Request(entry.url, headers={"User-Agent": f"nodegraph/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    opener = urllib.request.build_opener(_HttpsHandler(context=context), _HttpsOnlyRedirects())
    try:
        with opener.open(request, timeout=CONNECT_TIMEOUT_S) as response:
            if response.status != 206:
                offset = 0  # the server sent the whole file
            length = response.length  # http.client's reading of Content-Length: None when absent or garbled
            total = offset + length if length is not None else entry.size
            if entry.size is not None and total != entry.size:  # a larger file would be written whole first
                raise refuse(entry, part, f"the server is sending {total} bytes, expected {entry.size}")
            if total is not None and total - offset > (free := shutil.disk_usage(part.parent).free):
                raise _no_room(entry, part, f"it needs {total - offset} bytes, {free} are free")
            flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_APPEND if offset else os.O_TRUNC)
            with os.fdopen(os.open(part, flags, 0o666), "wb") as out:
                done = told = offset
                window_start, window_from = time.monotonic(), offset
                while chunk := response.read1(_CHUNK):  # what has arrived: read() waits for a whole chunk
                    if entry.size is not None and done + len(chunk) > entry.size:  # no length said: bound it
                        out.close()
                        raise refuse(entry, part, f"the server sent more than the expected {entry.size} bytes")
                    out.write(chunk)
                    done += len(chunk)
                    if time.monotonic() - window_start >= SLOW_WINDOW_S:
                        if done - window_from < SLOW_MIN_BYTES:  # kept: the file closes on the way out
                            raise TimeoutError(f"only {done - window_from} bytes came in the last "
                                               f"{SLOW_WINDOW_S:g} s")
                        window_start, window_from = time.monotonic(), done
                    if progress and (done - told >= _CHUNK or done == total):  # not each TLS record
                        progress(told := done, total)
                out.flush()
                os.fsync(out.fileno())
            if length is not None and done < total:  # http.client reports a body cut short as a normal end
                raise ConnectionError(f"connection closed after {done} of {total} bytes")
    except HTTPError as exc:
        if exc.code == 416 and offset:
            return  # the .part already holds the whole file (or more): verification decides
        reason = str(exc.reason).splitlines()[0].rstrip(".")  # a redirect loop's is three lines
        raise ModelError(f"could not fetch '{entry.name}' from {entry.url}: HTTP {exc.code} {reason}. "
                         f"{by_hand}") from exc
    except (URLError, OSError, http.client.HTTPException) as exc:  # HTTPException: cut off mid-body
        reason = exc.reason if isinstance(exc, URLError) else exc
        kept = (f" The partial download in {part} resumes on the next `nodegraph models fetch "
                f"{entry.name}`." if part.exists() and part.stat().st_size else "")
        if getattr(exc, "errno", None) in _DISK_FULL:  # not the network's fault: say so, not "offline"
            raise _no_room(entry, part, exc.strerror, kept) from exc
        raise ModelError(f"could not download '{entry.name}' from {entry.url} ({reason}).{kept} "
                         f"If this machine is offline, {by_hand}") from exc


def _no_room(entry: ModelEntry, part: Path, why: str, kept: str = "") -> ModelError:
    return ModelError(f"no room for '{entry.name}' in {part.parent}: {why}; free some space there, or point "
                      f"{fetch_dir_setting() or 'NODEGRAPH_MODELS'} at a folder with room.{kept}")


def refuse(entry: ModelEntry, part: Path, problem: str) -> ModelError:
    """Delete a download that is not the expected file; the error to raise says why."""
    part.unlink(missing_ok=True)
    return ModelError(f"the download of '{entry.name}' from {entry.url} is not the expected file: {problem}. It "
                      f"was deleted and nothing was installed; run `nodegraph models fetch {entry.name}` again, "
                      "and if it keeps failing the source has changed")


def _resumable_size(entry: ModelEntry, part: Path) -> int:
    """Bytes already in `part`; anything there that is not a regular file is removed first (`_make_room`)."""
    _make_room(entry, part)
    return part.stat().st_size if part.exists() else 0


def _make_room(entry: ModelEntry, part: Path) -> None:
    """Remove what is at `part` when it is not a regular file (a symlink, a pipe), never what it points to, so
    the download starts afresh; a folder there is a ModelError."""
    found = part.lstat() if os.path.lexists(part) else None
    if found is None or stat_mode.S_ISREG(found.st_mode):
        return
    try:
        part.unlink()
    except OSError as exc:  # a folder
        raise ModelError(f"{part} is in the way of the download of '{entry.name}' and is not a file "
                         f"({exc.strerror}); move it away and fetch again") from exc
    log.info("%s: %s was not a regular file (a symlink or other); removed it and starting the download "
             "afresh", entry.name, part)


class _Connection(http.client.HTTPSConnection):
    """Connects (TCP and TLS) under the short timeout given to open(), then reads with a longer one."""

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(READ_TIMEOUT_S)


class _HttpsHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_Connection, req, context=self._context)


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme != "https":
            raise ModelError(f"refusing to follow a redirect from {req.full_url} to {newurl}: "
                             "only https:// downloads are allowed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)
