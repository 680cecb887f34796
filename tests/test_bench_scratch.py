"""A benchmark's runs write their outputs into a scratch folder that goes when the benchmark ends: what the
runs say about those files ("holds 3 frames and plays", after a Ctrl-C "kept beside it") named files that
were gone by the time the user read it."""

import logging

from nodegraph.bench import scratch_folder
from nodegraph.graph import Graph, Link
from nodegraph.runtime import Runtime


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
