"""presets/neural_swap.json through the real command line: without its models it exits 2 naming the
`nodegraph models fetch` commands, and the one that fetches all four; with models under those catalogue names
(stand-ins with HyperSwap's, ArcFace's, XSeg's and GFPGAN's tensors, pinned by a manifest override, as the real
weights cannot be had here) it validates offline and runs, writing a video whose face is swapped."""

import hashlib
import json

import numpy as np
from clips import read_frames
from conftest import REPO, run_cli
from mask_models import enhancer_model, occluder_model
from swap_models import arcface_model, hyperswap_model

PRESET = REPO / "presets" / "neural_swap.json"
NEEDED = ("hyperswap_1a_256", "arcface_w600k_r50", "xseg_1", "gfpgan_1.4")


def test_without_its_models_validate_and_run_exit_2_naming_the_fetch_commands(tmp_path):
    env = {"NODEGRAPH_USER_MODELS": str(tmp_path / "models")}
    out = tmp_path / "out.mp4"
    for command in (["validate", PRESET], ["run", PRESET, "--frames", "2", "--set", f"output.path={out}"]):
        result = run_cli(*command, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        for name in NEEDED:
            assert f"`nodegraph models fetch {name}`" in result.stdout + result.stderr
        assert f"fetch the 4 missing models at once with `nodegraph models fetch --preset {PRESET}`" in (
            result.stdout + result.stderr)
    assert not out.exists()


def test_with_its_models_it_validates_offline_and_swaps_the_video(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    bright = np.full((1, 3, 256, 256), 0.4, np.float32)  # +0.2 in 0..1: a swap that shows
    files = {"hyperswap_1a_256": hyperswap_model(folder / "hyperswap_1a_256.onnx", bias=bright),
             "arcface_w600k_r50": arcface_model(folder / "arcface_w600k_r50.onnx")[0],
             "xseg_1": occluder_model(folder / "xseg_1.onnx", channel_weights=(1.0, 1.0, 1.0)),
             "gfpgan_1.4": enhancer_model(folder / "gfpgan_1.4.onnx", gain=(1.0, 1.0, 1.0))}
    manifest = json.loads((REPO / "models" / "manifest.json").read_text())
    for name, path in files.items():
        data = path.read_bytes()
        manifest["user_models"][name].update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    env = {"NODEGRAPH_USER_MODELS": str(folder), "NODEGRAPH_MANIFEST": str(tmp_path / "manifest.json")}
    result = run_cli("validate", PRESET, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "neural_swap.mp4"
    result = run_cli("run", PRESET, "--sequential", "--frames", "3", "--set", f"output.path={out}", env=env)
    assert result.returncode == 0, result.stderr
    swapped, original = read_frames(out), read_frames(REPO / "presets" / "media" / "demo.mp4")[:3]
    assert len(swapped) == 3
    diff = np.abs(swapped[0].astype(int) - original[0]).mean(axis=2)
    changed = diff > 20
    assert 0.005 < changed.mean() < 0.3  # the face is brighter, not the whole picture
