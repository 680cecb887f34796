import pytest

from nodegraph import preset
from nodegraph.graph import Graph, Link, LinkError
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry

REG = default_registry()


def chain(tmp_path):
    g = Graph(base_dir=tmp_path)
    g.add_node("TestPattern", {"frames": 5}, node_id="src")
    g.add_node("FrameAdjuster", {}, node_id="adj")
    g.add_node("ImageSequenceOutput", {"path": str(tmp_path / "out")}, node_id="out")
    g.add_link(Link.parse("src.frame", "adj.frame"), REG)
    g.add_link(Link.parse("adj.frame", "out.frame"), REG)
    return g


def messages(g):
    return [str(p) for p in g.validate(REG)]


def test_valid_chain_has_no_problems(tmp_path):
    assert messages(chain(tmp_path)) == []


def test_cycle_is_named(tmp_path):
    g = chain(tmp_path)
    g.add_node("FrameAdjuster", {}, node_id="adj2")
    g.remove_link(Link.parse("src.frame", "adj.frame"))
    g.add_link(Link.parse("adj.frame", "adj2.frame"))
    g.add_link(Link.parse("adj2.frame", "adj.frame"))
    cycle = [m for m in messages(g) if "cycle" in m]
    assert len(cycle) == 1
    assert "adj" in cycle[0] and "adj2" in cycle[0]


def test_editor_refuses_a_link_that_makes_a_cycle(tmp_path):
    g = chain(tmp_path)
    g.add_node("FrameAdjuster", {}, node_id="adj2")
    g.add_link(Link.parse("adj.frame", "adj2.frame"), REG)
    with pytest.raises(LinkError, match="cycle"):
        g.add_link(Link.parse("adj2.frame", "adj.frame"), REG)


def test_two_links_into_one_input_and_unconnected_input(tmp_path):
    g = chain(tmp_path)
    g.add_node("TestPattern", {}, node_id="src2")
    g.add_node("FrameAdjuster", {}, node_id="lonely")
    g.add_link(Link.parse("src2.frame", "adj.frame"))
    found = messages(g)
    assert any("node 'adj', port 'frame': two links feed this input" in m for m in found)
    assert any("node 'lonely', port 'frame': required input (Frame) is not connected" in m for m in found)


def test_unknown_type_param_and_range_are_named(tmp_path):
    g = chain(tmp_path)
    g.add_node("NoSuchNode", {}, node_id="mystery")
    g.set_param("adj", "brightness", 999)
    g.set_param("adj", "sparkle", 1)
    found = messages(g)
    assert any("node 'mystery', field 'type': unknown node type 'NoSuchNode'" in m and "built-in" in m
               for m in found)
    assert any("node 'adj' (FrameAdjuster), param 'brightness': 999 is out of range [-255, 255]" in m
               for m in found)
    assert any("node 'adj' (FrameAdjuster), param 'sparkle': this node has no param 'sparkle'; its params are: "
               "median_blur, degrade, brightness" in m for m in found)


def test_a_misspelt_type_gets_a_suggestion_and_no_follow_on_problems(tmp_path):
    """Its links count as connected and it may be the source: only the typo itself is reported."""
    g = chain(tmp_path)
    g.nodes["src"].type = "TestPatern"
    assert messages(g) == [
        "node 'src', field 'type': unknown node type 'TestPatern'; did you mean 'TestPattern'? installed node "
        "packages: built-in. Install the package that provides it, or run `nodegraph nodes` to list the known types"]


def test_type_mismatch_is_named_with_both_types(tmp_path):
    from nodegraph.node import Node
    from nodegraph.registry import Registry
    from nodegraph.types import Frame
    from nodes.face.records import Faces

    class FaceSink(Node):
        inputs = {"faces": Faces}

    reg = Registry()
    reg.add_all(REG, "built-in")
    reg.add(FaceSink, "test")
    g = Graph(base_dir=tmp_path)
    g.add_node("TestPattern", {}, node_id="src")
    g.add_node("FaceSink", {}, node_id="sink")
    with pytest.raises(LinkError, match=r"gives Frame.*takes Faces"):
        g.add_link(Link.parse("src.frame", "sink.faces"), reg)
    g.add_link(Link.parse("src.frame", "sink.faces"))  # as a hand-edited preset would
    found = [str(p) for p in g.validate(reg)]
    assert any("node 'sink', port 'faces': type mismatch" in m and "Frame" in m and "Faces" in m for m in found)
    assert Frame != Faces


