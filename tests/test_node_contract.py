"""The node contract: one param check that every entry point shares, and the class-level check hook
that `nodegraph validate` and a run's start call, here with a node's own rule, a model whose tensors
do not fit and a missing file."""

import os

import cv2
import numpy as np
import pytest
from checked_nodes import BandPass
from conftest import REPO, run_cli
from onnx import TensorProto
from swap_models import PORTRAIT, arcface_model, dfm_model, inswapper_model
from test_cli import node, write_preset

from nodegraph.editor.files import RecentFiles
from nodegraph.editor.state import EditorState
from nodegraph.errors import InvalidInput
from nodegraph.graph import Graph, Link
from nodegraph.model_tensors import model_tensors
from nodegraph.registry import default_registry, load_registry
from nodegraph.runtime import Runtime

TESTS = REPO / "tests"


@pytest.fixture
def checked_nodes_env(tmp_path):
    """BandPass installed as a node package (entry points), as the command line and its stage
    processes would load a third-party one."""
    dist = tmp_path / "site" / "nodegraph_checked_nodes-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nodegraph-checked-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nodegraph.nodes]\nband = checked_nodes:BandPass\n")
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(TESTS)])}


def band_preset(tmp_path, low, high):
    return write_preset(tmp_path / "band.json",
                        [node("src", "TestPattern", width=64, height=48, frames=3),
                         node("band", "BandPass", low=low, high=high),
                         node("out", "ImageSequenceOutput", path=str(tmp_path / "seq"), format="png")],
                        [("src.frame", "band.frame"), ("band.frame", "out.frame")])


def test_a_check_hook_problem_fails_validate_and_stops_runs_before_the_first_frame(tmp_path, checked_nodes_env):
    bad = band_preset(tmp_path, low=200, high=100)
    result = run_cli("validate", bad, env=checked_nodes_env)
    assert result.returncode == 2
    expected = "node 'band' (BandPass), param 'high': must be above low (200), got 100: no pixel would pass"
    assert f"{bad}: invalid\n  {expected}\n" == result.stdout
    for engine in (["--sequential"], []):
        result = run_cli("run", bad, *engine, cwd=tmp_path, env=checked_nodes_env)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr
        assert not (tmp_path / "seq").exists() or not list((tmp_path / "seq").iterdir())

    good = band_preset(tmp_path, low=100, high=200)
    assert run_cli("validate", good, env=checked_nodes_env).returncode == 0
    result = run_cli("run", good, "--sequential", cwd=tmp_path, env=checked_nodes_env)
    assert result.returncode == 0, result.stderr
    pattern = default_registry().get("TestPattern")("p", {"width": 64, "height": 48})
    pattern.setup()
    pattern.frame_id = 0
    band = BandPass("b", {"low": 100, "high": 200}).process(pattern.process()["frame"])["frame"]
    assert np.array_equal(cv2.imread(str(tmp_path / "seq" / "frame_000000.png")), band)


def problems_of(cls, tmp_path) -> list[str]:
    """What validate says of a graph of a test pattern into a node of class `cls` (named 'band')."""
    registry = load_registry(third_party=False)
    registry.add(cls, "tests")
    graph = Graph(base_dir=tmp_path)
    graph.add_node("TestPattern", {}, node_id="src")
    graph.add_node(cls.type_name(), {}, node_id="band")
    graph.add_link(Link.parse("src.frame", "band.frame"))
    return [str(p) for p in graph.validate(registry)]


def test_a_check_hook_that_breaks_is_a_problem_of_its_node(tmp_path):
    class BrokenCheck(BandPass):
        @classmethod
        def check(cls, params, base_dir):
            return [params["no such param"]]

    assert problems_of(BrokenCheck, tmp_path) == [
        "node 'band' (BrokenCheck): its check hook failed (KeyError: 'no such param'): a bug in the package that "
        "provides BrokenCheck; update or report it"]


@pytest.mark.parametrize(("returned", "said"), [(None, "None"), (["no model"], "['no model']")])
def test_a_check_hook_that_returns_no_list_of_problems_is_a_problem_of_its_node(tmp_path, returned, said):
    """validate, run and the editor used to end in a traceback (TypeError: 'NoneType' object is not iterable)."""
    class OddCheck(BandPass):
        @classmethod
        def check(cls, params, base_dir):
            return returned

    assert problems_of(OddCheck, tmp_path) == [
        f"node 'band' (OddCheck): its check hook returned {said}, not a list of Problems: a bug in the package that "
        "provides OddCheck; update or report it"]


def swap_preset(tmp_path, swapper):
    return write_preset(tmp_path / "swap.json",
                        [node("src", "TestPattern"), node("detect", "FaceDetector"), swapper,
                         node("merge", "FaceMerger"), node("out", "NullOutput")],
                        [("src.frame", "detect.frame"), ("src.frame", "swap.frame"), ("detect.faces", "swap.faces"),
                         ("src.frame", "merge.frame"), ("swap.faces", "merge.faces"), ("merge.frame", "out.frame")])


