"""The Dear PyGui editor: `state` is plain Python (tested without a screen); `app` draws it.

Importing this package does not import Dear PyGui.
"""

from __future__ import annotations

import os
import sys


def display_problem() -> str | None:
    """Why no window can be opened here, or None. Dear PyGui aborts the process (it does not
    raise) when it cannot reach a display, so this is checked before any window is made."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return ("no display: DISPLAY and WAYLAND_DISPLAY are not set. Run the editor in a desktop session, "
                "or under a virtual display, e.g. `xvfb-run -a nodegraph edit ...`")
    return None
