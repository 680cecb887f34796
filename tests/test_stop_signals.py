"""Stopping a run with Ctrl-C and SIGTERM: cleanly, at any moment of its start, as a background job, in a
burst, and while a stage process starts."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from clips import read_frames
from conftest import repo_env
from runtime_nodes import alive, build, registry, run_segments, stage_pids, wait_until
from test_cli import node, write_preset

from nodegraph import preset as presets
from nodegraph.runtime import Runtime
from nodegraph.runtime.supervisor import ABORT_S

REGISTRY = registry()
# The entry point, saying on stdout when it has started: as it begins to load the libraries, where a Ctrl-C
# is its to take (a slow machine starts later). Said before `main` began, a Ctrl-C could land before it, in
# Python itself (a traceback) or while a background job's SIGINT was still ignored (lost): on a loaded
# machine the "up" it wrote woke the test, which signalled before `main` ran.
UP = ("import sys; from nodegraph import launch; held = launch.ctrl_c_held; "
      "launch.ctrl_c_held = lambda: (print('up', flush=True), held())[1]; sys.exit(launch.main())")


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
        # the encoder has written its first packets (a second's frames): a busy machine may take longer
        assert wait_until(lambda: any(f.stat().st_size for f in tmp_path.glob(".out.*.partial.mp4")), 30.0)
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
    for delay in (0.0, 0.1, 0.3, 0.5, 0.9):  # the libraries load first, then each stage process its own
        process = subprocess.Popen([sys.executable, "-c", UP, "run", str(preset)], cwd=tmp_path, env=env,
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
    for delay in (0.0, 0.3):
        process = subprocess.Popen([sys.executable, "-c", UP, "run", str(preset)], cwd=tmp_path, env=repo_env(),
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
        "from nodegraph.runtime.stages import signals_held\n"
        "if __name__ == '__main__':\n"
        "    other = threading.Thread(target=time.sleep, args=(3.0,), daemon=True)\n"
        "    other.start()\n"
        "    process = mp.get_context('spawn').Process(target=time.sleep, args=(0.2,))\n"
        "    try:\n"
        "        with signals_held():\n"
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


@pytest.mark.parametrize("mode", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_ctrl_c_ends_a_slow_paced_source_s_wait_at_once(tmp_path, mode):
    # a picture sent every 10 s slept until its next frame was due: the sequential run stopped then (and wrote
    # that frame), the multiprocess run waited out its grace and killed the source's stage
    picture = tmp_path / "p.png"
    cv2.imwrite(str(picture), np.full((48, 64, 3), 90, np.uint8))
    seq = tmp_path / "seq"
    preset = write_preset(tmp_path / "p.json", [node("src", "ImageSource", path=str(picture), repeat=0, fps=0.1),
                                                node("out", "ImageSequenceOutput", path=str(seq))],
                          [("src.frame", "out.frame")])
    process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset), *mode], env=repo_env(),
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_until(lambda: (seq / "frame_000000.png").exists(), 60), "no first picture"
        time.sleep(0.5)  # into the wait for the next frame
        asked = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        stderr = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert time.monotonic() - asked < 4.0, stderr  # the sequential run's next frame was 9.5 s away
    assert "did not stop" not in stderr and "interrupted: 1 frame" in stderr
    assert sorted(p.name for p in seq.iterdir()) == ["frame_000000.png"]


def ctrl_c_in_the_set_up(runtime, there=None) -> tuple:
    """Run `runtime`, pressing Ctrl-C once stage s1 sets up its nodes (s0 is ready once it has the run's start,
    which s1 has too) and, if given, `there` exists; (its report, the seconds from the Ctrl-C to s1's end)."""
    times = []

    def ctrl_c():
        wait_until(lambda: runtime.snapshot().stages["s0"].state == "ready", 60.0)
        wait_until(lambda: there is None or there.exists(), 60.0)
        time.sleep(0.2)
        pid = runtime.pids()["s1"]
        times.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
        wait_until(lambda: not alive(pid), 60.0, step=0.005)
        times.append(time.monotonic())

    thread = threading.Thread(target=ctrl_c, daemon=True)
    thread.start()
    report = runtime.run()
    thread.join()
    return report, times[1] - times[0]


def test_a_ctrl_c_while_a_node_sets_up_ends_its_stage_without_a_warning(tmp_path, caplog):
    # a Ctrl-C in a model's warm-up said "stage s1 (...) did not stop; killing it" as if something had gone wrong,
    # then "interrupted: 0 frames in 0.0 s (0.0 fps), latency p50 0.0 ms p95 0.0 ms", figures nothing measured
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("slow", "SlowSetup", {"seconds": 60.0}, "b"), ("out", "NullOutput", {}, "b")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    with caplog.at_level(logging.INFO, logger="nodegraph"):
        report, ended_in_s = ctrl_c_in_the_set_up(runtime)
    # the stage in the set-up, which reads no stop until it ends, was ended at once, not killed 3 s after it was
    # asked to stop (2 s for it to stop, then 1 s once the rings were aborted)
    assert ended_in_s < 2.0
    assert report.interrupted and report.frames == 0
    assert report.summary_line() == "interrupted: 0 frames (stopped before the first frame came out)"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "stage s1 (nodes: slow, out) was still setting up; ended it" in caplog.text
    assert not any(alive(pid) for pid in runtime.pids().values())


def test_a_ctrl_c_while_a_node_makes_its_output_is_no_kill_and_leaves_no_folder(tmp_path, caplog):
    # killed at once in any set-up, a stage left what an output's set-up had made before its lock recorded it (an
    # empty folder); a node that writes files is asked to stop, and its set-up removes what it made
    made = tmp_path / "pictures"
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0}, "a"),
                   ("out", "MakesFolderThenWaits", {"path": str(made)}, "b")], ["src.frame -> out.frame"])
    runtime = Runtime(graph, REGISTRY)
    with caplog.at_level(logging.INFO, logger="nodegraph"):
        report, _ = ctrl_c_in_the_set_up(runtime, made)
    assert report.interrupted and report.frames == 0
    assert not made.exists()
    assert "was still setting up; ended it" not in caplog.text
    assert not any(alive(pid) for pid in runtime.pids().values())


