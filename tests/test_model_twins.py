"""Two catalogue names for one network (w600k_r50, arcface_w600k_r50): `nodegraph models list` says how the files
differ and which to fetch, so neither looks a duplicate; a preset naming either still loads."""

from __future__ import annotations

import json

import pytest
from model_server import REPO, manifest_data, run_models_cmd

from nodegraph import preset
from nodegraph.registry import default_registry

pytestmark = pytest.mark.usefixtures("isolated_models")


def test_models_list_says_w600k_r50_is_arcface_w600k_r50s_network_in_another_file(capsys):
    entries = manifest_data()["user_models"]
    buffalo, facefusion = entries["w600k_r50"], entries["arcface_w600k_r50"]
    assert buffalo["sha256"] != facefusion["sha256"] and buffalo["size"] != facefusion["size"]  # two files
    assert run_models_cmd("list") == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[1:lines.index("")]]
    assert names.index("w600k_r50") == names.index("arcface_w600k_r50") + 1  # the two rows side by side
    note = next((line for line in lines if line.startswith("w600k_r50 holds")), "\n".join(lines))
    assert note.startswith("w600k_r50 holds the same network as arcface_w600k_r50, in another file: InsightFace's "
                           "own, from its buffalo_l pack"), note
    assert "FaceFusion's re-export" in note and "name arcface_w600k_r50" in note and "fetch that one" in note


@pytest.mark.parametrize("twin, differs", [("nothing_here", "how"), ("x", "how"), ("inswapper_128", None)])
def test_a_same_network_that_names_no_other_model_is_refused(tmp_path, monkeypatch, capsys, twin, differs):
    data = manifest_data()
    data["user_models"]["x"] = {"file": "x.onnx", "same_network_as": twin, "differs": differs}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("NODEGRAPH_MANIFEST", str(path))
    assert run_models_cmd("list") == 2
    assert (f"model manifest {path}: user_models.x: 'same_network_as' must name another model of the manifest, "
            f"not {twin!r}, and 'differs' say how the two files differ") in capsys.readouterr().err


@pytest.mark.parametrize("recogniser", ["w600k_r50", "arcface_w600k_r50"])
def test_a_preset_naming_either_recogniser_loads_and_asks_for_that_one(recogniser):
    data = json.loads((REPO / "presets" / "neural_swap.json").read_text())
    swapper = next(node for node in data["nodes"] if node["type"] == "HyperSwapper")
    swapper["params"]["recogniser"] = recogniser
    graph = preset.loads(json.dumps(data), base_dir=REPO / "presets")
    problems = [p for p in graph.validate(default_registry()) if p.node == swapper["id"] and "recogniser" in str(p)]
    assert len(problems) == 1 and f"model '{recogniser}' ({recogniser}.onnx) is not installed" in str(problems[0])
