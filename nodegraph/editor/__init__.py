"""The Dear PyGui editor: `state` is plain Python (tested without a screen); `app` draws it.

Importing this package does not import Dear PyGui.
"""

from __future__ import annotations

import os
import sys

from ..x_display import x_display_opens

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
