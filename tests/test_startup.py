"""Set-up happens before the first frame, and a run says how long it took: a `started:` line once every
node is set up (models loaded and warmed up), `startup_ms` per node and `first_frame_ms` for the run in
--stats-json, with both runners."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_cli
from test_cli import node, write_preset


@pytest.mark.parametrize("engine", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_a_run_says_when_it_started_and_how_long_each_node_took_to_set_up(tmp_path, engine):
    portrait = REPO / "presets" / "media" / "astronaut.png"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "ImageSource", path=str(portrait)), node("det", "FaceDetector"),
                           node("out", "FacesFileOutput", path=str(tmp_path / "faces.jsonl"))],
                          [("src.frame", "det.frame"), ("det.faces", "out.faces")])
    result = run_cli("run", preset, *engine, "--stats-json", tmp_path / "stats.json")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    started = [i for i, line in enumerate(lines) if line.startswith("nodegraph: started: ")]
    done = [i for i, line in enumerate(lines) if line.startswith("done: 1 frame in ")]
    assert len(started) == 1 and done and started[0] < done[0], lines
    stats = json.loads((tmp_path / "stats.json").read_text())
    startup = {node_id: s["startup_ms"] for node_id, s in stats["nodes"].items()}
    assert set(startup) == {"src", "det", "out"} and all(ms >= 0 for ms in startup.values())
    assert startup["det"] > 0  # the model was loaded and warmed up in setup
    assert stats["first_frame_ms"] >= max(startup.values())
