"""Whether an X display answers: the editor asks before it opens a window, and a window output node before
its stage starts (both libraries abort the process on a display that does not)."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

PROBE_TIMEOUT_S = 5.0  # a display on an unreachable host can keep a connection attempt waiting


def x_display_opens(name: str) -> bool | None:
    """Whether libX11 can open the display `name`; None when libX11 is not installed (then the
    window library reports the problem itself)."""
    library = ctypes.util.find_library("X11")
    if library is None:
        return None
    xlib = ctypes.CDLL(library)
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    opened: list[bool] = []

    def probe() -> None:
        connection = xlib.XOpenDisplay(name.encode())
        if connection:
            xlib.XCloseDisplay(connection)
        opened.append(bool(connection))

    thread = threading.Thread(target=probe, name="nodegraph-display-probe", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return bool(opened and opened[0])
