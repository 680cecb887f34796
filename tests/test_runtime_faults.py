"""The runtime when things go wrong: Ctrl-C, a killed supervisor, a killed stage process."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from clips import frame_index, read_frames
from conftest import repo_env, run_cli
from runtime_nodes import alive, build, registry, run_in_thread, run_segments, stage_pids, wait_until
from test_cli import node, write_preset

from nodegraph import preset as presets
from nodegraph import shm
from nodegraph.runtime import Runtime
from nodegraph.sequential import SequentialRunner

REGISTRY = registry()


def start_cli_run(tmp_path, out):
    """`nodegraph run` of an endless paced pattern in its own session, as a terminal would start it."""
    preset = tmp_path / "p.json"
    presets.save(build([("src", "TestPattern", {"width": 160, "height": 120, "frames": 0, "realtime": True,
                                                "fps": 60.0}, "a"),
                        ("adj", "FrameAdjuster", {"brightness": 20}, "b"),
                        ("out", "VideoFileOutput", {"path": str(out)}, "c")],
                       ["src.frame -> adj.frame", "adj.frame -> out.frame"]), preset)
    env = repo_env()
    return subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_ctrl_c_stops_cleanly_exits_130_and_leaves_a_playable_file(tmp_path):
    out = tmp_path / "out.mp4"
    process = start_cli_run(tmp_path, out)
    try:
        assert wait_until(lambda: len(stage_pids(process.pid)) == 3 and run_segments(process.pid), 30.0)
        time.sleep(0.7)
        stages = stage_pids(process.pid)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert run_segments(process.pid) == []
    assert not any(alive(pid) for pid in stages)
    frames = read_frames(out)
    assert len(frames) >= 10
    assert frames[-1].shape == (120, 160, 3)


@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_the_start_is_quiet_and_exits_130(tmp_path):
    # while Python loaded the libraries, or a stage process its own, Ctrl-C printed a KeyboardInterrupt traceback
    preset = tmp_path / "p.json"
    presets.save(build([("src", "TestPattern", {"width": 160, "height": 120, "frames": 0, "realtime": True,
                                                "fps": 30.0}, "a"),
                        ("adj", "FrameAdjuster", {"brightness": 20}, "b"),
                        ("out", "NullOutput", {}, "c")],
                       ["src.frame -> adj.frame", "adj.frame -> out.frame"]), preset)
    env = repo_env()
    # the entry point, saying on stdout when Python is up and it is imported (a slow machine starts later)
    up = "import sys; from nodegraph.launch import main; print('up', flush=True); sys.exit(main())"
    for delay in (0.0, 0.1, 0.3, 0.5, 0.9):  # the libraries load first, then each stage process its own
        process = subprocess.Popen([sys.executable, "-c", up, "run", str(preset)], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert process.stdout.readline() == "up\n"
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:  # a run that did not stop is endless: it must not outlive the test
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        assert process.returncode == 130 and "Traceback" not in err, (delay, err)
        assert "interrupted" in err



def test_a_background_job_s_ctrl_c_stops_it_at_any_moment_of_the_start(tmp_path):
    # a shell starts `nodegraph run ... &` with SIGINT ignored: one sent in its first half second was lost, and the
    # endless run went on; one sent later stopped it
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=64, height=48, frames=0,
                                                     realtime=True), node("out", "NullOutput")],
                          [("src.frame", "out.frame")])
    up = "import sys; from nodegraph.launch import main; print('up', flush=True); sys.exit(main())"
    for delay in (0.0, 0.3):
        process = subprocess.Popen([sys.executable, "-c", up, "run", str(preset)], cwd=tmp_path, env=repo_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                                            signal.SIG_IGN))
        try:
            assert process.stdout.readline() == "up\n"
            time.sleep(delay)
            os.kill(process.pid, signal.SIGINT)
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"a Ctrl-C {delay} s after the start was lost: the run went on")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        assert process.returncode == 130 and "Traceback" not in err, (delay, err)

def test_a_burst_of_stop_signals_never_hangs_the_run(tmp_path):
    # the stop handler set a threading.Event, whose lock a second signal, handled inside the first handler,
    # waited for forever: `kill -TERM` sent twice at once, or Ctrl-C mashed, hung the run (about 1 try in 2)
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=64, height=48, frames=0),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    for attempt in range(6):
        process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--sequential"],
                                   cwd=tmp_path, env=repo_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        try:
            time.sleep(2.5)  # set up, running frames
            for _ in range(2000):
                os.kill(process.pid, signal.SIGTERM)
            _, err = process.communicate(timeout=20)
        except ProcessLookupError:  # it stopped within the burst
            _, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail(f"try {attempt + 1}: the run hung after a burst of SIGTERM")
        # stopped (130), or ended by a SIGTERM of the burst that came once the run had given the signal back
        assert process.returncode in (130, -signal.SIGTERM) and "Traceback" not in err, err


@pytest.mark.parametrize("taker", ["main thread", "another thread"])
def test_a_ctrl_c_while_a_stage_process_starts_comes_once_it_has_started(tmp_path, taker):
    # Ctrl-C was ignored while a stage process started. The first spawn started multiprocessing's resource
    # tracker, which unblocked SIGINT, and a library's thread (OpenBLAS's) could take it anyway: it was lost,
    # and a run of an endless source went on (the test above hung, about 1 in 10)
    script = (
        "import multiprocessing as mp, os, signal, threading, time\n"
        "from nodegraph.runtime.stages import _signals_held\n"
        "if __name__ == '__main__':\n"
        "    other = threading.Thread(target=time.sleep, args=(3.0,), daemon=True)\n"
        "    other.start()\n"
        "    process = mp.get_context('spawn').Process(target=time.sleep, args=(0.2,))\n"
        "    try:\n"
        "        with _signals_held():\n"
        "            process.start()\n"
        f"            {'os.kill(os.getpid(), ' if taker == 'main thread' else 'signal.pthread_kill(other.ident, '}"
        "signal.SIGINT)  # Ctrl-C, as the process starts\n"
        "        time.sleep(1.0)\n"
        "        print('lost')\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted')\n"
        "    process.join()\n")
    (tmp_path / "start.py").write_text(script)
    result = subprocess.run([sys.executable, "start.py"], cwd=tmp_path, env=repo_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout == "interrupted\n", result.stderr


def test_kill_9_of_the_supervisor_then_cleanup_leaves_nothing(tmp_path):
    process = start_cli_run(tmp_path, tmp_path / "out.mp4")
    try:
        assert wait_until(lambda: len(stage_pids(process.pid)) == 3 and len(run_segments(process.pid)) >= 2, 30.0)
        stages = stage_pids(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    result = run_cli("cleanup")
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stdout or "nothing to clean up" in result.stdout
    assert run_segments(process.pid) == []
    # the stage processes noticed their supervisor was gone and left too
    assert wait_until(lambda: not any(alive(pid) for pid in stages), 5.0)
    assert run_segments(process.pid) == []


def test_cleanup_removes_what_a_dead_run_left_and_spares_live_ones(tmp_path):
    # a segment named for a run whose process is gone, as a killed run leaves it
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    left = shm.Ring.create(shm.segment_name(f"{dead_pid:x}beef", "b0g0"), 1024)
    live = shm.Ring.create(shm.segment_name(shm.new_run_id(), "b0g0"), 1024)
    try:
        result = run_cli("cleanup")
        assert result.returncode == 0
        assert "shared-memory segment" in result.stdout and "left by runs that were killed" in result.stdout
        assert shm.segments(f"{dead_pid:x}beef") == [] and live.name in shm.segments()
    finally:
        left.close()
        left.unlink()
        live.close()
        live.unlink()


def three_stage_graph(tmp_path, source, delay_ms):
    return build([("src", *source, "a"),
                  ("adj", "FrameAdjuster", {"brightness": 25}, "b"),
                  ("slow", "SlowFrame", {"delay_ms": delay_ms}, "b"),
                  ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "c")],
                 ["src.frame -> adj.frame", "adj.frame -> slow.frame", "slow.frame -> out.frame"])


def test_realtime_a_killed_stage_is_reported_restarted_and_frames_flow_within_2_s(tmp_path, caplog):
    graph = three_stage_graph(tmp_path, ("TestPattern", {"width": 160, "height": 120, "frames": 0,
                                                         "realtime": True, "fps": 60.0}), 2.0)
    runtime = Runtime(graph, REGISTRY)
    with caplog.at_level(logging.WARNING, logger="nodegraph"):
        thread, result = run_in_thread(runtime)
        assert wait_until(lambda: runtime.snapshot().frames >= 20, 20.0)
        before = runtime.pids()
        os.kill(before["s1"], signal.SIGKILL)
        killed_at = time.monotonic()
        frames_at_kill = runtime.snapshot().frames
        # flowing again: the sink gets frames that went through the new stage process
        assert wait_until(lambda: runtime.snapshot().frames >= frames_at_kill + 10
                          and runtime.snapshot().stages["s1"].restarts == 1, 10.0)
        back_after = time.monotonic() - killed_at
        runtime.stop()
        thread.join(20)
    after = result["report"].processes
    assert after["s1"] != before["s1"] and after["s0"] == before["s0"] and after["s2"] == before["s2"]
    assert "stage s1 (nodes: adj, slow) died (killed by SIGKILL); restarting it" in caplog.text
    assert back_after < 2.0, back_after
    assert not result["report"].error
    assert shm.segments(runtime.run_id) == []


def test_realtime_drops_before_a_restart_are_counted_once(tmp_path):
    # the reader's drop counter lives in the ring and carried over into the new process, which reported it
    # again: 39 + 170 drops of 180 frames
    graph = three_stage_graph(tmp_path, ("TestPattern", {"width": 64, "height": 48, "frames": 240,
                                                         "realtime": True, "fps": 60.0}), 40.0)
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().nodes["adj"].drops >= 20, 20.0)
    os.kill(runtime.pids()["s1"], signal.SIGKILL)
    thread.join(30)
    report = result["report"]
    assert runtime.snapshot().stages["s1"].restarts == 1 and not report.error
    adj = report.nodes["adj"]
    assert adj["drops"] >= 20 and adj["frames"] + adj["drops"] <= 240, adj


def run_killing(graph, victim: str):
    """The graph run losslessly with stage `victim` killed once 60 frames are through: (the runtime, its report),
    the stage restarted once and the run without error."""
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 60, 30.0)
    os.kill(runtime.pids()[victim], signal.SIGKILL)
    thread.join(60)
    report = result["report"]
    assert not report.error, report.error
    assert runtime.snapshot().stages[victim].restarts == 1
    return runtime, report


@pytest.mark.parametrize("victim", ["s0", "s1"])
def test_lossless_a_killed_stage_is_restarted_and_every_frame_arrives(tmp_path, clip300, victim):
    graph = three_stage_graph(tmp_path, ("VideoSource", {"path": clip300}), 3.0)
    runtime, report = run_killing(graph, victim)
    assert report.frames == 300
    written = sorted((tmp_path / "out").glob("*.bmp"))
    assert [int(p.stem.split("_")[1]) for p in written] == list(range(300))

    reference = tmp_path / "ref"
    graph = three_stage_graph(reference, ("VideoSource", {"path": clip300}), 0.0)
    SequentialRunner(graph, REGISTRY).run()
    import cv2

    for p in written:
        assert np.array_equal(cv2.imread(str(p)), cv2.imread(str(reference / "out" / p.name))), p.name
    assert [frame_index(cv2.imread(str(p))) for p in written[::50]] == list(range(0, 300, 50))
    assert shm.segments(runtime.run_id) == []


@pytest.mark.parametrize("victim", ["s0", "s1"])
def test_a_killed_stage_s_nodes_count_every_frame_once_over_its_restart(clip300, victim):
    # the frames a stage did after its last stats message (every 0.25 s) were lost with it: 293 of 300 frames
    graph = build([("src", "VideoSource", {"path": clip300}, "a"), ("adj", "FrameAdjuster", {"brightness": 25}, "b"),
                   ("slow", "SlowFrame", {"delay_ms": 3.0}, "b"), ("out", "NullOutput", {}, "c")],
                  ["src.frame -> adj.frame", "adj.frame -> slow.frame", "slow.frame -> out.frame"])
    _, report = run_killing(graph, victim)
    assert {n: s["frames"] for n, s in report.nodes.items()} == dict.fromkeys(["src", "adj", "slow", "out"], 300)
    assert report.nodes["slow"]["ms_mean"] >= 3.0


def test_lossless_a_killed_output_stage_stops_the_run_with_a_clear_message(tmp_path, clip300):
    graph = build([("src", "VideoSource", {"path": clip300}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 3.0}, "a"),
                   ("out", "ImageSequenceOutput", {"path": str(tmp_path / "out"), "format": "bmp"}, "b"),
                   ("video", "VideoFileOutput", {"path": str(tmp_path / "partial.mp4")}, "c")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame", "slow.frame -> video.frame"])
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 30, 30.0)
    os.kill(runtime.pids()["s1"], signal.SIGKILL)
    thread.join(30)
    report = result["report"]
    assert "stage s1 (nodes: out) died (killed by SIGKILL)" in report.error
    assert "cannot be resumed without losing frames" in report.error
    partial = read_frames(tmp_path / "partial.mp4")  # the other output was closed: it plays
    assert 30 <= len(partial) < 300
    assert [frame_index(f) for f in partial] == list(range(len(partial)))
    assert shm.segments(runtime.run_id) == []
    assert not any(alive(pid) for pid in report.processes.values())


def test_realtime_a_killed_stage_that_writes_a_file_is_not_restarted_and_the_file_is_kept(tmp_path):
    """A new process would open the file again and start it over: the run stops instead."""
    log_file = tmp_path / "frames.txt"
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0, "realtime": True,
                                           "fps": 60.0}, "a"),
                   ("log", "FrameLog", {"path": str(log_file)}, "b")],
                  ["src.frame -> log.frame"])
    runtime = Runtime(graph, REGISTRY)
    thread, result = run_in_thread(runtime)
    assert wait_until(lambda: runtime.snapshot().frames >= 20, 20.0)
    os.kill(runtime.pids()["s1"], signal.SIGKILL)
    thread.join(30)
    report = result["report"]
    assert report.mode == "realtime"
    assert "stage s1 (nodes: log) died (killed by SIGKILL)" in report.error
    assert "it held log, whose output a new process would start again" in report.error
    assert runtime.snapshot().stages["s1"].restarts == 0
    logged = [int(line) for line in log_file.read_text().split()]
    assert len(logged) >= 20 and logged == sorted(logged)  # what was written before the kill is there
    assert shm.segments(runtime.run_id) == []


def test_cli_run_uses_the_runtime(tmp_path, clip300):
    preset = tmp_path / "p.json"
    presets.save(build([("src", "VideoSource", {"path": clip300}),
                        ("out", "VideoFileOutput", {"path": str(tmp_path / "o.mp4")})],
                       ["src.frame -> out.frame"]), preset)
    result = run_cli("run", preset, "--frames", "20", "--stats-json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["mode"] == "lossless" and stats["frames"] == 20
    assert [frame_index(f) for f in read_frames(tmp_path / "o.mp4")] == list(range(20))


def test_a_node_that_cannot_go_on_stops_the_run_with_its_message(tmp_path):
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("video", "VideoFileOutput", {"path": str(tmp_path / "o.mp4")}, "b"),
                   ("broken", "BrokenSink", {"at": 25}, "c")],
                  ["src.frame -> video.frame", "src.frame -> broken.frame"])
    runtime = Runtime(graph, REGISTRY)
    report = runtime.run()
    assert report.error == "node 'broken': the disk went away at frame 25"
    assert len(read_frames(tmp_path / "o.mp4")) >= 25  # the other output was closed properly
    assert shm.segments(runtime.run_id) == []


def test_a_stage_that_fails_reads_its_full_inputs_to_their_end_without_a_traceback(tmp_path, capfd):
    """The failing stage is behind: its input ring is full when it fails, and it must release what it
    reads while it waits for the end of the stream."""
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("slow", "SlowFrame", {"delay_ms": 10.0}, "b"),
                   ("broken", "BrokenSink", {"at": 10}, "b")],
                  ["src.frame -> slow.frame", "slow.frame -> broken.frame"])
    runtime = Runtime(graph, REGISTRY)
    report = runtime.run()
    assert report.error == "node 'broken': the disk went away at frame 10"
    assert shm.segments(runtime.run_id) == []
    err = capfd.readouterr().err
    assert "Traceback" not in err, err



def source_ended(runner, frames: int) -> bool:
    """The source gave its last frame: its stage ended (processes), or every frame was run (sequential)."""
    snapshot = runner.snapshot()
    if isinstance(runner, SequentialRunner):
        return snapshot.frames >= frames
    return any("src" in stage.nodes and stage.state == "done" for stage in snapshot.stages.values())


@pytest.mark.parametrize("runner_class", [Runtime, SequentialRunner], ids=["processes", "sequential"])
def test_a_ctrl_c_after_the_last_frame_while_the_file_closes_is_no_interruption(tmp_path, runner_class):
    # the source had ended and the file was closing (x264 veryslow encodes its whole lookahead then): the file
    # came out whole and replaced the old one, yet the run said "interrupted" and exited 130
    out = tmp_path / "out.mp4"
    graph = build([("src", "TestPattern", {"width": 640, "height": 360, "frames": 60}, "a"),
                   ("out", "VideoFileOutput", {"path": str(out), "speed": "veryslow"}, "b")],
                  ["src.frame -> out.frame"])
    runner = runner_class(graph, REGISTRY)

    def ctrl_c_once_the_source_ended():
        if wait_until(lambda: source_ended(runner, 60), 60.0):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_once_the_source_ended, daemon=True).start()
    report = runner.run()
    assert not report.interrupted and not report.error, report.summary_line()
    assert len(read_frames(out)) == 60
