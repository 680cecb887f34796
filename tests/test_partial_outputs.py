"""A run that does not complete (a source fails, Ctrl-C, a killed writer) keeps what it wrote, but never
over a file already there: that file stays bit for bit, and the partial goes beside it (NAME.partial.EXT,
then NAME.partial-1.EXT, ...). A run that completes replaces the file as before."""

import hashlib
import os
import signal
import time

import cv2
import numpy as np
import pytest
from conftest import run_cli
from runtime_nodes import run_segments
from test_cli import node, write_preset
from test_output_safety import finish, spawn

from nodegraph.output_files import read_lock
from nodes.frame_count import count_frames

MODES = [pytest.param([], id="multiprocess"), pytest.param(["--sequential"], id="sequential")]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pictures(folder, count, bad=None, shade=0):
    """`count` real pictures p0.jpg, p1.jpg, ... in `folder`; picture `bad` is bytes no decoder reads."""
    folder.mkdir(exist_ok=True)
    for index in range(count):
        path = folder / f"p{index}.jpg"
        if index == bad:
            path.write_bytes(b"not a picture")
        else:
            cv2.imwrite(str(path), np.full((120, 160, 3), 40 * index + shade, np.uint8))


def folder_to_video(tmp_path, out):
    # a picture that cannot be read stops the run: a run that fails part-way
    source = node("src", "FolderSource", path=str(tmp_path / "imgs"), unreadable="stop")
    return write_preset(tmp_path / "p.json", [source, node("out", "VideoFileOutput", path=str(out))],
                        [("src.frame", "out.frame")])


def names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("mode", MODES)
def test_a_source_that_fails_mid_stream_leaves_the_earlier_video_whole_and_the_partial_beside_it(tmp_path, mode):
    out = tmp_path / "out" / "v.mp4"
    preset = folder_to_video(tmp_path, out)
    pictures(tmp_path / "imgs", 4)
    assert run_cli("run", preset, *mode).returncode == 0
    assert count_frames(str(out)) == 4
    earlier = digest(out)

    pictures(tmp_path / "imgs", 4, bad=2)
    failed = run_cli("run", preset, *mode)
    assert failed.returncode == 3, failed.stderr
    assert "p2.jpg: not a picture OpenCV can decode" in failed.stderr
    partial = tmp_path / "out" / "v.partial.mp4"
    assert digest(out) == earlier
    assert count_frames(str(partial)) == 2
    assert (f"{out}: this run did not complete, so what it wrote is kept beside it as {partial}; "
            f"the file already at {out} is left as it was") in failed.stderr

    again = run_cli("run", preset, *mode)  # the next failure takes the next free name
    assert again.returncode == 3, again.stderr
    assert digest(out) == earlier and count_frames(str(tmp_path / "out" / "v.partial-1.mp4")) == 2
    assert names(tmp_path / "out") == ["v.mp4", "v.partial-1.mp4", "v.partial.mp4"]

    pictures(tmp_path / "imgs", 5, shade=5)  # a run that completes replaces the file, as users rerun presets
    done = run_cli("run", preset, *mode)
    assert done.returncode == 0, done.stderr
    assert count_frames(str(out)) == 5 and digest(out) != earlier
    assert names(tmp_path / "out") == ["v.mp4", "v.partial-1.mp4", "v.partial.mp4"]


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_run_with_no_earlier_file_keeps_what_it_wrote_at_the_path(tmp_path, mode):
    out = tmp_path / "v.mp4"
    pictures(tmp_path / "imgs", 3, bad=1)
    failed = run_cli("run", folder_to_video(tmp_path, out), *mode)
    assert failed.returncode == 3, failed.stderr
    assert count_frames(str(out)) == 1
    assert "partial" not in names(tmp_path)


def endless_to(tmp_path, out):
    """A paced endless pattern into `out`, the writer in a process of its own (pinned)."""
    source, writer = (node("src", "TestPattern", width=160, height=120, frames=0, realtime=True, fps=30.0),
                      node("out", "VideoFileOutput", path=str(out)))
    source["process"], writer["process"] = "a", "b"
    return write_preset(tmp_path / "p.json", [source, writer], [("src.frame", "out.frame")])


def lock_holder(target, deadline, ready):
    """The writer's (pid, where it writes) from `target`'s lock, once `ready(its record)` holds."""
    lock = target.with_name(f".{target.name}.lock")
    while time.monotonic() < deadline:
        held = read_lock(lock)
        if held.pid and ready(held):
            return int(held.pid), held.temporary
        time.sleep(0.05)
    raise AssertionError(f"{target} was not written within the time given")


def writing(out, deadline):
    """The writer's (pid, temporary file) from its lock, once the temporary file holds a fragment."""
    return lock_holder(out, deadline, lambda held: held.temporary and os.path.getsize(held.temporary) > 20_000)