def test_missing_required_file_param_and_missing_file(tmp_path):
    g = Graph(base_dir=tmp_path)
    g.add_node("VideoSource", {}, node_id="a")
    g.add_node("VideoSource", {"path": "nope.mp4"}, node_id="b")
    found = messages(g)
    assert any("node 'a' (VideoSource), param 'path': no file given" in m for m in found)
    assert any("node 'b' (VideoSource), param 'path': file not found: " + str(tmp_path / "nope.mp4") in m
               for m in found)


def test_every_builtin_node_but_file_ones_accepts_empty_params():
    from nodegraph.params import Path

    for cls in REG:
        required = [n for n, p in cls.params.items() if p.required]
        assert all(isinstance(cls.params[n], Path) for n in required), cls
        if not required:
            cls("x", {})


def test_port_naming_convention():
    from nodegraph.params import Path
    from nodegraph.types import Frame
    from nodes.face.records import Faces

    for cls in REG:
        for ports in (cls.inputs, cls.outputs):
            for name, port_type in ports.items():
                if port_type is Frame and name != "frame":
                    assert name.endswith("frame"), (cls, name)
                if port_type is Faces:
                    assert name.endswith("faces"), (cls, name)
        if cls.category in ("Sources", "Output"):
            for name, spec in cls.params.items():
                if isinstance(spec, Path) and spec.required:
                    assert name == "path", (cls, name)


def test_topological_order_is_stable(tmp_path):
    g = chain(tmp_path)
    assert g.topological_order() == ["src", "adj", "out"]
    g.remove_node("adj")
    assert g.links == []


def test_a_node_with_a_bad_param_still_says_which_files_and_models_are_missing(tmp_path):
    # the check hook needs valid params, so its missing files and models were not said until the bad param
    # was fixed: then validate said more, one round after another
    g = Graph("t", base_dir=tmp_path)
    g.add_node("VideoSource", {"path": "gone.mp4", "max_size": -5}, node_id="src")
    g.add_node("NullOutput", {}, node_id="out")
    g.add_link(Link.parse("src.frame", "out.frame"))
    said = messages(g)
    assert any("'max_size'" in m for m in said) and any(f"file not found: {tmp_path / 'gone.mp4'}" in m for m in said)


def test_a_folder_where_an_output_file_goes_is_a_problem(tmp_path):
    # validate said ok; the run found it only when the file was to be put in place
    (tmp_path / "out.mp4").mkdir()
    g = Graph("t", base_dir=tmp_path)
    g.add_node("TestPattern", {}, node_id="src")
    g.add_node("VideoFileOutput", {"path": str(tmp_path / "out.mp4")}, node_id="out")
    g.add_link(Link.parse("src.frame", "out.frame"))
    assert f"{tmp_path / 'out.mp4'} is a folder; give a file name such as {tmp_path / 'out.mp4' / 'out.mp4'}" \
        in " ".join(messages(g))


def test_a_folder_given_as_an_output_file_is_one_problem_not_also_its_missing_extension(tmp_path):
    # `--set out.path=renders` (a folder) was also told "has no extension; ... end the name with one of .mp4, ...",
    # which adding .mp4 to the folder's name would not mend
    (tmp_path / "renders").mkdir()
    g = Graph("t", base_dir=tmp_path)
    g.add_node("TestPattern", {}, node_id="src")
    g.add_node("VideoFileOutput", {"path": str(tmp_path / "renders")}, node_id="out")
    g.add_link(Link.parse("src.frame", "out.frame"))
    assert messages(g) == [f"node 'out' (VideoFileOutput), param 'path': {tmp_path / 'renders'} is a folder; give a "
                           f"file name such as {tmp_path / 'renders' / 'out.mp4'}"]


