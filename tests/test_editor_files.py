"""The editor's files, driven without a screen: save and open, Save as elsewhere, the recent files, and files
that must not be written through (read-only, links, another preset)."""

import os
import shutil
from pathlib import Path

from test_editor_state import MEDIA, REPO, registry, small_chain, state  # noqa: F401 (fixtures)

from nodegraph import preset
from nodegraph.editor.files import RecentFiles
from nodegraph.editor.state import EditorState
from nodegraph.graph import Graph, Link


def test_save_then_load_gives_an_equal_graph_with_positions(state, tmp_path):  # noqa: F811
    src, adjust, out = small_chain(state)
    state.move_nodes({adjust: (333.5, 44.0)})
    target = tmp_path / "saved.json"
    assert state.save(target)
    assert not state.dirty and state.path == target.resolve()
    loaded = preset.load(target)
    assert loaded == state.graph
    assert loaded.nodes[adjust].pos == (333.5, 44.0)
    assert state.recent.paths[0] == str(target.resolve())

    state.set_param(adjust, "brightness", 5)
    assert state.dirty and state.title.startswith("*")
    fresh = EditorState(state.registry, recent=state.recent)
    assert fresh.open(target)
    assert fresh.graph == loaded and not fresh.dirty


def test_save_as_elsewhere_keeps_relative_inputs_pointing_to_the_same_files(state, tmp_path):  # noqa: F811
    source = tmp_path / "presets" / "face.json"
    (tmp_path / "presets" / "media").mkdir(parents=True)
    picture = tmp_path / "presets" / "media" / "face.png"
    picture.write_bytes((MEDIA / "grace_hopper.jpg").read_bytes())
    graph = Graph("face", base_dir=source.parent)
    graph.add_node("ImageSource", {"path": "media/face.png"}, (0, 0), node_id="src")
    graph.add_node("ImageSequenceOutput", {"path": "out/frames"}, (300, 0), node_id="out")
    graph.add_link(Link("src", "frame", "out", "frame"))
    preset.save(graph, source)
    assert state.open(source)

    moved = tmp_path / "elsewhere" / "deeper" / "copy.json"
    moved.parent.mkdir(parents=True)
    assert state.save(moved)
    params = preset.load(moved).nodes
    assert params["src"].params["path"] == "../../presets/media/face.png"
    assert params["out"].params["path"] == "out/frames"  # outputs resolve against the working folder
    reloaded = preset.load(moved)
    assert Path(reloaded.resolved_params("src", state.registry)["path"]).resolve() == picture.resolve()
    assert reloaded.validate(state.registry) == []


def test_open_keeps_the_graph_when_the_file_is_bad(state, tmp_path):  # noqa: F811
    small_chain(state)
    before = state.graph.copy()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nodegraph-preset", "version": 1, "nodes": [{"id": 3}]}')
    assert not state.open(bad)
    assert state.graph == before
    assert "bad.json" in state.log[-1].text and state.log[-1].level == "error"
    assert not state.open(tmp_path / "missing.json")


