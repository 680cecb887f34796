"""The Dear PyGui editor: `state` is plain Python (tested without a screen); `app` draws it.

Importing this package does not import Dear PyGui.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

PROBE_TIMEOUT_S = 5.0  # a display on an unreachable host can keep a connection attempt waiting
NO_DISPLAY_HELP = ("Run the editor in a desktop session, or under a virtual display, "
                   "e.g. `xvfb-run -a nodegraph edit ...`")


def display_problem() -> str | None:
    """Why no window can be opened here, or None. Dear PyGui aborts the process (it does not
    raise) when it cannot reach a display, so this is checked before any window is made: an X
    display is opened once and closed again."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY"):
            return None
        return f"no display: DISPLAY and WAYLAND_DISPLAY are not set. {NO_DISPLAY_HELP}"
    reachable = x_display_opens(display)
    if reachable is False:
        return f"no display: cannot open the X display DISPLAY={display!r} (no X server there). {NO_DISPLAY_HELP}"
    return None


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
