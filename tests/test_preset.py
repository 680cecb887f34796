import json
import os
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodegraph import preset
from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry

REG = default_registry()
DEMO = {
    "format": "nodegraph-preset", "version": 1, "name": "t", "description": "",
    "nodes": [
        {"id": "src", "type": "VideoSource", "params": {"path": "clip.mp4"}, "pos": [0, 0], "process": None},
        {"id": "out", "type": "VideoFileOutput", "params": {"path": "result.mp4"}, "pos": [200, 0],
         "process": None},
    ],
    "links": [{"from": "src.frame", "to": "out.frame"}],
}


def test_bad_json_names_line_and_column():
    with pytest.raises(preset.PresetError, match=r"line 3, column 5"):
        preset.loads('{\n  "format": "nodegraph-preset",\n    ]\n}')


@pytest.mark.parametrize("change, message", [
    ({"format": "something-else"}, "field 'format' must be \"nodegraph-preset\""),
    ({"version": 99}, "version 99 is newer"),
    ({"version": "1"}, "field 'version' must be a positive integer"),
    ({"nodes": {}}, "field 'nodes' must be a list"),
])
def test_wrong_format_or_version(change, message):
    with pytest.raises(preset.PresetError, match=message):
        preset.from_dict({**DEMO, **change})


def test_a_bad_version_does_not_hide_the_other_problems():
    with pytest.raises(preset.PresetError) as caught:
        preset.from_dict({**DEMO, "version": "1", "nodes": {}, "colour": 3})
    message = str(caught.value)
    for part in ("field 'version' must be a positive integer, got '1'", "field 'nodes' must be a list",
                 "unknown top-level field(s): colour"):
        assert part in message, message


@pytest.mark.parametrize(("text", "said"), [
    ('"params": {"path": "clip.mp4"}, "params": {"path": "other.mp4"}',
     "field 'params' is given twice in node 'src'"),
    ('"params": {"path": "clip.mp4", "path": "other.mp4"}', "field 'path' is given twice in one object"),
])
def test_a_field_given_twice_is_refused_not_half_lost(text, said):
    """json keeps the last of two equal keys: a pasted second "params" silently dropped the first one's values."""
    with pytest.raises(preset.PresetError) as caught:
        preset.loads(json.dumps(DEMO).replace('"params": {"path": "clip.mp4"}', text))
    assert str(caught.value) == (f"<preset>: {said}; JSON would keep only the last and lose the first: "
                                 "merge them into one")


def test_a_duplicate_or_bad_node_id_names_its_entry_in_nodes():
    """It said "node id 'src' is used twice" and left the reader to find which of the entries named src."""
    nodes = [*DEMO["nodes"], {"id": "src", "type": "FrameAdjuster"}, {"id": "bad id", "type": "FrameAdjuster"}]
    with pytest.raises(preset.PresetError) as caught:
        preset.from_dict({**DEMO, "nodes": nodes})
    assert caught.value.problems == [
        "nodes[2]: node id 'src' is already the id of nodes[0]; node ids must be unique: rename one",
        "nodes[3]: node id 'bad id' is not valid: use letters, digits, '_' and '-' and start with a letter"]

def test_nan_is_refused():
    with pytest.raises(preset.PresetError, match="NaN"):
        preset.loads(json.dumps(DEMO).replace('"pos": [0, 0]', '"pos": [NaN, 0]'))


def test_save_then_load_gives_an_equal_graph(tmp_path):
    g = preset.from_dict(DEMO, base_dir=tmp_path)
    path = tmp_path / "p.json"
    preset.save(g, path)
    again = preset.load(path)
    assert again == g
    assert preset.to_dict(again) == DEMO
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_graph_holding_nan_is_not_saved_and_the_file_there_stays(tmp_path):
    """Graph.set_param takes any value (validate() judges it); save wrote `NaN` into the file, which its own
    loader then refused as bad JSON."""
    path = tmp_path / "p.json"
    path.write_text("the file already there")
    g = preset.from_dict(DEMO, base_dir=tmp_path)
    g.set_param("src", "start", float("nan"))
    g.nodes["out"].pos = (float("inf"), 0.0)
    with pytest.raises(preset.PresetError) as caught:
        preset.save(g, path)
    assert caught.value.problems == [
        "node 'src', param 'start': nan holds a number JSON cannot save (NaN or infinity); set a finite number",
        "node 'out': field 'pos' (inf, 0.0) holds a number JSON cannot save; give finite numbers"]
    assert path.read_text() == "the file already there"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_relative_paths_inputs_against_preset_folder_outputs_against_cwd(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "p.json").write_text(json.dumps(DEMO))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    g = preset.load(folder / "p.json")
    assert g.resolved_params("src", REG)["path"] == str(folder / "clip.mp4")
    assert g.resolved_params("out", REG)["path"] == str(work / "result.mp4")


