"""A run never writes over its own preset: an output (a file or a picture folder) that is the preset file,
however it is spelled, is refused by validate, by run (both executors) and by a graph the editor saved."""

import os

import pytest
from conftest import run_cli
from test_cli import node, write_preset

from nodegraph import preset
from nodegraph.registry import default_registry


def preset_writing_to(tmp_path, output_type, target):
    return write_preset(tmp_path / "p.mp4", [node("src", "TestPattern"), node("out", output_type, path=str(target))],
                        [("src.frame", "out.frame")])


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
@pytest.mark.parametrize("output_type", ["VideoFileOutput", "ImageSequenceOutput"])
def test_an_output_that_is_the_preset_is_refused_however_it_is_spelled(tmp_path, spelling, output_type):
    (tmp_path / "sub").mkdir()
    target = {"same": tmp_path / "p.mp4", "dot": f"{tmp_path}/sub/../p.mp4", "symlink": tmp_path / "link.mp4",
              "hardlink": tmp_path / "hard.mp4"}[spelling]
    path = preset_writing_to(tmp_path, output_type, target)
    if spelling == "symlink":
        os.symlink("p.mp4", target)
    if spelling == "hardlink":
        os.link(path, target)
    problems = [str(p) for p in preset.load(path).validate(default_registry())]
    assert (f"node 'out' ({output_type}), param 'path': {target} is the preset {path} itself; the run would "
            "write over it: choose another output") in problems


def test_run_refuses_to_write_over_its_preset_and_leaves_it_as_it_was(tmp_path):
    path = preset_writing_to(tmp_path, "VideoFileOutput", tmp_path / "p.mp4")
    before = path.read_bytes()
    for args in ((), ("--sequential",)):
        result = run_cli("run", path, "--frames", "2", *args)
        assert result.returncode == 2, result.stderr
        assert f"param 'path': {path} is the preset {path} itself" in result.stderr
    result = run_cli("validate", path)
    assert result.returncode == 2 and "is the preset" in result.stdout
    assert path.read_bytes() == before


def test_a_graph_saved_as_a_preset_knows_it_and_copies_keep_it(tmp_path):
    graph = preset.load(preset_writing_to(tmp_path, "VideoFileOutput", tmp_path / "q.mp4"))
    assert not graph.validate(default_registry())
    preset.save(graph, tmp_path / "q.mp4")  # the editor's Save as onto the output's file
    problems = [str(p) for p in graph.copy().validate(default_registry())]  # a run or a farm check: a copy
    assert any("is the preset" in p and str(tmp_path / "q.mp4") in p for p in problems), problems
