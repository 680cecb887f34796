"""Files written beside a run's outputs (`--stats-json`, `--screenshot`) that another run writes or locks: refused
before the run, and a run's own stats file held under its lock until its stats are in it."""

import json
import os
import re
import signal
import subprocess
import sys
import threading

import cv2
from conftest import repo_env, run_cli
from test_cli import node, write_preset
from test_side_files import null_preset, refused, stats_run

from nodegraph.output_checks import lock_path
from nodegraph.output_files import OutputFile
from nodegraph.side_files import check_stats_path, write_stats


def test_a_stats_file_named_as_a_lock_is_refused_and_another_runs_lock_kept(tmp_path, capsys):
    writing = OutputFile(tmp_path / "other.mp4", "other.mp4")  # another run, writing other.mp4 now
    lock = lock_path(tmp_path / "other.mp4")
    held = os.stat(lock).st_ino
    try:
        for target in (lock, tmp_path / ".free.mp4.lock"):
            said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", target)
            assert f"--stats-json {target}: is named as a lock file of nodegraph's (.NAME.lock)" in said
        assert os.stat(lock).st_ino == held and not (tmp_path / ".free.mp4.lock").exists()
    finally:
        writing.release(discard=True)


def test_stats_json_on_the_file_another_running_run_writes_is_refused_and_its_video_kept(tmp_path, capsys):
    # run A renders out.mp4 for 3 s; run B, started meanwhile with --stats-json out.mp4, replaced A's finished
    # video with its stats when it ended after A
    out = tmp_path / "out.mp4"
    rendering = write_preset(tmp_path / "a.json", [node("src", "TestPattern", frames=60, fps=20.0, realtime=True),
                                                    node("out", "VideoFileOutput", path=str(out))],
                             [("src.frame", "out.frame")])
    other = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(rendering)], cwd=tmp_path,
                             env=repo_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lock = lock_path(out)
        while not lock.exists() and other.poll() is None:
            threading.Event().wait(0.05)
        assert lock.exists(), other.stderr.read()
        said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", out)
        assert re.search(rf"--stats-json {re.escape(str(out))}: another run \((pid \d+|another process)\) is "
                         "writing this file now", said), said
        assert other.wait(timeout=60) == 0
        told = other.stderr.read()
    finally:
        other.kill()
        other.wait()
    video = cv2.VideoCapture(str(out))
    frames = 0
    while video.grab():
        frames += 1
    assert f"{out} holds {frames} frames and plays" in told and frames > 0  # A's video, as A said, not B's stats


def test_stats_are_not_written_over_a_file_a_run_began_writing_after_the_check(tmp_path, capsys):
    out = tmp_path / "out.mp4"
    checked = check_stats_path(str(out))
    writing = OutputFile(out, "out.mp4")  # a run that began while this one ran
    try:
        assert not write_stats(checked, {"frames": 1})
        assert not out.exists()
        writing.temporary.write_bytes(b"the other run's video")
        writing.commit()
    finally:
        writing.release(discard=True)
    assert (f"cannot write --stats-json {out}: another run (pid {os.getpid()}) is writing this file now"
            in capsys.readouterr().err)
    assert out.read_bytes() == b"the other run's video"



def test_a_run_that_starts_writing_the_stats_file_of_a_running_run_is_refused_and_the_stats_land(tmp_path):
    # run B checked its --stats-json out.mp4 (no run wrote it), then run A began rendering out.mp4 and ended
    # first: B, ending after it, replaced A's finished video with its stats. B now holds the file from its check
    out = tmp_path / "out.mp4"
    stats = stats_run(tmp_path, out)
    try:
        rendering = write_preset(tmp_path / "a.json", [node("src", "TestPattern", frames=5),
                                                        node("out", "VideoFileOutput", path=str(out))],
                                 [("src.frame", "out.frame")])
        other = run_cli("run", rendering, cwd=tmp_path)
        assert other.returncode == 2, other.stderr
        assert (f"another run (pid {stats.pid}) is writing this file now; wait for it to finish or choose another "
                "output") in other.stderr
        assert stats.wait(timeout=60) == 0, stats.stderr.read()
    finally:
        stats.kill()
        stats.wait()
    written = json.loads(out.read_text())  # what B was asked to write there, whole
    assert written["frames"] > 0 and not written["error"] and not written["interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "out.mp4"]  # no lock, no temporary


def test_a_stopped_run_gives_back_the_stats_files_lock_with_its_stats_written(tmp_path):
    stats = tmp_path / "stats.json"
    run = stats_run(tmp_path, stats)
    try:
        assert lock_path(stats).exists()
        threading.Event().wait(0.5)
        os.kill(run.pid, signal.SIGINT)  # Ctrl-C
        assert run.wait(timeout=60) == 130, run.stderr.read()
    finally:
        run.kill()
        run.wait()
    assert json.loads(stats.read_text())["interrupted"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "stats.json"]


def test_a_screenshot_of_a_file_another_run_writes_now_is_refused_before_the_window_opens(tmp_path, capsys):
    shot = tmp_path / "shot.png"
    writing = OutputFile(shot, "shot.png")  # another run, writing shot.png now
    try:
        said = refused(capsys, "edit", null_preset(tmp_path), "--screenshot", shot)
        assert f"--screenshot {shot}: another run (pid {os.getpid()}) is writing this file now" in said
    finally:
        writing.release(discard=True)
    assert not shot.exists()


def test_a_run_gives_back_its_lock_and_never_removes_another_put_at_its_name(tmp_path):
    first = OutputFile(tmp_path / "out.mp4", "out.mp4")
    lock = lock_path(tmp_path / "out.mp4")
    other = tmp_path / "other"
    other.write_text("4242\n")
    os.replace(other, lock)  # another run's lock now sits at the name
    first.release(discard=True)
    assert lock.read_text() == "4242\n"
    lock.unlink()
    second = OutputFile(tmp_path / "out.mp4", "out.mp4")
    second.release(discard=True)
    assert not lock.exists()  # its own lock, given back
