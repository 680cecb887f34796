"""Runs started from the editor: file sources loop at their own rate until Stop, and an existing
output file, or a folder holding pictures of an output, is never overwritten (the run writes a numbered
name and the log says so).
Real runs, real video files written and read back."""

import time
from pathlib import Path

import av
import cv2
import pytest
from fault_nodes import BrokenSetup
from test_cli import node, write_preset
from test_partial_outputs import folder_to_video, pictures

from nodegraph import preset as presets
from nodegraph.editor.files import RecentFiles
from nodegraph.editor.run_setup import loop_sources, numbered_outputs
from nodegraph.editor.state import EditorState
from nodegraph.registry import default_registry, load_registry

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
def test_opening_another_graph_stops_the_run_of_the_one_open(tmp_path, monkeypatch, engine):
    # File > New or Open during a run left it running unseen: the run bar said "running" over the new graph,
    # the old output kept growing, and a param set on a node of the same name went to the old run
    monkeypatch.chdir(tmp_path)
    state = EditorState(recent=RecentFiles(tmp_path / "recent.json"), engine=engine)
    assert state.open(REPO / "presets" / "demo.json")
    assert state.start_run()
    deadline = time.monotonic() + 60
    while state.poll().frames < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    old_run = state.session
    assert state.open(REPO / "presets" / "demo.json")
    assert old_run.join(30) and not state.running
    assert any(entry.text == "stopping the run of the graph that was open (it would go on unseen)"
               for entry in state.log), [entry.text for entry in state.log]
    assert frames_in(tmp_path / "out" / "demo.mp4") >= 10  # stopped cleanly: what it wrote plays
    state.new()  # with no run going, nothing to stop
    assert sum("stopping the run" in entry.text for entry in state.log) == 1


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


@pytest.mark.parametrize("engine", ["sequential", "process"])
def test_a_run_that_fails_on_opening_a_node_s_file_marks_that_node(tmp_path, monkeypatch, engine):
    # the run failed with the file's name in the log only: the node stayed as if nothing were wrong
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.mp4").write_text("these are my notes, not a video\n" * 20)  # passes validation
    nodes = [node("src", "VideoSource", path=str(tmp_path / "notes.mp4")), node("out", "VideoFileOutput", path="o.mp4")]
    preset = write_preset(tmp_path / "p.json", nodes, [("src.frame", "out.frame")])
    state = EditorState(recent=RecentFiles(tmp_path / "recent.json"), engine=engine)
    assert state.open(preset) and state.problems() == {}
    assert state.start_run()
    assert state.session.join(60)
    assert state.poll().state == "failed"
    assert list(state.problems()) == ["src"] and "not a video" in state.problems()["src"][0]
    assert state.log[-1].node == "src" and state.log[-1].level == "error"
    # the mark goes with a new value of the node's params (the next run says), and with the graph
    state.set_param("src", "loop", True)
    assert state.problems() == {}
    assert state.start_run() and state.session.join(60) and state.poll().state == "failed"
    assert "src" in state.problems()
    state.new()
    assert "src" not in state.problems()


@pytest.mark.parametrize("engine", ["sequential", "process"])
def test_a_failed_run_is_said_in_the_command_line_s_words(tmp_path, monkeypatch, engine):
    # the sequential engine said "run failed: RunFailed: node 'src' ...", the class's name before the message, and
    # either engine said so of a node whose set-up has a bug
    monkeypatch.chdir(tmp_path)
    pictures(tmp_path / "imgs", 3, bad=1)
    registry = load_registry(third_party=False)
    registry.add(BrokenSetup, "tests")
    state = EditorState(registry, recent=RecentFiles(tmp_path / "recent.json"), engine=engine)
    assert state.open(folder_to_video(tmp_path, tmp_path / "o.mp4"))
    assert state.start_run() and state.session.join(60) and state.poll().state == "failed"
    assert state.log[-1].text.startswith(f"run failed: node 'src' (FolderSource): {tmp_path / 'imgs' / 'p1.jpg'}: "
                                         "not a picture OpenCV can decode"), state.log[-1].text
    assert state.open(write_preset(tmp_path / "bug.json", [node("src", "TestPattern"), node("bad", "BrokenSetup")],
                                   [("src.frame", "bad.frame")]))
    assert state.start_run() and state.session.join(60) and state.poll().state == "failed"
    assert state.log[-1].text == "run failed: node 'bad' (BrokenSetup) failed to start: KeyError: 'lut'"


