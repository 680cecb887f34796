"""A run refused before it starts says every reason at once, as a compiler lists every error: its --set values,
--stats-json and the graph's problems, each naming its node, param or flag. A user fixed one, ran again, and only
then met the next."""

import json
import shutil

import pytest
from conftest import run_cli

from nodegraph import preset
from nodegraph.arguments import SetRefused, apply_overrides
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry

VIDEO_SWAP = data_dir("presets") / "video_swap.json"


def test_a_refused_set_a_missing_video_and_an_output_that_is_a_folder_are_said_in_one_run(tmp_path):
    # it said only the --set; fixed, the run said the missing video and the folder
    (tmp_path / "renders").mkdir()
    result = run_cli("run", VIDEO_SWAP, "--set", "colour.mode=zzz", "--set", "source.path=gone.mp4",
                     "--set", "output.path=renders", "--stats-json", "stats.json", "--frames", "2", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    said = ["nodegraph: --set 'colour.mode=zzz': node 'colour' (ColorTransfer), param 'mode': 'zzz' is not one of "
            "'none', 'rct', 'lct', 'mkl', 'idt', 'sot'",
            f"{VIDEO_SWAP}: the graph is not valid:",
            f"  node 'source' (VideoSource), param 'path': file not found: {tmp_path / 'gone.mp4'}",
            f"  node 'output' (VideoFileOutput), param 'path': {tmp_path / 'renders'} is a folder; give a file name "
            f"such as {tmp_path / 'renders' / 'out.mp4'}"]
    assert result.stderr.splitlines() == said
    assert json.loads((tmp_path / "stats.json").read_text())["error"] == "\n".join(said).removeprefix("nodegraph: ")
    assert list((tmp_path / "renders").iterdir()) == []


def test_a_stats_file_that_is_a_folder_and_a_missing_video_are_said_in_one_run(tmp_path):
    (tmp_path / "renders").mkdir()
    result = run_cli("run", VIDEO_SWAP, "--set", "source.path=gone.mp4", "--stats-json", "renders", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[:3] == [
        "nodegraph: --stats-json renders: is a folder; give a file name such as renders/stats.json",
        f"{VIDEO_SWAP}: the graph is not valid:",
        f"  node 'source' (VideoSource), param 'path': file not found: {tmp_path / 'gone.mp4'}"]


def test_the_graph_s_problem_with_a_param_a_refused_set_was_for_is_left_out(tmp_path):
    # the user meant to change that param: the preset's value for it does not matter
    shutil.copy(VIDEO_SWAP, tmp_path / "mine.json")  # away from its media: its video and portrait are missing
    result = run_cli("run", tmp_path / "mine.json", "--set", "source.path=5", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("nodegraph: --set 'source.path=5': node 'source' (VideoSource), param 'path': "
                               "expected a path string, got 5")
    assert lines[1:3] == [f"{tmp_path / 'mine.json'}: the graph is not valid:",
                          "  node 'swapper' (MeshWarpSwapper), param 'identity': file not found: "
                          f"{tmp_path / 'media' / 'astronaut.png'} (a relative path in a preset is read from the "
                          f"preset's folder, {tmp_path}: keep the preset beside its media, or give a path from that "
                          "folder or a full one)"]
    assert "demo.mp4" not in result.stderr


def test_every_set_written_wrong_is_said_at_once_and_the_others_are_applied():
    # the first written wrong (no '=', a node the graph lacks, a run option) was said alone
    graph = preset.load(data_dir("presets") / "demo.json")
    with pytest.raises(SetRefused) as e:
        apply_overrides(graph, ["pattern", "nosuch.x=1", "mode=realtime", "adjust.brightness=abc", "pattern.frames=5"],
                        default_registry())
    assert str(e.value).splitlines() == [
        "these --set values cannot be taken:",
        "  --set 'pattern': write it as NODE.PARAM=VALUE, e.g. src.loop=true",
        "  --set 'nosuch.x=1': there is no node 'nosuch' (nodes: pattern, adjust, out)",
        "  --set 'mode=realtime': mode belongs to the run, not to a node; `nodegraph run` takes it as --mode realtime",
        "  --set 'adjust.brightness=abc': node 'adjust' (FrameAdjuster), param 'brightness': expected an integer "
        "between -255 and 255, got 'abc'"]
    assert ("adjust", "brightness") in e.value.params
    assert graph.nodes["pattern"].params["frames"] == 5


def test_validate_and_a_refused_run_say_a_pin_that_cannot_be_honoured(tmp_path):
    # pins were checked only as the run made its plan, once the graph was valid: validate said ok, and a run
    # refused for a --set said the pin only on its next try
    graph = preset.load(VIDEO_SWAP)
    for node_id, pin in (("detector", "a"), ("marker", "b"), ("aligner", "a")):
        graph.nodes[node_id].process = pin
    pinned = tmp_path / "pinned.json"
    preset.save(graph, pinned)
    said = ("  node 'marker' (FaceMarker), field 'process': pinned to process 'b' but lies between nodes 'aligner', "
            "'detector' of process 'a'; a process cannot wait on itself: change or clear one of the pins")
    validated = run_cli("validate", pinned)
    assert validated.returncode == 2 and said in validated.stdout.splitlines() + validated.stderr.splitlines(), \
        validated
    refused = run_cli("run", pinned, "--set", "colour.mode=zzz", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[0].startswith("nodegraph: --set 'colour.mode=zzz'"), refused.stderr
    assert said in refused.stderr.splitlines(), refused.stderr


@pytest.mark.parametrize("engine", [[], ["--sequential"]])
def test_every_node_whose_set_up_refuses_its_file_is_said_in_one_run(tmp_path, engine):
    # files found bad only as the nodes set up stopped the run at the first: the video said, the user fixed it,
    # ran again, and only then met the identity picture that does not decode
    shutil.copy(VIDEO_SWAP, tmp_path / "mine.json")
    (tmp_path / "clip.mp4").write_text("not a video\n")
    (tmp_path / "face.png").write_text("not a picture\n")
    result = run_cli("run", tmp_path / "mine.json", *engine, "--set", "source.path=clip.mp4", "--set",
                     "swapper.identity=face.png", "--stats-json", "stats.json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    said = result.stderr[result.stderr.index("nodegraph: 2 nodes cannot start:"):].splitlines()
    assert said[1].startswith(f"  node 'source' (VideoSource): {tmp_path / 'clip.mp4'}: not a video"), said
    assert said[2].startswith(f"  node 'swapper' (MeshWarpSwapper), param 'identity': {tmp_path / 'face.png'}: not "
                              "a picture OpenCV can decode"), said
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["failed_node"] == "source" and stats["error"] == "\n".join(said).removeprefix("nodegraph: ")
    assert not (tmp_path / "out").exists()  # the output, which would make its folder and lock, was not set up


def test_a_source_that_refuses_its_file_keeps_another_process_s_output_from_setting_up(tmp_path):
    # the source's stage says its refusal only after the run's start, so the output's stage, told nothing, made
    # out/ and its lock, and the run then said "this run made .../out and wrote nothing into it, so it is removed"
    shutil.copy(VIDEO_SWAP, tmp_path / "mine.json")
    (tmp_path / "clip.mp4").write_text("not a video\n")
    identity = VIDEO_SWAP.parent / "media" / "astronaut.png"
    result = run_cli("run", tmp_path / "mine.json", "--set", "source.path=clip.mp4", "--set",
                     f"swapper.identity={identity}", "--stats-json", "stats.json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"node 'source' (VideoSource): {tmp_path / 'clip.mp4'}: not a video" in result.stderr, result.stderr
    assert "this run made" not in result.stderr and not (tmp_path / "out").exists(), result.stderr
    assert json.loads((tmp_path / "stats.json").read_text())["mode"] is None  # the source would have said which