def test_a_stop_ends_a_stage_restarted_mid_run_that_is_still_setting_up_at_once(tmp_path, caplog):
    # only the run's shutdown, after 3 s of asking it to stop, ended such a stage: a stop there took 3-6 s
    from fault_nodes import SlowToSetUpAgain

    reg = registry()
    reg.add(SlowToSetUpAgain, "tests")
    graph = build([("src", "TestPattern", {"width": 64, "height": 48, "frames": 0, "realtime": True, "fps": 60.0},
                    "a"),
                   ("slow", "SlowToSetUpAgain", {"mark": str(tmp_path / "set_up_once")}, "b"),
                   ("out", "NullOutput", {}, "c")],
                  ["src.frame -> slow.frame", "slow.frame -> out.frame"])
    runtime = Runtime(graph, reg)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", runtime.run()), daemon=True)
    with caplog.at_level(logging.INFO, logger="nodegraph"):
        thread.start()
        assert wait_until(lambda: runtime.snapshot().frames >= 5, 30.0)
        os.kill(runtime.pids()["s1"], signal.SIGKILL)
        assert wait_until(lambda: runtime.snapshot().stages["s1"].restarts == 1, 10.0)
        time.sleep(1.0)  # the new process is in its slow set-up
        stopped_at = time.monotonic()
        runtime.stop(now=True)
        thread.join(30)
        ended_in_s = time.monotonic() - stopped_at
    assert not thread.is_alive() and not result["report"].error
    assert ended_in_s < ABORT_S, ended_in_s  # 1.5 s here; no sooner than ABORT_S when shutdown ended it
    assert "stage s1 (nodes: slow) was still setting up; ended it" in caplog.text, caplog.text
    assert not any(alive(pid) for pid in runtime.pids().values())