def sequence_preset(tmp_path, **output):
    """Two frames of a picture written as a numbered picture sequence into `seq`."""
    return write_preset(tmp_path / "seq.json",
                        [node("src", "ImageSource", path=str(REPO / "presets" / "media" / "astronaut.png"),
                              repeat=2, max_size=160),
                         node("out", "ImageSequenceOutput", path="seq", **output)], [("src.frame", "out.frame")])


def test_a_folder_holding_the_outputs_pictures_gets_the_first_free_numbered_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    registry = default_registry()
    graph = presets.load(sequence_preset(tmp_path, format="jpg"))
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "notes.txt").write_text("not a picture this output writes")
    (tmp_path / "seq" / "frame_000000.png").write_bytes(b"a png: the output writes jpg")
    assert numbered_outputs(graph, registry) == []  # nothing the run would write over: the preset's folder
    assert graph.nodes["out"].params["path"] == "seq"
    (tmp_path / "seq" / "frame_000007.jpg").write_bytes(b"an earlier run's picture")
    (tmp_path / "seq-1").mkdir()
    (tmp_path / "seq-1" / "frame_000000.jpg").write_bytes(b"an earlier editor run's picture")
    (tmp_path / ".seq-2.lock").write_text("12345\n")  # a run writing seq-2 now
    (tmp_path / "seq-3").write_bytes(b"a file, not a folder")
    (tmp_path / "seq-4").mkdir()  # an empty folder: nothing to overwrite in it
    messages = numbered_outputs(graph, registry)
    assert graph.nodes["out"].params["path"] == "seq-4"
    assert messages == [f"out.path: {tmp_path / 'seq'} holds frame_*.jpg already, so this run writes "
                        f"{tmp_path / 'seq-4'} (the preset still says seq)"]


@pytest.mark.parametrize("engine", ["sequential", "process"])
def test_an_editor_run_writes_a_new_folder_beside_one_holding_its_pictures(tmp_path, monkeypatch, engine):
    monkeypatch.chdir(tmp_path)
    state = EditorState(recent=RecentFiles(tmp_path / "recent.json"), engine=engine)
    assert state.open(sequence_preset(tmp_path, format="jpg", jpeg_quality=5))
    earlier = tmp_path / "seq" / "frame_000000.jpg"
    earlier.parent.mkdir()
    earlier.write_bytes(b"a picture an earlier run wrote")
    assert state.start_run()
    try:
        deadline = time.monotonic() + 60
        while state.poll().state in ("starting", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        state.stop_run()
        assert state.session.join(30)
    assert earlier.read_bytes() == b"a picture an earlier run wrote"
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["frame_000000.jpg"]
    written = sorted((tmp_path / "seq-1").iterdir())
    assert [p.name for p in written] == ["frame_000000.jpg", "frame_000001.jpg"]
    assert all(cv2.imread(str(p)).shape[1] == 160 for p in written)
    assert any("seq-1" in entry.text and "holds frame_*.jpg already" in entry.text and entry.level == "warning"
               for entry in state.log)
    assert state.graph.nodes["out"].params["path"] == "seq"  # the preset keeps its name


def test_a_graph_without_an_output_runs_as_a_preview_and_the_log_says_nothing_is_kept(tmp_path):
    # it ran without a word: a user took the thumbnails for a render that was being written
    state = EditorState(recent=RecentFiles(tmp_path / "recent.json"), engine="sequential")
    source = state.add_node("TestPattern")
    adjust = state.add_node("FrameAdjuster")
    assert state.add_link(source, "frame", adjust, "frame") is None
    assert state.start_run(frames=3)
    assert state.session.join(30)
    said = [entry for entry in state.log if "no Output node" in entry.text]
    assert len(said) == 1 and said[0].level == "warning" and "keeps nothing" in said[0].text
    out = state.add_node("NullOutput")
    assert state.add_link(adjust, "frame", out, "frame") is None
    assert state.start_run(frames=3)
    assert state.session.join(30)
    assert len([entry for entry in state.log if "no Output node" in entry.text]) == 1

