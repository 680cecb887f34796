"""`nodegraph run`'s exit codes end to end, through the real command line: 0 done, 2 invalid input,
3 failed while running, 130 interrupted (nodegraph/errors.py).

Checked elsewhere and not repeated here:
  0    test_cli.py::test_run_300_frames_in_order (--sequential),
       test_runtime_faults.py::test_cli_run_uses_the_runtime (multiprocess)
  2    preset: test_cli.py::test_validate_* (`validate`), ::test_set_and_frames_override (bad --set);
       media: test_bad_media.py (--sequential); model: test_face_nodes.py::
       test_a_corrupt_model_fails_the_command_line_run_as_verify_says (--sequential), test_modelhub.py
       (`models verify`, `models fetch`); camera: test_camera.py (both engines); no display:
       test_outputs.py (WindowOutput), test_editor_gui.py (`edit`); no virtual camera: test_outputs.py;
       an unwritable or full output location: test_output_faults.py
  3    a disk that fills up while writing: test_output_faults.py; an output stage killed in lossless mode:
       test_runtime_faults.py::test_lossless_a_killed_output_stage_stops_the_run_with_a_clear_message (the
       error the command line turns into 3)
  130  test_runtime_faults.py::test_ctrl_c_stops_cleanly_exits_130_and_leaves_a_playable_file (multiprocess)
What is here: 0 with a node failing on some frames (both engines); 2 for a preset, media and a model in the
multiprocess runtime; 3 for a node that says the run cannot go on, a node whose set-up has a bug, a folder
none of whose pictures can be read (these three in both engines), a stage that keeps dying and a /dev/shm too
small for the frames; 130 for Ctrl-C of a --sequential run and of a benchmark's run.
docs/troubleshooting.md lists the messages.
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from clips import read_frames
from conftest import REPO, repo_env, run_cli
from runtime_nodes import stage_pids, wait_until
from test_cli import node, write_preset

from nodegraph.registry import default_registry

TESTS = REPO / "tests"


@pytest.fixture
def fault_nodes_env(tmp_path):
    """The tests' fault-making nodes, installed as a node package (entry points), so the command line
    and its stage processes load them as they would a third-party package."""
    site = tmp_path / "site"
    dist = site / "nodegraph_test_nodes-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nodegraph-test-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nodegraph.nodes]\nflaky = runtime_nodes:FlakyFrame\n"
                                           "broken = runtime_nodes:BrokenSink\n"
                                           "dying = fault_nodes:DyingFrame\nslow = runtime_nodes:SlowFrame\n"
                                           "terminated = fault_nodes:TerminatedInSetup\n"
                                           "broken_setup = fault_nodes:BrokenSetup\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)])}


def pattern_frame(frame_id, width, height):
    pattern = default_registry().get("TestPattern")("reference", {"width": width, "height": height})
    pattern.setup()
    pattern.frame_id = frame_id
    return pattern.process()["frame"]


# -- 0 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_0_when_a_node_fails_on_some_frames_they_are_counted_and_pass(tmp_path, fault_nodes_env, engine):
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=50),
                           node("flaky", "FlakyFrame", every=10),
                           node("out", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                          [("src.frame", "flaky.frame"), ("flaky.frame", "out.frame")])
    result = run_cli("run", preset, *engine, "--stats-json", tmp_path / "stats.json", env=fault_nodes_env)
    assert result.returncode == 0, result.stderr
    assert ("node 'flaky' (FlakyFrame) failed on frame 0: ValueError: frame 0 is not to my taste"
            in result.stderr)
    assert "done: 50 frames" in result.stderr
    assert "errors in flaky (5: ValueError: frame 40 is not to my taste)" in result.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 50 and stats["errors"] == 5 and not stats["error"]
    assert stats["nodes"]["flaky"]["errors"] == 5 and stats["nodes"]["flaky"]["frames"] == 45
    assert stats["nodes"]["flaky"]["last_error"] == "ValueError: frame 40 is not to my taste"
    assert len(list((tmp_path / "seq").glob("frame_*.png"))) == 50
    for frame_id in (10, 11):  # a failed frame goes on as it came in; the others are processed
        written = cv2.imread(str(tmp_path / "seq" / f"frame_{frame_id:06d}.png"))
        original = pattern_frame(frame_id, 64, 48)
        assert np.array_equal(written, original if frame_id % 10 == 0 else 255 - original), frame_id


# -- 2 ------------------------------------------------------------------------------------------------

def corrupt_model_env(tmp_path):
    override = tmp_path / "override"
    override.mkdir()
    copy = shutil.copy(REPO / "models" / "blazeface_full.onnx", override)
    data = bytearray(open(copy, "rb").read())
    data[1000] ^= 0xFF
    open(copy, "wb").write(bytes(data))
    return {"NODEGRAPH_MODELS": str(override), "NODEGRAPH_USER_MODELS": str(tmp_path / "user")}


def test_2_for_invalid_input_in_the_multiprocess_runtime(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"format": "nodegraph-preset", "version": 1,\n "nodes": [}\n')
    result = run_cli("run", bad_json)
    assert result.returncode == 2
    assert f"nodegraph: {bad_json}: bad JSON at line 2, column 12" in result.stderr

    typo = write_preset(tmp_path / "typo.json", [node("src", "TestPattern"), node("out", "NullOutpt")],
                        [("src.frame", "out.frame")])
    result = run_cli("run", typo)
    assert result.returncode == 2
    assert "node 'out', field 'type': unknown node type 'NullOutpt'" in result.stderr

    # set up in a stage process, reported as the in-process executor reports it
    missing = write_preset(tmp_path / "missing.json",
                           [node("src", "VideoSource", path=str(tmp_path / "nothing.mp4")),
                            node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", missing)
    assert result.returncode == 2
    assert f"file not found: {tmp_path / 'nothing.mp4'}" in result.stderr

    env = corrupt_model_env(tmp_path)
    verify = run_cli("models", "verify", env=env)
    failed = "FAILED   blazeface_full: "
    message = next(line for line in verify.stdout.splitlines() if line.startswith(failed))
    result = run_cli("run", REPO / "presets" / "face_debug.json", "--frames", "2", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert message.removeprefix(failed) in result.stderr
    assert "node 'detector' (FaceDetector)" in result.stderr
    written = tmp_path / "out" / "faces.jsonl"
    assert not written.exists() or not written.read_text()


# -- 3 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_3_when_a_node_says_the_run_cannot_go_on(tmp_path, fault_nodes_env, engine):
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=0),
                           node("video", "VideoFileOutput", path=str(tmp_path / "o.mp4")),
                           node("broken", "BrokenSink", at=25)],
                          [("src.frame", "video.frame"), ("src.frame", "broken.frame")])
    result = run_cli("run", preset, "--stats-json", tmp_path / "stats.json", *engine, env=fault_nodes_env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.endswith("nodegraph: node 'broken': the disk went away at frame 25\n"), result.stderr
    assert "\nfailed: " in "\n" + result.stderr  # the summary line, as every run that got to its frames ends with
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["error"] == "node 'broken': the disk went away at frame 25"
    assert stats["failed_node"] == "broken"  # for a script, as the editor marks it: not parsed from the words
    assert len(read_frames(tmp_path / "o.mp4")) >= 25  # the other output was closed: it plays


@pytest.mark.parametrize("engine", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_3_when_a_node_s_set_up_has_a_bug(tmp_path, fault_nodes_env, engine):
    # --sequential ended with the KeyError's traceback and exit 1, where a stage process said this
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=5), node("bad", "BrokenSetup")],
                          [("src.frame", "bad.frame")])
    result = run_cli("run", preset, *engine, env=fault_nodes_env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.endswith("nodegraph: node 'bad' (BrokenSetup) failed to start: KeyError: 'lut'\n"), \
        result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("engine", "pictures", "said"), [
    ([], 5, "none of its 5 pictures can be read (the log names each)"),
    (["--sequential"], 5, "none of its 5 pictures can be read (the log names each)"),
    (["--sequential"], 1, "its one picture cannot be read (the log says why)"),  # was "none of its 1 pictures"
], ids=["multiprocess", "sequential", "one picture"])
def test_3_when_no_picture_of_a_folder_can_be_read(tmp_path, engine, pictures, said):
    # it was said as "node 'src' (FolderSource) failed on frame 0: InvalidInput: ...", as if the node had a bug
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(pictures):
        (folder / f"shot{i}.png").write_bytes(b"not a picture")
    preset = write_preset(tmp_path / "p.json", [node("src", "FolderSource", path=str(folder)),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", preset, *engine)
    assert result.returncode == 3  # found as the run reads them, as a run's failure
    assert result.stderr.endswith(f"nodegraph: node 'src' (FolderSource): {folder}: {said}\n"), result.stderr


def test_3_when_a_stage_keeps_dying(tmp_path, fault_nodes_env):
    nodes = [node("src", "TestPattern", width=64, height=48, frames=0), node("die", "DyingFrame", after=5),
             node("out", "NullOutput")]
    for n, pin in zip(nodes, "abc", strict=True):
        n["process"] = pin
    links = [("src.frame", "die.frame"), ("die.frame", "out.frame")]
    preset = write_preset(tmp_path / "p.json", nodes, links)
    result = run_cli("run", preset, env=fault_nodes_env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("stage s1 (nodes: die) died (killed by SIGKILL); restarting it") == 3
    assert ("nodegraph: stage s1 (nodes: die) died (killed by SIGKILL) for the 4th time; the run stopped"
            in result.stderr)


def in_a_small_dev_shm(size, argv, **kwargs):
    """`argv` run with a /dev/shm of `size` (a tmpfs) in a mount namespace of its own, so nothing else on
    the machine sees it."""
    private = ["unshare", "--mount", "--propagation", "private"]
    if shutil.which("unshare") is None or subprocess.run([*private, "true"], capture_output=True).returncode:
        pytest.skip("cannot make a private mount namespace here (needs unshare and root or CAP_SYS_ADMIN)")
    shell = f'mount -t tmpfs -o size={size} tmpfs /dev/shm && exec "$@"'
    return subprocess.run([*private, "sh", "-c", shell, "sh", *argv], capture_output=True, text=True,
                          timeout=60, **kwargs)


@pytest.mark.parametrize(("size", "free"), [("4m", r"4\.0"), ("4k", r"0\.0")])
def test_3_when_dev_shm_is_too_small_for_the_frames(tmp_path, size, free):
    """/dev/shm is 64 MiB in a Docker container by default; here a 4 MiB one, and one too small even for
    the ring that tells the end of the stream. The message comes alone, with no traceback before it, and
    names the node whose frames found no room."""
    nodes = [node("src", "TestPattern", width=1920, height=1080, frames=3), node("out", "NullOutput")]
    nodes[0]["process"], nodes[1]["process"] = "a", "b"
    preset = write_preset(tmp_path / "p.json", nodes, [("src.frame", "out.frame")])
    result = in_a_small_dev_shm(size, [sys.executable, "-m", "nodegraph.cli", "run", str(preset)], env=repo_env())
    assert result.returncode == 3, result.stderr
    ring = r"nodegraph: node 'src' \(TestPattern\): ring ng\w+ \(4 slots of [\d.]+ MiB, 1 reader\)"
    too_small = ring + rf" needs [\d.]+ MiB but /dev/shm has only {free} MiB free \(of {free} MiB\)"
    assert re.search(too_small, result.stderr), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Docker `--shm-size=2g`, Linux `sudo mount -o remount,size=4G /dev/shm`" in result.stderr


# -- 130 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine, signum", [("--sequential", signal.SIGINT), ("--sequential", signal.SIGTERM),
                                             (None, signal.SIGTERM)],
                         ids=["sequential-ctrl-c", "sequential-sigterm", "process-sigterm"])
def test_130_for_ctrl_c_or_sigterm_to_the_process_group_and_the_file_plays(tmp_path, engine, signum):
    """Ctrl-C in a terminal, or a service manager stopping the run, signals the whole group."""
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=160, height=120, frames=0, realtime=True,
                                fps=60.0),
                           node("seq", "ImageSequenceOutput", path=str(tmp_path / "seq"), format="bmp"),
                           node("video", "VideoFileOutput", path=str(tmp_path / "out.mp4"))],
                          [("src.frame", "seq.frame"), ("src.frame", "video.frame")])
    env = repo_env()
    command = [sys.executable, "-m", "nodegraph.cli", "run", str(preset), *([engine] if engine else [])]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        # 10 pictures written, and the video's encoder has written packets: its own stage may lag behind the
        # pictures' on a busy machine
        assert wait_until(lambda: len(list((tmp_path / "seq").glob("*.bmp"))) >= 10
                          and any(f.stat().st_size for f in tmp_path.glob(".out.*.partial.mp4")), 30.0)
        os.killpg(process.pid, signum)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "\ninterrupted: " in "\n" + stderr
    written = len(list((tmp_path / "seq").glob("*.bmp")))
    assert written >= 10
    played = len(read_frames(tmp_path / "out.mp4"))  # the file was closed: it plays
    if engine:
        assert played in (written - 1, written)
    else:  # two output stages in realtime mode: each stops with what it had, drops counted
        assert played >= 5


def test_130_for_sigterm_while_the_nodes_set_up_and_nothing_is_left(tmp_path, fault_nodes_env):
    # --sequential took SIGTERM only once its nodes were set up: one during a set-up (a window opening, a model
    # loading) killed the run (-15), leaving the output's lock and temporary file
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=30),
                           node("out", "VideoFileOutput", path=str(tmp_path / "out.mp4")),
                           node("zz", "TerminatedInSetup")],
                          [("src.frame", "out.frame"), ("src.frame", "zz.frame")])
    result = run_cli("run", preset, "--sequential", env=fault_nodes_env)
    assert result.returncode == 130, result.stderr
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "site"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("run_started, runs", [("started: set up", 1), ("started: 2 processes", 1),
                                               ("started: 2 processes", 5)],
                         ids=["sequential-run", "pipeline-run", "workers-after-the-runs"])
def test_130_for_ctrl_c_of_a_benchmark_during_one_of_its_runs(tmp_path, run_started, runs):
    # The runners take a Ctrl-C to stop their run in order: `bench pipeline` measured on through its other
    # runs and printed figures with 0 after a Ctrl-C in a sequential run, and in a pipeline run called the
    # stopped run a failure in a traceback (exit 1). After its 5 rounds of runs, its two worker processes
    # (the machine's capacity) printed a KeyboardInterrupt traceback each.
    # -v: a benchmark keeps its runs' "started: ..." lines to itself, which say when to press Ctrl-C
    process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "bench", "pipeline", "--frames", "200", "-v"],
                               cwd=tmp_path, env=repo_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        seen = []
        while len([line for line in seen if run_started in line]) < runs:
            seen.append(process.stderr.readline())
            assert seen[-1], seen  # the command ended before that run started
        if runs > 1:  # the last run's stages gone, the workers started
            for wanted in (False, True):
                while bool(stage_pids(process.pid)) != wanted:
                    time.sleep(0.005)
        time.sleep(0.3)
        os.killpg(process.pid, signal.SIGINT)
        out, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert out == "" and "Traceback" not in stderr, stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_130_for_sigterm_to_the_group_while_stage_processes_are_still_starting(tmp_path):
    """A stage inherits SIGTERM ignored from the moment it is spawned, before its own start-up code."""
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", frames=0), node("out", "NullOutput")],
                          [("src.frame", "out.frame")])
    env = repo_env()
    process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not stage_pids(process.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        os.killpg(process.pid, signal.SIGTERM)  # the stages are importing their modules now
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "died while starting" not in stderr


def test_python_dash_m_runs_the_command(tmp_path):
    # `python -m nodegraph.launch ...` did nothing and exited 0, and `python -m nodegraph` had no entry
    env = repo_env()
    for module in ("nodegraph", "nodegraph.launch"):
        result = subprocess.run([sys.executable, "-m", module, "validate", str(tmp_path / "nope.json")], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "nope.json" in result.stdout + result.stderr, (module, result)


@pytest.mark.parametrize("command", ["validate", "verify"])
def test_a_reader_that_went_away_does_not_change_the_exit_status(tmp_path, command):
    """`set -o pipefail; nodegraph validate bad.json | true` is 2, as without the pipe."""
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "blazeface_short.onnx").write_bytes(b"not the model")  # found first, and corrupt
    argv = ["validate", "bad.json"] if command == "validate" else ["models", "verify"]
    env = repo_env({"NODEGRAPH_MODELS": str(tmp_path / "models"), "NODEGRAPH_USER_MODELS": str(tmp_path / "user")})
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        result = subprocess.run([sys.executable, "-m", "nodegraph.cli", *argv], cwd=tmp_path, stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=60, env=env)
    finally:
        os.close(write)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("argv", [["nodes", "--json"], ["plan", "presets/demo.json"], ["validate", "presets/demo.json"],
                                  ["models", "list"], ["cleanup"]])
def test_output_to_a_full_disk_is_said_and_exits_3_not_a_traceback(argv):
    """`nodegraph nodes --json > nodes.json` on a full disk ended in an OSError traceback, exit 1."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "nodegraph.cli", *argv], cwd=REPO, stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=60, env=repo_env())
    assert result.returncode == 3, result.stderr
    assert "nodegraph: could not write: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_output_past_the_file_size_limit_is_not_called_a_full_disk(tmp_path):
    """`ulimit -f` refusing the output (EFBIG) was told to free some space, as if the disk were full."""
    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    with open(tmp_path / "nodes.json", "w") as out:
        result = subprocess.run([sys.executable, "-m", "nodegraph.cli", "nodes", "--json"], cwd=REPO, stdout=out,
                                stderr=subprocess.PIPE, text=True, timeout=60, env=repo_env(),
                                preexec_fn=limit_file_size)
    assert result.returncode == 3, result.stderr
    assert "nodegraph: could not write: File too large; send it elsewhere" in result.stderr
    assert "free some space" not in result.stderr and "Traceback" not in result.stderr
