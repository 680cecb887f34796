"""The multiprocess runtime against the sequential reference: same frames, joins by frame id,
ring generations, live params, stats, previews, setup errors (realtime drops: test_runtime_realtime.py)."""

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import frame_index, read_frames
from machine_load import BusyCores, assert_spins_with_a_core_free, process_share
from runtime_nodes import alive, build, registry, run_in_thread, wait_until

from nodegraph import shm
from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner
from nodegraph.threads import available_cores

REGISTRY = registry()


def pngs(folder) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def assert_clean(runtime: Runtime) -> None:
    """Every stage process ended and every segment of the run is gone."""
    assert runtime.report.processes
    assert wait_until(lambda: not any(alive(pid) for pid in runtime.report.processes.values()), 5.0)
    assert shm.segments(runtime.run_id) == []


def test_lossless_chain_is_identical_to_sequential(tmp_path, clip300):
    def chain(out):
        return build([("src", "VideoSource", {"path": clip300}),
                      ("adj", "FrameAdjuster", {"median_blur": 3, "brightness": 10}),
                      ("out", "VideoFileOutput", {"path": str(out)})],
                     ["src.frame -> adj.frame", "adj.frame -> out.frame"])

    SequentialRunner(chain(tmp_path / "seq.mp4"), REGISTRY).run()
    runtime = Runtime(chain(tmp_path / "mp.mp4"), REGISTRY)
    report = runtime.run()
    assert len(runtime.plan.stages) >= 2
    assert report.mode == "lossless" and report.frames == 300 and not report.error
    assert report.nodes["adj"]["frames"] == 300 and report.nodes["adj"]["drops"] == 0
    assert len(report.latency_ms) == 300
    sequential, parallel = read_frames(tmp_path / "seq.mp4"), read_frames(tmp_path / "mp.mp4")
    assert len(parallel) == len(sequential) == 300
    assert [frame_index(f) for f in parallel] == list(range(300))
    for i, (a, b) in enumerate(zip(sequential, parallel, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs"
    assert_clean(runtime)


def test_fan_out_and_two_input_join_match_sequential(tmp_path, clip300):
    """The source feeds three stages (one ring, three readers); the compositor joins two of them."""
    def graph(out):
        return build([("src", "VideoSource", {"path": clip300}, "a"),
                      ("adj", "FrameAdjuster", {"median_blur": 5, "brightness": -20}, "b"),
                      ("mix", "FrameCompose", {"layout": "side_by_side"}, "c"),
                      ("out", "ImageSequenceOutput", {"path": str(out / "mix")}, "c"),
                      ("raw", "ImageSequenceOutput", {"path": str(out / "raw")}, "d")],
                     ["src.frame -> adj.frame", "adj.frame -> mix.frame", "src.frame -> mix.second_frame",
                      "mix.frame -> out.frame", "src.frame -> raw.frame"])

    SequentialRunner(graph(tmp_path / "seq"), REGISTRY, frames=60).run()
    runtime = Runtime(graph(tmp_path / "mp"), REGISTRY, frames=60)
    assert len(runtime.plan.stages) == 4
    assert [len(b.readers) for b in runtime.plan.buffers if b.name == "src.frame"] == [3]
    report = runtime.run()
    assert report.frames == 60 and not report.error
    for name in ("mix", "raw"):
        sequential, parallel = pngs(tmp_path / "seq" / name), pngs(tmp_path / "mp" / name)
        assert len(parallel) == len(sequential) == 60
        assert all(np.array_equal(a, b) for a, b in zip(sequential, parallel, strict=True))
    assert parallel[0].shape == (120, 160, 3)
    assert_clean(runtime)


def test_a_frame_size_change_moves_the_ring_to_a_larger_generation(tmp_path):
    def graph(out):
        return build([("src", "TestPattern", {"width": 96, "height": 64, "frames": 12}, "a"),
                      ("grow", "GrowingFrame", {"at": 5}, "b"),
                      ("out", "ImageSequenceOutput", {"path": str(out)}, "c")],
                     ["src.frame -> grow.frame", "grow.frame -> out.frame"])

    SequentialRunner(graph(tmp_path / "seq"), REGISTRY).run()
    runtime = Runtime(graph(tmp_path / "mp"), REGISTRY)
    report = runtime.run()
    assert report.frames == 12 and not report.error
    sequential, parallel = pngs(tmp_path / "seq"), pngs(tmp_path / "mp")
    assert [p.shape[:2] for p in parallel] == [(64, 96)] * 5 + [(128, 192)] * 7
    assert all(np.array_equal(a, b) for a, b in zip(sequential, parallel, strict=True))
    assert_clean(runtime)


def test_a_growth_on_the_last_frame_reaches_a_slow_reader(tmp_path):
    """The writer is done (and its stage could end) while its reader is still frames behind in the
    old generation: the new one must still be there when the reader gets to it."""
    def graph(out):
        return build([("src", "TestPattern", {"width": 96, "height": 64, "frames": 6}, "a"),
                      ("grow", "GrowingFrame", {"at": 5}, "a"),
                      ("slow", "SlowFrame", {"delay_ms": 60.0}, "b"),
                      ("out", "ImageSequenceOutput", {"path": str(out), "format": "bmp"}, "b")],
                     ["src.frame -> grow.frame", "grow.frame -> slow.frame", "slow.frame -> out.frame"])

    for attempt in range(2):
        runtime = Runtime(graph(tmp_path / str(attempt)), REGISTRY)
        report = runtime.run()
        assert report.frames == 6 and not report.error
        written = sorted((tmp_path / str(attempt)).glob("*.bmp"))
        assert [cv2.imread(str(p)).shape[:2] for p in written] == [(64, 96)] * 5 + [(128, 192)]
        assert shm.segments(runtime.run_id) == []


def test_short_runs_never_hang(tmp_path):
    """A stage that wrote everything may end before its reader even opened the ring: the ring must
    stay until the reader has read it to its end."""
    def graph(run, frames):
        return build([("src", "TestPattern", {"width": 64, "height": 48, "frames": frames}, "a"),
                      ("adj", "FrameAdjuster", {"brightness": 10}, "b"),
                      ("out", "ImageSequenceOutput", {"path": str(tmp_path / str(run)), "format": "bmp"}, "c")],
                     ["src.frame -> adj.frame", "adj.frame -> out.frame"])

    for run, (frames, limit) in enumerate(((3, 0), (3, 1), (1, None), (3, 1))):
        runtime = Runtime(graph(run, frames), REGISTRY, frames=limit)
        thread, result = run_in_thread(runtime)
        thread.join(30)
        if thread.is_alive():
            runtime.stop(now=True)
            thread.join(30)
            pytest.fail(f"a run of {frames} frames (limit {limit}) hangs")
        expected = frames if limit is None else min(frames, limit)
        assert result["report"].frames == expected and not result["report"].error
        assert len(list((tmp_path / str(run)).glob("*.bmp"))) == expected
        assert_clean(runtime)


def test_nodes_that_keep_views_into_the_rings_leave_nothing_printed_at_exit(tmp_path, capfd):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 20}, "a"),
                   ("keep", "KeepsFrame", {}, "b"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "c")],
                  ["src.frame -> keep.frame", "keep.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY, previews=True)
    report = runtime.run()
    assert report.frames == 20 and not report.error
    assert_clean(runtime)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BufferError" not in err and "Exception ignored" not in err, err


def test_a_param_changed_while_running_changes_the_output_without_restarting(tmp_path):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 3000}, "a"),
                   ("adj", "FrameAdjuster", {"brightness": 0}, "b"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "c")],
                  ["src.frame -> adj.frame", "adj.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY, mode="lossless")
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 20, 20.0)
    before = runtime.pids()
    runtime.set_param("adj", "brightness", 60)
    changed_at = runtime.snapshot().frames
    assert wait_until(lambda: runtime.snapshot().frames >= changed_at + 60, 20.0)
    assert runtime.pids() == before
    runtime.stop()
    thread.join(20)
    assert result["report"].processes == before

    from nodes.sources import TestPattern

    pattern = TestPattern("p", {"width": 64, "height": 48, "frames": 3000})
    pattern.setup()
    brightened = []
    for path in sorted((tmp_path / "out").glob("*.bmp")):
        pattern.frame_id = int(path.stem.split("_")[1])
        original = pattern.process()["frame"]
        written = cv2.imread(str(path))
        if np.array_equal(written, original):
            brightened.append(False)
        else:
            assert np.array_equal(written, cv2.convertScaleAbs(original, alpha=1.0, beta=60)), path.name
            brightened.append(True)
    assert brightened[:20] == [False] * 20 and brightened[-30:] == [True] * 30
    assert brightened == sorted(brightened)  # once applied, applied to every later frame


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_a_stage_without_models_never_loads_onnxruntime(tmp_path):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("out", "NullOutput", {}, "b")],
                  ["src.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY, mode="lossless")
    thread, _ = run_in_thread(runtime)
    try:
        assert wait_until(lambda: runtime.snapshot().frames >= 10, 20.0)
        for stage, pid in runtime.pids().items():
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert "python" in maps and "onnxruntime" not in maps, stage
    finally:
        runtime.stop()
        thread.join(20)


def waiting_stage_share(niceness: int) -> tuple[float, float]:
    """Two stages: the second gets a frame every ~0.5 ms. Over one second: the cores the other
    processes of the machine kept busy, and that stage's share of a core."""
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 0.5}, "a"),
                   ("out", "NullOutput", {}, "b")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY, mode="lossless", niceness=niceness)
    assert runtime.spin == (niceness == 0)  # two stages, at least two cores: spinning is up to the niceness
    thread, _ = run_in_thread(runtime)
    try:
        assert wait_until(lambda: runtime.snapshot().frames >= 20, 20.0)
        with BusyCores() as machine:
            share = process_share(runtime.pids()["s1"], 1.0)
        return machine.cores - share, share
    finally:
        runtime.stop()
        thread.join(20)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/stat")
