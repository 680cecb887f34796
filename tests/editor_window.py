"""The real editor window for the GUI tests: a test runs a driver (its own file, run directly, in a subprocess under
the test's Xvfb display: Dear PyGui aborts the process, rather than raising, when the display fails), and the
driver opens the editor on a preset and renders frames until the graph is fitted."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def gui_env(display, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env.update(DISPLAY=display, XDG_DATA_HOME=str(tmp_path / "xdg"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])))
    return env


def run_driver(display, tmp_path, name: str, script: str, timeout: float = 120) -> str:
    """Run `script name` in `tmp_path` on `display`; it must print '`name` checks passed'. Returns its stdout."""
    result = subprocess.run([sys.executable, script, name], cwd=tmp_path, env=gui_env(display, tmp_path),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{name} checks passed" in result.stdout, result.stdout + result.stderr
    return result.stdout


def open_editor(preset: Path | None, width: int = 1280, height: int = 800):
    """The editor's state and window, on `preset` (None: an empty graph), built but not yet drawn."""
    from nodegraph.editor.app import EditorApp
    from nodegraph.editor.files import RecentFiles
    from nodegraph.editor.state import EditorState

    state = EditorState(recent=RecentFiles(Path.cwd() / "recent.json"), engine="sequential")
    if preset is not None:
        assert state.open(preset)
    app = EditorApp(state, width=width, height=height)
    app.build()
    return state, app


def frames(app, n: int = 3) -> None:
    for _ in range(n):
        app.frame()


def settle(app, most: int = 200) -> None:
    """Frames until the graph is fitted to the window (at most `most`), and 3 more: its nodes drawn where they
    stay. A fit asked for by an edit or a resize starts a frame or two later: 5 frames come first."""
    frames(app, 5)
    for _ in range(most):
        app.frame()
        if not app.view.fitting:
            break
    frames(app, 3)