def earlier_video(tmp_path):
    out = tmp_path / "out.mp4"
    preset = write_preset(tmp_path / "first.json",
                          [node("src", "TestPattern", width=160, height=120, frames=12),
                           node("out", "VideoFileOutput", path=str(out))], [("src.frame", "out.frame")])
    assert run_cli("run", preset).returncode == 0
    return out, digest(out)


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_before_the_source_ends_leaves_the_earlier_video_whole(tmp_path, mode):
    out, earlier = earlier_video(tmp_path)
    process = spawn(endless_to(tmp_path, out), *mode)
    try:
        writing(out, time.monotonic() + 60)
        os.killpg(process.pid, signal.SIGINT)
    finally:
        stderr = finish(process, timeout=60)
    assert process.returncode == 130, stderr
    partial = tmp_path / "out.partial.mp4"
    assert digest(out) == earlier and count_frames(str(out)) == 12
    assert count_frames(str(partial)) >= 10
    assert f"kept beside it as {partial}; the file already at {out} is left as it was" in stderr
    assert names(tmp_path) == ["first.json", "out.mp4", "out.partial.mp4", "p.json"]


def kill_writer(process, writer_pid):
    """SIGKILL the writer stage of the run `process` once `writer_pid()` names it, and let the run end;
    returns (the writer's pid, the run's stderr)."""
    try:
        pid = writer_pid()
        os.kill(pid, signal.SIGKILL)
    finally:
        stderr = finish(process, timeout=60)
    return pid, stderr


def test_a_killed_writer_is_rescued_beside_the_earlier_video_not_over_it(tmp_path):
    out, earlier = earlier_video(tmp_path)
    process = spawn(endless_to(tmp_path, out))
    pid, stderr = kill_writer(process, lambda: writing(out, time.monotonic() + 60)[0])
    assert pid != process.pid  # the writer's own stage process
    assert process.returncode == 3, stderr
    partial = tmp_path / "out.partial.mp4"
    assert digest(out) == earlier
    frames = count_frames(str(partial))
    assert frames >= 10
    assert (f"its writer (pid {pid}) was stopped before it closed {out}; what it wrote is kept beside it as "
            f"{partial}, and the file already at {out} is left as it was; it holds {frames} frames") in stderr
    assert names(tmp_path) == ["first.json", "out.mp4", "out.partial.mp4", "p.json"]


def test_what_a_killed_run_left_hidden_is_kept_beside_the_file_by_the_next_run(tmp_path):
    # the whole run killed (its process group): nothing of it could put its temporary file in place, and no
    # later run did, so what it wrote stayed hidden for ever
    out, earlier = earlier_video(tmp_path)
    process = spawn(endless_to(tmp_path, out))
    try:
        _, temporary = writing(out, time.monotonic() + 60)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        finish(process, timeout=60)
    assert os.path.exists(temporary) and digest(out) == earlier
    left = count_frames(temporary)

    again = run_cli("run", tmp_path / "first.json")
    assert again.returncode == 0, again.stderr
    assert run_segments(process.pid) == []  # the killed run's memory, which /dev/shm held until a run removed it
    partial = tmp_path / "out.partial.mp4"
    assert (f"{out}: a run that was killed before it closed this file left what it wrote; it is kept beside it "
            f"as {partial}") in again.stderr
    assert count_frames(str(partial)) >= left >= 10
    assert count_frames(str(out)) == 12 and names(tmp_path) == ["first.json", "out.mp4", "out.partial.mp4",
                                                                  "p.json"]


def test_what_a_killed_run_left_in_a_folder_whose_name_holds_a_newline_is_kept_by_the_next_run(tmp_path):
    # its lock names a temporary file on two lines: the next run took the lock for a user's file and refused
    folder = tmp_path / "take\n2"
    folder.mkdir()
    out = folder / "out.mp4"
    process = spawn(endless_to(tmp_path, out))
    try:
        deadline = time.monotonic() + 60
        while not (left := [p for p in folder.glob(".out.*.partial.mp4") if p.stat().st_size > 20_000]):
            assert time.monotonic() < deadline, "nothing was written within the time given"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        finish(process, timeout=60)
    assert (folder / ".out.mp4.lock").read_text().endswith(f"\n{left[0]}\n")  # the case made
    held = count_frames(str(left[0]))
    again = run_cli("run", tmp_path / "p.json", "--frames", "5", "--mode", "lossless")
    assert again.returncode == 0, again.stderr
    assert (f"{out}: a run that was killed before it closed this file left what it wrote; it is kept beside it as "
            f"{folder / 'out.partial.mp4'}") in again.stderr
    assert count_frames(str(folder / "out.partial.mp4")) >= held >= 10 and count_frames(str(out)) == 5
    assert names(folder) == ["out.mp4", "out.partial.mp4"]
