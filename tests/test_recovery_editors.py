"""Two editors on one preset keep their unsaved changes apart: while both run, neither's are offered as lost;
once they end, each one's changes are offered, the newest first. Real editor states in real processes, killed
with SIGKILL; no window is needed for what is kept on disk."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nodegraph.editor.files import RecentFiles
from nodegraph.editor.state import EditorState

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills an editor with SIGKILL")


def editor_state(folder: Path) -> EditorState:
    return EditorState(recent=RecentFiles(folder / "recent.json"), engine="sequential")


def start_editor(folder: Path, preset: Path, brightness: int) -> subprocess.Popen:
    """An editor in a process of its own that changes the brightness, keeps the change, and runs on."""
    editor = subprocess.Popen([sys.executable, __file__, str(folder), str(preset), str(brightness)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert editor.stdout.readline().strip() == "kept", "the editor did not keep its change"
    return editor


def kill(editor: subprocess.Popen) -> None:
    editor.kill()
    editor.wait(10)
    editor.stdout.close()
    editor.stdin.close()


def brightness(state: EditorState) -> int:
    return state.kept_changes.graph.nodes["adjust"].params["brightness"]


def test_two_editors_on_one_preset_keep_their_changes_apart(tmp_path):
    # one file a preset: the second editor's keep replaced the first's, and a crash of both lost the first's
    # changes; an editor still open had its changes offered to another as if it had crashed
    preset = tmp_path / "demo.json"
    shutil.copy(REPO / "presets" / "demo.json", preset)
    first = start_editor(tmp_path, preset, 77)
    second = start_editor(tmp_path, preset, 55)
    try:
        third = editor_state(tmp_path)
        assert third.open(preset) and third.kept_changes is None  # both still open: nothing of theirs is lost
        assert any("another editor that is still open has unsaved changes to demo.json" in entry.text
                   for entry in third.log)
    finally:
        kill(first)
        kill(second)  # kept after the first: newer
    fourth = editor_state(tmp_path)
    assert fourth.open(preset) and brightness(fourth) == 55
    fourth.recovery.drop(fourth.kept_changes)
    fifth = editor_state(tmp_path)
    assert fifth.open(preset) and brightness(fifth) == 77  # the older changes, offered once the newer went
    fifth.recover(fifth.kept_changes.graph)
    fifth.recovery.take(fifth.kept_changes, preset)
    recovery = tmp_path / "recovery"
    assert {p.name for p in recovery.iterdir()} == {fifth.recovery.file_for(preset).name,
                                                     f"{fifth.recovery.editor}.lock"}  # the ended editors' gone
    sixth = editor_state(tmp_path)
    assert sixth.open(preset) and sixth.kept_changes is None  # fifth, still open, holds them now
    assert fifth.save(preset) and sorted(recovery.iterdir()) == []
    assert fifth.param_value("adjust", "brightness") == 77


def run_editor(folder: Path, preset: Path, value: int) -> None:
    state = editor_state(folder)
    assert state.open(preset)
    state.set_param("adjust", "brightness", value)
    state.recovery.keep(state, now=True)
    print("kept", flush=True)
    sys.stdin.read()  # runs until killed


if __name__ == "__main__" and len(sys.argv) == 4:
    run_editor(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
    os._exit(0)
