"""The runs a benchmark makes: their outputs go into a scratch folder that goes when the benchmark ends, and
what the runs say about those files ("holds 3 frames and plays", after a Ctrl-C "kept beside it") named files
that were gone by the time the user read it. A Ctrl-C stops the benchmark, even one that came as a run closed
its files (a whole run for `nodegraph run`)."""

import logging

import pytest
from conftest import run_cli
from fault_nodes import InterruptedAsItCloses

from nodegraph.bench import not_interrupted, scratch_folder
from nodegraph.graph import Graph, Link
from nodegraph.registry import load_registry
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner


def pattern_into_video(target) -> Graph:
    graph = Graph()
    graph.add_node("TestPattern", {"width": 64, "height": 48, "frames": 3}, node_id="src")
    graph.add_node("VideoFileOutput", {"path": str(target)}, node_id="out")
    graph.add_link(Link.parse("src.frame", "out.frame"))
    return graph


def test_runs_in_a_benchmark_say_nothing_of_the_files_in_its_scratch_folder(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="nodegraph")
    report = Runtime(pattern_into_video(tmp_path / "kept.mp4"), mode="lossless").run()
    assert report.frames == 3 and f"{tmp_path / 'kept.mp4'} holds 3 frames and plays" in caplog.text
    caplog.clear()
    with scratch_folder("nodegraph-test-scratch-") as folder:
        report = Runtime(pattern_into_video(folder / "scratch.mp4"), mode="lossless").run()
        assert report.frames == 3 and (folder / "scratch.mp4").stat().st_size > 0
    assert not folder.exists()
    assert str(folder) not in caplog.text and "started" in caplog.text, caplog.text  # the rest is said
    caplog.clear()
    logging.getLogger("nodegraph").info("about %s", folder)  # said again once the benchmark is over
    assert str(folder) in caplog.text


def test_a_ctrl_c_as_a_run_closes_its_files_stops_the_benchmark():
    # bench chain went on measuring its realtime run and printed every figure after a Ctrl-C that came just as
    # its lossless run closed its output: the run rightly called itself complete, and the benchmark took that
    registry = load_registry(third_party=False)
    registry.add(InterruptedAsItCloses, "test")
    graph = Graph()
    graph.add_node("TestPattern", {"width": 64, "height": 48, "frames": 3}, node_id="src")
    graph.add_node("InterruptedAsItCloses", {}, node_id="sink")
    graph.add_link(Link.parse("src.frame", "sink.frame"))
    report = SequentialRunner(graph, registry).run()
    assert report.frames == 3 and not report.interrupted and report.stopped_after_last_frame
    with pytest.raises(KeyboardInterrupt):
        not_interrupted(report)


@pytest.mark.parametrize("bench", ["pipeline", "gpu", "chain"])
def test_a_benchmark_of_fps_refuses_one_frame(bench):
    # one frame has no interval to time: the run's fps is None, which these benchmarks divided and printed
    result = run_cli("bench", bench, "--frames", "1")
    assert result.returncode == 2
    assert (f"nodegraph: bench {bench}: --frames 1 gives no rate (one frame has no interval between frames to time); "
            "give 2 or more") in result.stderr


@pytest.mark.slow
def test_a_benchmarks_runs_keep_their_lines_to_themselves_but_not_their_warnings():
    # `nodegraph bench pipeline` printed 'started: 2 processes set up in 1.0 s' (and 'started: set up in 0.0 s')
    # for each of the ten runs it made, among its own figures; -v shows them
    result = run_cli("bench", "pipeline", "--frames", "2")
    assert result.returncode == 0, result.stderr
    assert "two equal CPU-bound nodes: sequential" in result.stdout and "machine:" in result.stdout
    assert "started:" not in result.stderr, result.stderr
    out_of_time = run_cli("bench", "gpu", env={"NODEGRAPH_BENCH_GPU_SECONDS": "0"})
    assert "nodegraph: bench gpu: out of its 0.0 s (NODEGRAPH_BENCH_GPU_SECONDS)" in out_of_time.stderr
