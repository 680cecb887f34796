"""`nodegraph edit`: open the editor window on a preset, optionally run it, picture it and quit."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import EXIT_INVALID
from .app import EditorApp
from .screenshots import run_script, screenshot_script
from .state import EditorState


def run_editor(preset: str | Path | None, *, engine: str = "auto", run_frames: int | None = None,
               screenshot: str | Path | None = None, layout_json: str | Path | None = None,
               window: tuple[int, int] = (1280, 800)) -> int:
    """Open the editor on `preset` (None: an empty graph) in a window of `window` (width, height);
    with `screenshot`, run `run_frames` frames, save a picture of the window at that size and
    return instead of waiting for the user."""
    state = EditorState(engine=engine)
    if preset is not None and not state.open(preset):
        print(f"nodegraph: {state.log[-1].text}", file=sys.stderr)
        return EXIT_INVALID
    app = EditorApp(state, width=window[0], height=window[1])
    app.build()
    if screenshot is not None:
        app.script = screenshot_script(app, run_frames or 0, Path(screenshot),
                                       Path(layout_json) if layout_json else None)
    elif run_frames:
        app.script = run_script(app, run_frames)
    code = app.run()
    if screenshot is not None:
        for entry in state.log:
            if entry.level == "error":
                print(f"nodegraph: {entry.text}", file=sys.stderr)
    return code
