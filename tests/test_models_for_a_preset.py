"""`nodegraph models fetch --preset FILE` (and several names at once) against the real local HTTPS server: the
models a preset names that are not installed, each fetched and verified in turn; one that fails is said and the
others still come. A preset refused for its missing models says that command."""

from __future__ import annotations

import json
import shlex

import pytest
from conftest import REPO, run_cli
from model_server import PAYLOAD, run_models_cmd, user_folder

pytestmark = pytest.mark.usefixtures("isolated_models")


def masks_preset(tmp_path, occluder: str, parser: str):
    """A preset whose FaceMask names two models (paths to them would be files, not catalogue names)."""
    data = {"format": "nodegraph-preset", "version": 1, "name": "masks",
            "nodes": [{"id": "pattern", "type": "TestPattern", "params": {"frames": 2}},
                      {"id": "detect", "type": "FaceDetector"},
                      {"id": "mask", "type": "FaceMask", "params": {"occluder": occluder, "parser": parser}}],
            "links": [{"from": "pattern.frame", "to": "detect.frame"}, {"from": "pattern.frame", "to": "mask.frame"},
                      {"from": "detect.faces", "to": "mask.faces"}]}
    path = tmp_path / "my presets" / "masks.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


def test_a_presets_missing_models_are_fetched_and_one_that_fails_leaves_the_others(server, tmp_path, monkeypatch,
                                                                                  capsys):
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    preset = masks_preset(tmp_path, "served", "wrong_hash")
    assert run_models_cmd("fetch", "--preset", str(preset)) == 2
    said = capsys.readouterr()
    assert f"served: {user_folder() / 'served.onnx'} (verified)" in said.out
    assert "wrong_hash" in said.err and "sha256" in said.err
    assert "1 of 2 models could not be fetched (above); the others are in place" in said.err
    assert (user_folder() / "served.onnx").read_bytes() == PAYLOAD
    assert not (user_folder() / "wrong.onnx").exists()
    # again: the model now installed is not fetched a second time
    server.requests.clear()
    assert run_models_cmd("fetch", "--preset", str(preset)) == 2
    assert server.requests == [("/model.onnx", None)] and "served" not in capsys.readouterr().out


def test_names_and_a_preset_together_fetch_each_model_once(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    preset = masks_preset(tmp_path, "served", "served")
    assert run_models_cmd("fetch", "served", "served", "--preset", str(preset)) == 0
    assert capsys.readouterr().out.count("(verified)") == 1
    assert server.requests == [("/model.onnx", None)]


def test_a_preset_with_every_model_in_place_fetches_nothing(server, capsys):
    assert run_models_cmd("fetch", "--preset", str(REPO / "presets" / "video_swap.json")) == 0
    assert "every model its nodes name is installed" in capsys.readouterr().out
    assert server.requests == []


@pytest.mark.parametrize("argv, message", [
    ((), "give the names of the models to fetch, or --preset FILE"),
    (("--preset", "no_such_preset.json"), "no_such_preset.json: file not found"),
    (("served", "no_such_model"), "unknown model 'no_such_model'"),
])
def test_a_fetch_with_nothing_to_fetch_or_a_bad_name_says_so(server, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    monkeypatch.chdir(tmp_path)
    assert run_models_cmd("fetch", *argv) == 2
    assert message in capsys.readouterr().err


def test_a_preset_refused_for_its_missing_models_names_the_command_that_fetches_them(server, tmp_path):
    preset = masks_preset(tmp_path, "served", "offline")
    command = f"`nodegraph models fetch --preset {shlex.quote(str(preset))}`"
    for verb in ("validate", "run"):
        result = run_cli(verb, preset)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"fetch the 2 missing models at once with {command}" in result.stdout + result.stderr
    (tmp_path / "one").mkdir()
    result = run_cli("validate", masks_preset(tmp_path / "one", "served", ""))
    assert result.returncode == 2 and "at once" not in result.stdout  # its own line names the one command
