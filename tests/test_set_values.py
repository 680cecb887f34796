"""`--set NODE.PARAM=VALUE`: a value that cannot be taken is said plainly, naming the param, never a traceback."""

import json

import cv2
import numpy as np
import pytest
from conftest import run_cli

from nodegraph import preset
from nodegraph.arguments import apply_overrides
from nodegraph.errors import InvalidInput
from nodegraph.params import Choice, Float, Int, ParamError, Text
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry


def demo():
    return preset.load(data_dir("presets") / "demo.json")


@pytest.mark.parametrize(("value", "said"), [
    ("1" + "0" * 5000, "holds a number of more than 4300 digits, more than a number may have; give a smaller number"),
    ("[" * 5000, "the value is nested too deeply"),
], ids=["5001 digits", "nested 5000 deep"])
def test_a_value_python_cannot_read_is_refused_naming_the_param(value, said):
    with pytest.raises(InvalidInput) as e:
        apply_overrides(demo(), [f"pattern.frames={value}"], default_registry())
    assert str(e.value) == f"--set pattern.frames=...: {said}"


def test_a_number_or_true_given_where_text_goes_says_to_quote_it():
    with pytest.raises(InvalidInput) as e:
        apply_overrides(demo(), ["out.path=2024"], default_registry())  # JSON: the number 2024
    assert str(e.value) == ("--set 'out.path=2024': node 'out' (VideoFileOutput), param 'path': expected a path "
                            "string, got 2024; 2024 is a number: to give the text \"2024\", quote it as JSON "
                            "(--set NODE.PARAM='\"2024\"')")
    with pytest.raises(ParamError, match="true is JSON's true: to give the text \"true\", quote it as JSON"):
        Text().validate(True)
    with pytest.raises(ParamError, match="512 is not one of 'native', '256', '512'; 512 is a number: to give the text "
                                         "\"512\", quote it as JSON"):
        Choice(["native", "256", "512"]).validate(512)


def test_a_relative_input_path_given_with_set_is_read_from_the_current_folder(tmp_path):
    """As the shell completed it: `--set src.path=face.png` from the folder holding face.png used to look for
    it beside the preset ("file not found: .../presets/face.png")."""
    (tmp_path / "presets").mkdir()
    (tmp_path / "work").mkdir()
    cv2.imwrite(str(tmp_path / "work" / "face.png"), np.full((24, 32, 3), 200, np.uint8))
    path = tmp_path / "presets" / "p.json"
    path.write_text(json.dumps({
        "format": "nodegraph-preset", "version": 1,
        "nodes": [{"id": "src", "type": "ImageSource", "params": {"path": "default.png", "repeat": 3}},
                  {"id": "out", "type": "ImageSequenceOutput", "params": {"path": "seq"}}],
        "links": [{"from": "src.frame", "to": "out.frame"}]}))
    done = run_cli("run", path, "--set", "src.path=face.png", "--sequential", cwd=tmp_path / "work")
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "work" / "seq").glob("frame_*.png"))) == 3


@pytest.mark.parametrize(("item", "flag"), [("mode=realtime", "--mode realtime"), ("frames=10", "--frames 10")])
def test_a_run_option_given_as_set_says_which_flag_it_is(item, flag):
    # `--set mode=realtime` was only told to write NODE.PARAM=VALUE: the mode belongs to the run, not a node
    with pytest.raises(InvalidInput) as e:
        apply_overrides(demo(), [item], default_registry())
    assert str(e.value) == (f"--set {item!r}: {item.partition('=')[0]} belongs to the run, not to a node; "
                            f"`nodegraph run` takes it as {flag}")


def test_a_huge_number_out_of_range_is_said_compactly():
    # 1e300 given for an int param is read as a whole number: the message printed all its 301 digits
    result = run_cli("plan", data_dir("presets") / "demo.json", "--set", "pattern.width=1e300",
                     "--set", "adjust.brightness=-123456789012345678")
    assert result.returncode == 2
    assert "node 'pattern' (TestPattern), param 'width': 1e+300 is out of range [16, 7680]" in result.stderr
    assert "param 'brightness': -1.23457e+17 is out of range [-255, 255]" in result.stderr
    with pytest.raises(ParamError, match=r"^1e\+400 is out of range \[-1, 1\]$"):
        Int(-1, 1).validate(10**400)
    with pytest.raises(ParamError, match=r"^1e\+20 is out of range \[0.0, 1.0\]$"):
        Float(0.0, 1.0).validate(10**20)


def test_a_whole_number_past_a_floats_range_is_out_of_range_not_a_traceback():
    # math.isfinite(10**400) raised OverflowError: `plan`, `validate` and `run` ended in a traceback, exit 1
    result = run_cli("plan", data_dir("presets") / "demo.json", "--set", "pattern.fps=1" + "0" * 400)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "node 'pattern' (TestPattern), param 'fps': 1e+400 is out of range [1.0, 240.0]" in result.stderr
    with pytest.raises(ParamError, match=r"^1e\+400 is out of range \[0.0, inf\]$"):
        Float(0.0, float("inf")).validate(10**400)
    assert Float(0.0, float("inf")).validate(10**300) == 1e300


def test_a_misspelt_param_given_with_set_is_said_as_the_sets_with_the_closest_name(tmp_path):
    # it was said as "demo.json: the graph is not valid: ... param 'brightnes'", a fault in the preset file
    result = run_cli("run", data_dir("presets") / "demo.json", "--set", "adjust.brightnes=3", "--frames", "2",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert ("nodegraph: --set 'adjust.brightnes=3': node 'adjust' (FrameAdjuster), param 'brightnes': this node has "
            "no param 'brightnes'; did you mean 'brightness'? its params are: median_blur, degrade, brightness"
            in result.stderr), result.stderr
    assert "the graph is not valid" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_every_value_set_refuses_is_said_at_once_naming_its_set():
    with pytest.raises(InvalidInput) as e:
        apply_overrides(demo(), ["adjust.brightness=abc", "pattern.frames=5", "pattern.width=1"], default_registry())
    assert str(e.value) == (
        "these --set values cannot be taken:\n"
        "  --set 'adjust.brightness=abc': node 'adjust' (FrameAdjuster), param 'brightness': expected an integer "
        "between -255 and 255, got 'abc'\n"
        "  --set 'pattern.width=1': node 'pattern' (TestPattern), param 'width': 1 is out of range [16, 7680]")