def test_a_preset_copied_away_from_its_media_says_where_its_relative_paths_are_read(tmp_path):
    # it said only "file not found: <new folder>/media/astronaut.png", not why it was looked for there
    shipped = preset.load(data_dir("presets") / "video_swap.json")
    preset.save(shipped, tmp_path / "mine.json")
    said = messages(preset.load(tmp_path / "mine.json"))
    hint = (f" (a relative path in a preset is read from the preset's folder, {tmp_path}: keep the preset beside its "
            "media, or give a path from that folder or a full one)")
    assert said == [f"node 'source' (VideoSource), param 'path': file not found: {tmp_path / 'media' / 'demo.mp4'}"
                    f"{hint}", "node 'swapper' (MeshWarpSwapper), param 'identity': file not found: "
                    f"{tmp_path / 'media' / 'astronaut.png'}{hint}"]
    absolute = preset.load(tmp_path / "mine.json")
    absolute.set_param("source", "path", str(tmp_path / "gone.mp4"))  # a full path: nothing to explain
    assert f"node 'source' (VideoSource), param 'path': file not found: {tmp_path / 'gone.mp4'}" in messages(absolute)


def test_only_a_missing_input_file_gets_the_relative_path_hint_not_a_message_that_says_not_found(tmp_path):
    # the hint keyed on " not found: " in the words: a camera named in a settings file that is there was told to
    # keep the preset beside its media
    from nodegraph.errors import Problem
    from nodegraph.node import Node
    from nodegraph.params import Path
    from nodegraph.registry import Registry
    from nodegraph.types import Frame

    class CameraFromSettings(Node):
        outputs = {"frame": Frame}
        params = {"settings": Path(role="input")}

        @classmethod
        def check(cls, params, base_dir):
            return super().check(params, base_dir) or [
                Problem("camera 3 (/dev/video3) not found: plug it in", param="settings")]

    reg = Registry()
    reg.add_all(REG, "built-in")
    reg.add(CameraFromSettings, "test")
    (tmp_path / "cam.json").write_text("{}")
    g = Graph("t", base_dir=tmp_path)
    g.preset_path = tmp_path / "mine.json"
    g.add_node("CameraFromSettings", {"settings": "cam.json"}, node_id="cam")
    g.add_node("NullOutput", {}, node_id="out")
    g.add_link(Link.parse("cam.frame", "out.frame"))
    assert [str(p) for p in g.validate(reg)] == [
        "node 'cam' (CameraFromSettings), param 'settings': camera 3 (/dev/video3) not found: plug it in"]
    g.set_param("cam", "settings", "gone.json")
    said, = [str(p) for p in g.validate(reg)]
    assert said.startswith(f"node 'cam' (CameraFromSettings), param 'settings': file not found: "
                           f"{tmp_path / 'gone.json'} (a relative path in a preset is read from the preset's folder")


def test_an_input_that_is_a_folder_or_an_empty_file_is_a_problem(tmp_path):
    # validate said ok; the run refused them
    (tmp_path / "clips").mkdir()
    (tmp_path / "empty.mp4").touch()
    (tmp_path / "notes.txt").write_text("x")
    said = []
    for source, params in (("VideoSource", {"path": "clips"}), ("VideoSource", {"path": "empty.mp4"}),
                           ("FolderSource", {"path": "notes.txt"})):
        g = Graph("t", base_dir=tmp_path)
        g.add_node(source, params, node_id="src")
        g.add_node("NullOutput", {}, node_id="out")
        g.add_link(Link.parse("src.frame", "out.frame"))
        said.append(" ".join(messages(g)))
    assert f"{tmp_path / 'clips'}: is a folder; give a file" in said[0]
    assert f"{tmp_path / 'empty.mp4'}: the file is empty (0 bytes)" in said[1]
    assert f"{tmp_path / 'notes.txt'}: is a file; give a folder" in said[2]
