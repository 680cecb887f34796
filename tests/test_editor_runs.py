"""Runs started from the editor: file sources loop at their own rate until Stop, and an existing
output file is never overwritten (the run writes a numbered name and the log says so).
Real runs, real video files written and read back."""

import time
from pathlib import Path

import av
import pytest

from nodegraph import preset as presets
from nodegraph.editor.files import RecentFiles
from nodegraph.editor.run_setup import loop_sources, numbered_outputs
from nodegraph.editor.state import EditorState
from nodegraph.registry import default_registry

REPO = Path(__file__).resolve().parent.parent


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_sources_loop_paced_unless_the_preset_says_otherwise():
    registry = default_registry()
    graph = presets.load(REPO / "presets" / "video_swap.json")
    assert loop_sources(graph, registry) == ["source"]
    assert graph.nodes["source"].params["loop"] is True and graph.nodes["source"].params["realtime"] is True
    graph = presets.load(REPO / "presets" / "video_swap.json")
    graph.nodes["source"].params["loop"] = False  # the preset's own choice stays
    assert loop_sources(graph, registry) == []
    assert "realtime" not in graph.nodes["source"].params


def test_an_existing_output_gets_the_first_free_numbered_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    registry = default_registry()
    graph = presets.load(REPO / "presets" / "demo.json")
    assert numbered_outputs(graph, registry) == []  # nothing there yet: the preset's own name
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "demo.mp4").write_bytes(b"a CLI run's video")
    (tmp_path / "out" / "demo-1.mp4").write_bytes(b"an earlier editor run's video")
    (tmp_path / "out" / ".demo-2.mp4.lock").write_text("12345\n")  # a run writing demo-2 now
    messages = numbered_outputs(graph, registry)
    assert graph.nodes["out"].params["path"] == "out/demo-3.mp4"
    assert len(messages) == 1 and "out.path" in messages[0] and "demo-3.mp4" in messages[0] \
        and "the preset still says out/demo.mp4" in messages[0]


@pytest.mark.parametrize("engine", ["sequential", "process"])
def test_an_editor_run_loops_until_stop_and_keeps_the_cli_output(tmp_path, monkeypatch, engine):
    monkeypatch.chdir(tmp_path)
    state = EditorState(recent=RecentFiles(tmp_path / "recent.json"), engine=engine)
    assert state.open(REPO / "presets" / "demo.json")
    for name, value in (("frames", 8), ("width", 160), ("height", 120), ("fps", 60.0)):
        state.set_param("pattern", name, value)
    cli_output = tmp_path / "out" / "demo.mp4"
    cli_output.parent.mkdir()
    cli_output.write_bytes(b"150 frames a CLI run wrote")
    assert state.start_run()
    try:
        deadline = time.monotonic() + 60
        while state.poll().frames < 30 and time.monotonic() < deadline:  # well past the 8 frames of one pass
            time.sleep(0.05)
        assert state.poll().state == "running", state.poll().message
        assert state.poll().frames >= 30
    finally:
        state.stop_run()
        assert state.session.join(30)
    assert cli_output.read_bytes() == b"150 frames a CLI run wrote"
    written = tmp_path / "out" / "demo-1.mp4"
    assert frames_in(written) >= 30
    assert any("demo-1.mp4" in entry.text and entry.level == "warning" for entry in state.log)
    assert any("pattern loops until Stop" in entry.text for entry in state.log)
    assert state.graph.nodes["out"].params["path"] == "out/demo.mp4"  # the preset keeps its name