def test_recent_files_newest_first_without_duplicates(tmp_path):
    recent = RecentFiles(tmp_path / "r" / "recent.json")
    for name in ("a.json", "b.json", "a.json"):
        (tmp_path / name).write_text("{}")
        recent.add(tmp_path / name)
    assert RecentFiles(tmp_path / "r" / "recent.json").paths == [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    (tmp_path / "b.json").unlink()
    assert recent.existing() == [str(tmp_path / "a.json")]


def test_the_recent_files_list_replaces_a_symlink_never_writes_through_it(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (tmp_path / "recent.json").symlink_to(precious)
    (tmp_path / "a.json").write_text("{}")
    RecentFiles(tmp_path / "recent.json").add(tmp_path / "a.json")
    assert precious.read_text() == "keep me" and not (tmp_path / "recent.json").is_symlink()
    assert RecentFiles(tmp_path / "recent.json").paths == [str(tmp_path / "a.json")]


def test_a_saved_preset_keeps_the_mode_of_the_file_it_replaces_or_the_umask_default(state, tmp_path):  # noqa: F811
    small_chain(state)
    fresh = tmp_path / "fresh.json"
    old_mask = os.umask(0o027)
    try:
        assert state.save(fresh)
    finally:
        os.umask(old_mask)
    assert fresh.stat().st_mode & 0o777 == 0o640  # as a new file made under that umask, not mkstemp's 0600
    shared = tmp_path / "shared.json"
    shared.write_text("{}")
    shared.chmod(0o664)
    assert state.save(shared)
    assert shared.stat().st_mode & 0o777 == 0o664 and preset.load(shared) == state.graph
    private = tmp_path / "private.json"
    private.write_text("{}")
    private.chmod(0o600)
    assert state.save(private)
    assert private.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.json", "private.json", "recent.json", "shared.json"]


def test_saving_over_a_symlinked_preset_replaces_the_link_not_its_target(state, tmp_path):  # noqa: F811
    (tmp_path / "library").mkdir()
    original = tmp_path / "library" / "shared.json"
    small_chain(state)
    assert state.save(original)
    original.chmod(0o640)
    kept = original.read_bytes()
    link = tmp_path / "mine.json"
    link.symlink_to(original)
    assert state.open(link)
    assert state.path == link  # the path opened, not the link's target
    adjust = next(n for n, spec in state.graph.nodes.items() if spec.type == "FrameAdjuster")
    state.set_param(adjust, "brightness", 30)
    assert not state.replaces_another_file(link)  # it is the file open: no question
    assert state.save()
    assert original.read_bytes() == kept
    assert not link.is_symlink() and preset.load(link).nodes[adjust].params["brightness"] == 30
    assert link.stat().st_mode & 0o777 == 0o640  # no wider than the file the user opened
    assert f"{link} was a link to {original}" in state.log[-2].text


def test_save_as_onto_another_existing_file_needs_confirmation(state, tmp_path):  # noqa: F811
    small_chain(state)
    mine, other = tmp_path / "mine.json", tmp_path / "other.json"
    assert not state.replaces_another_file(mine)  # nothing there yet
    assert state.save(mine)
    assert not state.replaces_another_file(mine) and not state.replaces_another_file(str(tmp_path / "." / "mine.json"))
    other.write_text("someone else's preset")
    assert state.replaces_another_file(other)
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    assert state.replaces_another_file(tmp_path / "dangling.json")
    fresh = EditorState(state.registry, recent=state.recent)
    assert fresh.replaces_another_file(mine)  # a new graph has no file of its own


def test_a_read_only_preset_is_not_saved_over_and_the_log_says_save_as(state, tmp_path):  # noqa: F811
    # saving renames a new file into place, which the folder allows: a 0444 preset was replaced silently
    small_chain(state)
    mine = tmp_path / "mine.json"
    assert state.save(mine)
    mine.chmod(0o444)
    kept = mine.read_bytes()
    adjust = next(n for n, spec in state.graph.nodes.items() if spec.type == "FrameAdjuster")
    state.set_param(adjust, "brightness", 30)
    assert not state.save()
    assert mine.read_bytes() == kept and state.dirty
    assert state.log[-1].text == (f"cannot save {mine}: the file is read-only; File > Save as keeps your changes in "
                                  "another file")
    assert state.save(tmp_path / "copy.json") and not state.dirty


def test_an_undo_after_save_as_keeps_the_graph_knowing_the_file_it_is_in(tmp_path):
    # the undo step was copied before the Save as: its graph named the old preset, so an output at the new
    # preset was not refused as the preset itself
    first = tmp_path / "first.json"
    shutil.copy(REPO / "presets" / "demo.json", first)
    state = EditorState(recent=RecentFiles(tmp_path / "recent.json"))  # noqa: F811
    assert state.open(first) and state.graph.preset_path == first
    state.set_param("adjust", "brightness", 20)
    assert state.save(tmp_path / "second.json")
    assert state.undo()
    assert state.graph.preset_path == tmp_path / "second.json"


def test_a_new_graph_saved_takes_the_name_of_its_file(state, tmp_path):  # noqa: F811
    # the inspector and the preset's "name" said "untitled" after File > Save as chain.json
    small_chain(state)
    assert state.graph.name == "untitled"
    assert state.save(tmp_path / "chain.json")
    assert state.graph.name == "chain" and preset.load(tmp_path / "chain.json").name == "chain"
    assert state.undo() and state.graph.name == "chain"  # the name came with the file: not an edit to undo
    assert state.save(tmp_path / "copy.json")  # a graph with a name of its own keeps it
    assert preset.load(tmp_path / "copy.json").name == "chain"


def test_a_graph_json_cannot_hold_is_not_saved_and_the_editor_says_why(state, tmp_path):  # noqa: F811
    # a plug-in's own param type may hold a NaN, which the preset writer refuses: the editor said nothing and
    # the refusal went up through the window's callback
    small_chain(state)
    mine = tmp_path / "mine.json"
    assert state.save(mine)
    kept = mine.read_bytes()
    node_id = next(iter(state.graph.nodes))
    state.graph.nodes[node_id].pos = (float("nan"), 0.0)
    assert not state.save()
    assert mine.read_bytes() == kept
    assert state.log[-1].level == "error" and state.log[-1].text.startswith(f"cannot save {mine}: {mine}: node "
                                                                            f"'{node_id}': field 'pos'")