def test_loading_never_imports_or_evaluates(tmp_path):
    evil = {**DEMO, "nodes": [{"id": "x", "type": "os.system", "params": {"path": "__import__('os')"}}],
            "links": []}
    g = preset.from_dict(evil, base_dir=tmp_path)
    problems = [str(p) for p in g.validate(REG)]
    assert any("unknown node type 'os.system'" in p for p in problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def mutate(data, path_choice, value):
    """Replace one value somewhere inside `data` (a copy) with `value`."""
    data = json.loads(json.dumps(data))
    spots = []

    def walk(node):
        if isinstance(node, dict):
            for key in node:
                spots.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for i in range(len(node)):
                spots.append((node, i))
                walk(node[i])

    walk(data)
    container, key = spots[path_choice % len(spots)]
    container[key] = value
    return data


def check_loader(data, tmp_path):
    try:
        graph = preset.from_dict(data, base_dir=tmp_path)
    except InvalidInput as e:
        assert str(e)
        return
    assert isinstance(graph, Graph)
    for problem in graph.validate(REG):
        assert str(problem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), json_values)
def test_mutated_presets_give_a_graph_or_a_clear_error(tmp_path, where, value):
    check_loader(mutate(DEMO, where, value), tmp_path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_random_json_gives_a_clear_error(tmp_path, value):
    check_loader(value, tmp_path)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_a_clear_error(text):
    try:
        preset.loads(text)
    except InvalidInput as e:
        assert str(e)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(preset.PresetError, match="file not found"):
        preset.load(tmp_path / "missing.json")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(preset.PresetError, match="not a UTF-8"):
        preset.load(binary)
    with pytest.raises(preset.PresetError, match="folder"):
        preset.load(tmp_path)
    assert os.path.exists(tmp_path)


def test_a_device_a_pipe_or_a_huge_file_is_refused_without_reading_it(tmp_path):
    # /dev/zero grew to gigabytes of memory and a pipe waited for ever: read_text read them whole
    os.mkfifo(tmp_path / "pipe.json")
    for odd in ("/dev/zero", tmp_path / "pipe.json"):
        with pytest.raises(preset.PresetError, match=r"is not a file \(a device or a pipe\); give a preset file"):
            preset.load(odd)
    huge = tmp_path / "video.json"
    with open(huge, "wb") as file:
        file.truncate(preset.MAX_PRESET_BYTES + 1)
    with pytest.raises(preset.PresetError, match="is over 16 MiB, so it is not a preset"):
        preset.load(huge)


def test_a_video_or_picture_given_as_the_preset_says_how_to_run_a_preset_on_it(tmp_path):
    # `nodegraph run clip.mp4` said "not a UTF-8 text file (byte 38); a preset is JSON"
    media = data_dir("presets") / "media"
    for name, what in (("demo.mp4", "a video"), ("astronaut.png", "a picture")):
        with pytest.raises(preset.PresetError) as e:
            preset.load(media / name)
        assert str(e.value) == (f"{media / name}: is {what}, not a preset: give the preset (JSON) to run on it, with "
                                f"this file as its source's path, e.g. `nodegraph run PRESET --set "
                                f"SOURCE.path={media / name}`")
    big = tmp_path / "long take.mp4"
    with open(big, "wb") as file:
        file.truncate(preset.MAX_PRESET_BYTES + 1)
    with pytest.raises(preset.PresetError, match=re.escape(f"SOURCE.path='{big}'`")):
        preset.load(big)


@pytest.mark.parametrize("blank", ["", "\n", " \t\r\n"])
def test_an_empty_preset_file_is_said_to_be_empty(tmp_path, blank):
    # it was "bad JSON at line 2, column 1: Expecting value", which read as a typo on a line the file did not have
    path = tmp_path / "p.json"
    path.write_text(blank)
    with pytest.raises(preset.PresetError) as e:
        preset.load(path)
    assert str(e.value) == (f"{path}: is empty: a preset is a JSON object ({{\"format\": \"nodegraph-preset\", ...}}), "
                            "as `nodegraph edit` saves one")


def test_a_preset_saved_with_a_byte_order_mark_loads(tmp_path):
    # some Windows editors begin a UTF-8 file with one; json refused it
    path = tmp_path / "p.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(DEMO).encode())
    assert preset.to_dict(preset.load(path)) == DEMO


def test_a_number_too_long_to_read_is_bad_json_at_its_line_and_column():
    digits = "1" + "0" * 5000  # past Python's 4300-digit limit on int(): a ValueError, not a JSONDecodeError
    text = f'{{"format": "nodegraph-preset", "version": 1,\n "name": "{digits}",\n  "x": -{digits}}}'
    with pytest.raises(preset.PresetError) as e:
        preset.loads(text)
    assert e.value.problems == ["bad JSON at line 3, column 8: a number of 5001 digits, more than the 4300 a number "
                                "may have"]


def test_validate_prints_a_lone_surrogate_in_a_type_or_param_as_its_escape(tmp_path, capsys):
    from nodegraph.cli import main

    path = tmp_path / "s.json"
    path.write_text('{"format": "nodegraph-preset", "version": 1, "nodes": [{"id": "a", "type": "X\\ud800"}, '
                    '{"id": "b", "type": "TestPattern", "params": {"k\\udc80": 1}}]}')
    assert main(["validate", str(path)]) == 2
    said = capsys.readouterr().out
    assert "unknown node type 'X\\ud800'" in said and "k\\udc80" in said, said


def test_only_a_whole_number_is_found_too_long_not_a_fraction_or_an_exponent():
    digits = "1" * (sys.get_int_max_str_digits() + 1)
    assert preset.long_number(f'{{"a": 0.{digits}, "b": 1e-{digits}}}') is None
    assert preset.long_number(f'{{"a": 0.5,\n "b": -{digits}}}') == (2, 7, len(digits))