@pytest.mark.skipif(available_cores() < 2, reason="two stages spin only where each has a core")
def test_stages_that_have_the_cores_to_themselves_spin_through_short_waits(tmp_path):
    """Two stages on two cores: the one waiting ~0.5 ms for each frame spins through the wait in a
    headless run (91-98% of a core here); under a window (the editor's niceness) it sleeps (15%)."""
    assert_spins_with_a_core_free("the waiting stage", lambda: waiting_stage_share(0),
                                  lambda: waiting_stage_share(10)[1], pause=1.0)


def test_set_param_refuses_bad_values_at_once():
    graph = build([("src", "TestPattern", {"frames": 1}), ("adj", "FrameAdjuster", {})],
                  ["src.frame -> adj.frame"])
    runtime = Runtime(graph, REGISTRY)
    with pytest.raises(InvalidInput, match=r"node 'adj' \(FrameAdjuster\), param 'brightness': 999 is out of range"):
        runtime.set_param("adj", "brightness", 999)
    with pytest.raises(InvalidInput, match="has no param 'nope'"):
        runtime.set_param("adj", "nope", 1)
    with pytest.raises(InvalidInput, match="there is no node 'ghost'"):
        runtime.set_param("ghost", "brightness", 1)


def test_a_node_failing_on_some_frames_is_counted_and_the_run_goes_on(tmp_path):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 50}, "a"),
                   ("flaky", "FlakyFrame", {"every": 10}, "b"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out")}, "c")],
                  ["src.frame -> flaky.frame", "flaky.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    report = runtime.run()
    assert report.frames == 50 and not report.error
    flaky = report.nodes["flaky"]
    assert flaky["errors"] == 5 and flaky["frames"] == 45
    assert flaky["last_error"] == "ValueError: frame 40 is not to my taste"
    assert len(list((tmp_path / "out").glob("*.png"))) == 50  # failed frames passed through
    assert "errors in flaky (5: ValueError" in report.summary_line()


def test_previews_show_the_latest_picture_of_any_node(tmp_path):
    graph = build([("src", "TestPattern", {"width": 80, "height": 60, "frames": 0, "realtime": True,
                                           "fps": 60.0}, "a"),
                   ("adj", "FrameAdjuster", {"brightness": 30}, "b"),
                   ("mix", "FrameCompose", {"layout": "side_by_side"}, "b"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "c")],
                  ["src.frame -> adj.frame", "adj.frame -> mix.frame", "src.frame -> mix.second_frame",
                   "mix.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY, previews=True)
    thread, _ = run_in_thread(runtime)
    shapes = {}
    for node_id in ("src", "adj", "mix", "out"):
        assert wait_until(lambda n=node_id: runtime.preview(n) is not None, 20.0), node_id
        shapes[node_id] = runtime.preview(node_id).shape
    first = runtime.preview("src").copy()
    assert wait_until(lambda: not np.array_equal(runtime.preview("src"), first), 5.0)  # it moves on
    runtime.stop()
    thread.join(20)
    assert shapes == {"src": (60, 80, 3), "adj": (60, 80, 3), "mix": (60, 160, 3), "out": (60, 160, 3)}
    assert runtime.preview("out") is not None  # the last picture stays after the run
    snapshot = runtime.snapshot()
    assert not snapshot.running and set(snapshot.nodes) == {"src", "adj", "mix", "out"}
    assert snapshot.nodes["mix"].stage == snapshot.nodes["adj"].stage
    assert_clean(runtime)


def test_a_setup_error_in_a_stage_is_raised_with_its_message_and_nothing_is_left(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    graph = build([("src", "VideoSource", {"path": str(fake)}, "a"),
                   ("out", "VideoFileOutput", {"path": str(tmp_path / "o.mp4")}, "b")],
                  ["src.frame -> out.frame"])
    with pytest.raises(InvalidInput) as sequential:
        SequentialRunner(graph, REGISTRY).run()
    runtime = Runtime(graph, REGISTRY)
    with pytest.raises(InvalidInput) as parallel:
        runtime.run()
    assert str(parallel.value) == str(sequential.value) and "fake.mp4" in str(parallel.value)
    assert_clean(runtime)


def test_stop_before_the_end_closes_the_outputs(tmp_path):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("out", "VideoFileOutput", {"path": str(tmp_path / "o.mp4")}, "b")],
                  ["src.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 30, 20.0)
    started = time.monotonic()
    runtime.stop()
    thread.join(20)
    assert time.monotonic() - started < 3.0
    report = result["report"]
    assert not report.error and report.frames >= 30
    assert len(read_frames(tmp_path / "o.mp4")) == report.frames  # finalised: every frame plays
    assert_clean(runtime)


@pytest.mark.parametrize(("runner_class", "mode"), [(Runtime, "realtime"), (Runtime, "lossless"),
                                                     (SequentialRunner, None)])
def test_a_node_that_fails_taking_a_live_edit_is_named_with_its_param(runner_class, mode):
    # its param_changed raising (not a refusal) failed the stage as "stage s1 failed on frame N: ...", no node named
    from fault_nodes import FailsToReload

    reg = registry()
    reg.add(FailsToReload, "tests")
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("reload", "FailsToReload", {}, "b")], ["src.frame -> reload.frame"])
    runner = runner_class(graph, reg, mode=mode) if mode else runner_class(graph, reg)

    def run():
        try:
            runner.run()
        except RunFailed:  # the sequential runner's failure, in its report too
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert wait_until(lambda: runner.snapshot().frames >= 3, 30.0)
    runner.set_param("reload", "size", 256)
    thread.join(30)
    assert not thread.is_alive()
    assert runner.report.error == ("node 'reload' (FailsToReload), param 'size': taking the value 256 while running "
                                   "failed: RuntimeError: no model of size 256"), runner.report.error
    assert runner.report.failed_node == "reload"
