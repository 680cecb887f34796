"""Scripted editor runs, for docs and tests: run a number of frames once the window is up, or run
them, wait for every thumbnail and save a screenshot (and where each node was drawn) before quitting."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import dearpygui.dearpygui as dpg
import numpy as np

from ..errors import EXIT_FAILED, EXIT_INVALID
from ..output_files import write_atomically

if TYPE_CHECKING:
    from .app import EditorApp


def run_script(app: EditorApp, frames: int) -> Iterator[None]:
    """Start a run of `frames` frames once the window is up; the editor stays open."""
    for _ in range(4):
        yield
    app.state.start_run(frames=frames)


def screenshot_script(app: EditorApp, frames: int, path: Path, layout_path: Path | None = None,
                      timeout_s: float = 300.0) -> Iterator[None]:
    """Open, run `frames` frames, wait for every thumbnail, save a screenshot (of the window at
    the size it was opened at, as the user sees it), quit."""
    app.full_rate = True
    for _ in range(4):
        yield
    while app.view.fitting:
        yield
    if not frames:
        pass
    elif app.state.start_run(frames=frames):
        deadline = time.monotonic() + timeout_s
        while app.state.running:
            if time.monotonic() > deadline:
                app.state.say(f"the run did not finish {frames} frames within {timeout_s:.0f} s", "error")
                app.state.stop_run()
                app.exit_code = EXIT_FAILED
                deadline = float("inf")
            yield
        status = app.state.poll()
        if status.state == "failed":
            app.exit_code = EXIT_FAILED
        app.pump.source(app.state.session.preview)
        app.pump.poll_once()  # the last pictures of a short run
    else:
        app.exit_code = EXIT_INVALID
    app._next_status = 0.0
    for _ in range(6):  # textures show one frame late; let the stats and log settle too
        yield
    app.view.watch_now()  # nodes the last stats made wider are fitted again before the picture
    yield
    if app.view.fitting:
        while app.view.fitting:
            yield
        for _ in range(6):
            yield
    captured = []
    dpg.output_frame_buffer(callback=lambda sender, buffer: captured.append(buffer))
    for _ in range(200):
        if captured:
            break
        yield
    if not captured:
        app.state.say("the screenshot did not arrive", "error")
        app.exit_code = EXIT_FAILED
        return
    width = dpg.get_viewport_client_width()
    pixels = np.frombuffer(captured[0], np.float32)
    height = pixels.size // (4 * width)
    rgba = (pixels[: height * width * 4].reshape(height, width, 4) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    encoded, png = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)) if rgba.size else (False, None)
    if not encoded:
        app.state.say(f"the screenshot came back as {width}x{height} pixels and could not be saved as a PNG", "error")
        app.exit_code = EXIT_FAILED
        return
    try:  # a temporary file renamed into place: a symlink there is replaced, never written through
        write_atomically(path, png)
    except OSError as e:
        app.state.say(f"cannot write the screenshot {path}: {e.strerror or e}", "error")
        app.exit_code = EXIT_FAILED
    if layout_path is not None:
        layout = {"size": [width, height], "canvas": list(app.canvas.screen_rect()), "zoom": app.canvas.zoom,
                  "nodes": {node_id: {"thumbnail": rect, "node": app.canvas.node_rects()[node_id],
                                      "previews": app.pump.updates.get(node_id, 0)}
                            for node_id, rect in app.canvas.thumbnail_rects().items()}}
        try:
            write_atomically(layout_path, (json.dumps(layout, indent=1) + "\n").encode())
        except OSError as e:
            app.state.say(f"cannot write the layout {layout_path}: {e.strerror or e}", "error")
            app.exit_code = EXIT_FAILED
