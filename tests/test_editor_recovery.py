"""Unsaved changes outlive an editor that ends without saving them (killed, crashed, Ctrl-C in its terminal):
the next editor on the preset offers them back, clicked for real through XTest. Run directly, this file is the
editor's process (`python tests/test_editor_recovery.py killed`)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from editor_window import gui_env
from test_editor_clicks import REPO, editor, faults, item, menu_item_rect, menu_rect, rect, run_driver, xtest_missing
from test_editor_gui import display  # noqa: F401 (display is a fixture)

pytestmark = pytest.mark.gui


def test_a_killed_editor_s_unsaved_changes_come_back_and_go_once_saved(display, tmp_path):  # noqa: F811
    # an editor killed (or crashed) with unsaved changes lost them all
    if (missing := xtest_missing()) is not None:
        pytest.skip(missing)
    killed = subprocess.run([sys.executable, __file__, "killed"], cwd=tmp_path, env=gui_env(display, tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    run_driver(display, tmp_path, "recover", __file__)


def test_changes_kept_at_a_ctrl_c_can_be_discarded_and_don_t_save_keeps_none(display, tmp_path):  # noqa: F811
    run_driver(display, tmp_path, "interrupted", __file__)
    run_driver(display, tmp_path, "discard", __file__)


def kept_files() -> list[Path]:
    return sorted((Path.cwd() / "recovery").glob("*.json"))


def brightness(record: dict) -> int:
    return next(n for n in record["nodes"] if n["id"] == "adjust")["params"]["brightness"]


def drive_killed() -> None:
    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    state.set_param("adjust", "brightness", 77)
    deadline = time.monotonic() + 10
    while not kept_files() and time.monotonic() < deadline:
        pointer.frames(1)
    assert brightness(json.loads(kept_files()[0].read_text())["graph"]) == 77
    os.kill(os.getpid(), signal.SIGKILL)


def drive_recover() -> None:
    mine = Path.cwd() / "demo.json"
    state, app, pointer = editor(mine)
    assert state.param_value("adjust", "brightness") == 10 and not state.dirty  # the file as saved
    assert any("unsaved changes to demo.json were kept" in entry.text for entry in state.log)
    pointer.click(rect(item("mvButton", "Recover")))
    assert state.param_value("adjust", "brightness") == 77 and state.dirty, state.log[-1].text
    pointer.click(menu_rect(app, "File"))
    pointer.click(menu_item_rect(app, "File", "Save"))
    pointer.frames(3)
    assert not state.dirty and brightness(json.loads(mine.read_text())) == 77
    assert kept_files() == [] and faults(state) == []
    app.close()
    print("recover checks passed")


def drive_interrupted() -> None:
    mine = Path.cwd() / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", mine)
    state, app, pointer = editor(mine)
    state.set_param("adjust", "brightness", 55)  # within the 2 s between keeps: kept by the Ctrl-C
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()  # into the render loop, as a terminal's
    with pytest.raises(KeyboardInterrupt):
        app.run()
    assert brightness(json.loads(kept_files()[0].read_text())["graph"]) == 55
    print("interrupted checks passed")


def drive_discard() -> None:
    mine = Path.cwd() / "demo.json"
    state, app, pointer = editor(mine)
    pointer.click(rect(item("mvButton", "Discard them")))
    pointer.frames(3)
    assert kept_files() == [] and state.param_value("adjust", "brightness") == 10 and not state.dirty
    state.set_param("adjust", "brightness", 66)
    deadline = time.monotonic() + 10
    while not kept_files() and time.monotonic() < deadline:
        pointer.frames(1)
    assert kept_files(), "the new change was not kept"
    pointer.click(menu_rect(app, "File"))
    pointer.click(menu_item_rect(app, "File", "Quit"))
    pointer.click(rect(item("mvButton", "Don't save")))
    assert app.quit and kept_files() == [] and faults(state) == []  # let go when asked: nothing to offer
    app.close()
    print("discard checks passed")


DRIVERS = {"killed": drive_killed, "recover": drive_recover, "interrupted": drive_interrupted,
           "discard": drive_discard}

if __name__ == "__main__" and sys.argv[1:2] and sys.argv[1] in DRIVERS:
    DRIVERS[sys.argv[1]]()
