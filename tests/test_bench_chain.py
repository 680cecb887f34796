"""`nodegraph bench chain`: the face chain and the whole demo chain, in a reduced form (figures are not
checked against targets here: a test machine's load decides them; only that they are there and sane)."""

import json

import pytest

from nodegraph import preset as presets
from nodegraph.paths import data_dir
from nodegraph.threads import available_cores
from nodes.chain_bench import DEMO_PRESET, summary

FRAMES = 4


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from conftest import run_cli

    folder = tmp_path_factory.mktemp("bench")
    done = run_cli("bench", "chain", "--json", "--frames", FRAMES, cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not (folder / "out").exists()  # the demo's video went to a temporary folder
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_face_chain_part_is_kept(result):
    assert result["rounds"] == FRAMES and result["target_ms"] == 10
    for variant in ("default", "short_range", "detect_every_1", "detect_every_2", "tracking_frames"):
        nodes = result[variant]["nodes"]
        assert list(nodes) == ["detector", "marker", "aligner"]
        assert all(t["ms"] > 0 and t["mean_ms"] > 0 for t in nodes.values())
        assert result[variant]["sum_mean_ms"] == pytest.approx(sum(t["mean_ms"] for t in nodes.values()), abs=0.01)
    assert result["detect_every_1"]["detector_params"] == {"detect_every": 1}


@pytest.mark.slow
def test_the_demo_chain_reports_fps_latency_and_ms_per_node(result):
    demo = result["demo_chain"]
    graph = presets.load(data_dir("presets") / DEMO_PRESET)
    assert demo["preset"] == DEMO_PRESET and demo["frames"] == FRAMES
    assert demo["target_fps"] == 30 and demo["target_latency_p50_ms"] == 100
    assert demo["fps"] > 0 and demo["sequential_fps"] > 0
    assert demo["speedup"] == pytest.approx(demo["fps"] / demo["sequential_fps"], abs=0.01)
    assert demo["sequential_threads"] == available_cores()
    assert 0 < demo["latency_p50_ms"] <= demo["latency_p95_ms"]
    realtime = demo["realtime"]
    assert 1 <= realtime["frames"] <= FRAMES and realtime["drops"] >= 0 and realtime["fps"] > 0

    # every node of the preset, once, in one stage of the plan, with its time per frame
    staged = [node for stage in demo["stages"] for node in stage["nodes"]]
    assert sorted(staged) == sorted(graph.nodes) == sorted(demo["nodes"])
    assert sum(stage["threads"] for stage in demo["stages"]) <= max(available_cores(), len(demo["stages"]))
    for stage in demo["stages"]:
        for node in stage["nodes"]:
            stats = demo["nodes"][node]
            assert stats["stage"] == stage["name"]
            assert stats["ms_mean"] > 0 and stats["ms_p95"] > 0


@pytest.mark.slow
def test_the_summary_names_the_figures(result):
    text = summary(result)
    demo = result["demo_chain"]
    assert f"lossless {demo['fps']:.1f} fps, sequential {demo['sequential_fps']:.1f} fps" in text
    assert f"realtime latency p50 {demo['latency_p50_ms']:.1f} ms" in text
    assert all(f"stage {stage['name']} " in text for stage in demo["stages"])


@pytest.mark.slow
def test_a_realtime_run_that_kept_one_frame_has_no_rate_and_the_benchmark_goes_on():
    # `bench chain --frames 2` ended in a TypeError traceback when the realtime run dropped one of its two
    # frames: one frame has no interval to time, so its fps is None, which the benchmark rounded
    from nodes.chain_bench import demo_chain

    demo = demo_chain(2, realtime_frames=1)
    assert demo["realtime"]["frames"] == 1 and demo["realtime"]["fps"] is None
    assert demo["frames"] == 2 and demo["fps"] > 0