def test_a_float16_build_of_a_model_is_refused_before_the_run(tmp_path):
    # it loaded and passed the tensor check, then failed on every frame and the run exited 0, unswapped
    half = dfm_model(tmp_path / "half.dfm", input_type=TensorProto.FLOAT16)
    result = run_cli("validate", swap_preset(tmp_path, node("swap", "DFMSwapper", model=str(half))))
    assert result.returncode == 2
    assert (f"  node 'swap' (DFMSwapper), param 'model': {half}: its input in_face:0 takes tensor(float16), and "
            "the node feeds it 32-bit floats (tensor(float)): use the model's float32 build") in result.stdout


def test_validate_names_expected_and_found_tensors_of_a_model_that_does_not_fit(tmp_path):
    wrong = dfm_model(tmp_path / "wrong.dfm", input_name="input")
    result = run_cli("validate", swap_preset(tmp_path, node("swap", "DFMSwapper", model=str(wrong))))
    assert result.returncode == 2
    assert (f"  node 'swap' (DFMSwapper), param 'model': {wrong}: not a DeepFaceLive .dfm swapper this node can "
            "run. Expected inputs in_face:0 [N, res, res, 3]") in result.stdout
    assert "Found inputs: input [N, 224, 224, 3]; outputs: out_face_mask:0 [N, 224, 224, 1]" in result.stdout

    swapper = inswapper_model(tmp_path / "tiny_inswapper.onnx")
    small, _, _ = arcface_model(tmp_path / "small_arcface.onnx", dim=256)
    inswapper = node("swap", "InSwapper", model=str(swapper), recogniser=str(small), identity=str(PORTRAIT))
    result = run_cli("validate", swap_preset(tmp_path, inswapper))
    assert result.returncode == 2
    problems = result.stdout.splitlines()[1:]
    assert len(problems) == 1  # the swapper itself fits
    assert problems[0].startswith(f"  node 'swap' (InSwapper), param 'recogniser': {small}: not an ArcFace recogniser")
    assert "one output [N, 512] (the inswapper's source size)" in problems[0]
    assert "outputs: 683 [1, 256]" in problems[0]

    fitting = dfm_model(tmp_path / "fits.dfm", res=96)
    result = run_cli("validate", swap_preset(tmp_path, node("swap", "DFMSwapper", model=str(fitting))))
    assert result.returncode == 0, result.stdout


def test_a_model_is_read_once_per_version_of_its_file(tmp_path):
    path = dfm_model(tmp_path / "face.dfm", res=96)
    first = model_tensors(path)
    assert model_tensors(path) is first
    assert first.inputs[0].name == "in_face:0" and first.inputs[0].shape == ("N", 96, 96, 3)
    dfm_model(path, res=128)
    os.utime(path, ns=(0, 0))  # a new version even on a file system with coarse times
    assert model_tensors(path).inputs[0].shape == ("N", 128, 128, 3)


def test_a_missing_file_and_a_missing_model_are_reported_at_validate(tmp_path):
    graph = Graph(base_dir=tmp_path)
    graph.add_node("VideoSource", {"path": "absent.mp4"}, node_id="src")
    graph.add_node("DFMSwapper", {"model": "absent.dfm"}, node_id="swap")
    graph.add_node("NullOutput", {}, node_id="out")
    graph.add_link(Link.parse("src.frame", "out.frame"))
    found = [str(p) for p in graph.validate(default_registry()) if p.param]
    assert found[0] == f"node 'src' (VideoSource), param 'path': file not found: {tmp_path / 'absent.mp4'}"
    assert found[1].startswith("node 'swap' (DFMSwapper), param 'model': model file 'absent.dfm' not found")
    assert len(found) == 2


@pytest.mark.parametrize("name, value, why", [
    ("brightness", 999, "999 is out of range [-255, 255]"),
    ("sparkle", 1, "this node has no param 'sparkle'; its params are: median_blur, degrade, brightness"),
])
def test_one_param_check_says_the_same_from_every_entry_point(tmp_path, name, value, why):
    registry = load_registry(third_party=False)
    state = EditorState(registry, recent=RecentFiles(tmp_path / "recent.json"))
    src = state.add_node("TestPattern", (0, 0))
    adj = state.add_node("FrameAdjuster", (300, 0))
    assert state.add_link(src, "frame", adj, "frame") is None
    expected = f"node '{adj}' (FrameAdjuster), param '{name}': {why}"
    cls = registry.get("FrameAdjuster")
    said = {}
    with pytest.raises(InvalidInput) as error:
        cls(adj, {name: value})
    said["Node()"] = str(error.value)
    with pytest.raises(InvalidInput) as error:
        cls(adj, {}).set_param(name, value)
    said["Node.set_param"] = str(error.value)
    with pytest.raises(InvalidInput) as error:
        Runtime(state.graph, registry).set_param(adj, name, value)
    said["Runtime.set_param"] = str(error.value)
    said["EditorState.set_param"] = state.set_param(adj, name, value)
    state.graph.set_param(adj, name, value)  # as a hand-edited preset would have it
    said["Graph.validate"] = " | ".join(str(p) for p in state.graph.validate(registry))
    assert said == dict.fromkeys(said, expected)
