"""Never destroy a user's file: an output that is an input, a symlink at the output path, two runs writing
one file, a disk that fills for real (ENOSPC, on a small tmpfs), paths the video libraries cannot take and
outputs that cannot work are all handled before they cost a file."""

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import cv2
import pytest
from clips import read_frames, write_clip
from conftest import REPO, repo_env, run_cli
from test_cli import node, write_preset

from nodes.frame_count import count_frames


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def copy_preset(tmp_path, source, target, **output):
    return write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=str(source)),
                                              node("out", "VideoFileOutput", path=str(target), **output)],
                        [("src.frame", "out.frame")])


def spawn(preset, *args):
    return subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset), *args],
                            env=repo_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(process, timeout=90):
    try:
        return process.communicate(timeout=timeout)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
def test_an_output_that_is_the_source_is_refused_and_the_source_is_kept(tmp_path, spelling):
    source = write_clip(tmp_path / "src.mp4", frames=30)
    before = digest(source)
    target = {"same": source, "dot": f"{tmp_path}/./sub/../src.mp4", "symlink": tmp_path / "link.mp4",
              "hardlink": tmp_path / "hard.mp4"}[spelling]
    if spelling == "symlink":
        os.symlink("src.mp4", target)
    if spelling == "hardlink":
        os.link(source, target)
    (tmp_path / "sub").mkdir()
    preset = copy_preset(tmp_path, source, target)
    for args in ((), ("--sequential",)):
        result = run_cli("run", preset, *args)
        assert result.returncode == 2, result.stderr
        assert (f"nodegraph: {preset}: the graph is not valid:\n  node 'out' (VideoFileOutput), param 'path': "
                in result.stderr)
        assert (f"is the input of node 'src' (path: {source}); writing it would destroy it: choose another "
                "output") in result.stderr
    result = run_cli("validate", preset)
    assert result.returncode == 2 and "writing it would destroy it" in result.stdout
    assert digest(source) == before and len(read_frames(source)) == 30


def test_a_symlink_at_the_output_path_is_replaced_never_written_through(tmp_path):
    source = write_clip(tmp_path / "src.mp4", frames=30)
    precious = tmp_path / "precious.txt"
    precious.write_text("a file the link points at")
    link = tmp_path / "out.mp4"
    os.symlink(precious, link)
    result = run_cli("run", copy_preset(tmp_path, source, link))
    assert result.returncode == 0, result.stderr
    assert precious.read_text() == "a file the link points at"
    assert not link.is_symlink() and len(read_frames(link)) == 30


def test_a_read_only_file_is_not_replaced_and_a_replaced_file_keeps_its_permissions(tmp_path):
    source = write_clip(tmp_path / "src.mp4", frames=10)
    target = tmp_path / "out.mp4"
    target.write_bytes(b"the user's finished cut")
    preset = copy_preset(tmp_path, source, target)
    target.chmod(0o444)
    for engine in ([], ["--sequential"]):
        result = run_cli("run", preset, *engine)
        assert result.returncode == 2, result.stderr
        assert (f"{target}: the file already there is read-only (mode 0444), so a run does not replace it: make it "
                "writable (chmod u+w) or choose another output") in result.stderr
    assert target.read_bytes() == b"the user's finished cut"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "p.json", "src.mp4"]
    target.chmod(0o640)
    assert run_cli("run", preset).returncode == 0
    assert len(read_frames(target)) == 10 and target.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_symlink_or_fifo_at_the_lock_files_name_is_never_written_through(tmp_path, kind):
    source = write_clip(tmp_path / "src.mp4", frames=10)
    precious = tmp_path / "precious.txt"
    precious.write_text("a file the link points at")
    lock = tmp_path / ".out.mp4.lock"
    os.symlink(precious, lock) if kind == "symlink" else os.mkfifo(lock)
    preset = copy_preset(tmp_path, source, tmp_path / "out.mp4")
    for engine in ([], ["--sequential"]):
        result = run_cli("run", preset, *engine)
        assert result.returncode == 2, result.stderr
        assert f"{lock} is not a lock file of nodegraph's" in result.stderr and "remove it" in result.stderr
    assert precious.read_text() == "a file the link points at" and not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("output", ["VideoFileOutput", "ImageSequenceOutput"])
def test_a_users_own_file_at_the_lock_files_name_is_refused_and_kept(tmp_path, output):
    # the run took it as its lock: truncated it, wrote its pid in it and removed it when done
    target = tmp_path / ("out.mp4" if output == "VideoFileOutput" else "seq")
    preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", width=32, height=32, frames=3),
                                                node("out", output, path=str(target))], [("src.frame", "out.frame")])
    lock = tmp_path / f".{target.name}.lock"
    lock.write_text("my notes on this cut\n")
    for engine in ([], ["--sequential"]):
        result = run_cli("run", preset, *engine)
        assert result.returncode == 2, result.stderr
        assert (f"{lock} holds something other than the lock nodegraph writes there (a pid, a temporary file, a run "
                "token), and its name is this output's lock, which a run rewrites and removes: if it is a file of "
                "yours, move it elsewhere; if not, remove it; then run again") in result.stderr
        assert lock.read_text() == "my notes on this cut\n"
        assert not target.exists()  # no video; no picture folder either (the run made it, and removed it)
    lock.write_text("")  # as a run killed before it wrote its lock leaves it: taken, and given back
    assert run_cli("run", preset).returncode == 0
    assert target.exists() and not lock.exists()


def test_a_second_run_to_the_same_output_is_refused_naming_the_pid_that_holds_it(tmp_path):
    source = write_clip(tmp_path / "src.mp4", frames=10)
    target = tmp_path / "out.mp4"
    endless = write_preset(tmp_path / "endless.json",
                           [node("src", "TestPattern", width=160, height=120, frames=0, realtime=True, fps=30.0),
                            node("out", "VideoFileOutput", path=str(target))], [("src.frame", "out.frame")])
    first = spawn(endless)
    try:
        lock = tmp_path / ".out.mp4.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.05)
        holder = lock.read_text().split()[0]
        for args in ((), ("--sequential",)):
            second = run_cli("run", copy_preset(tmp_path, source, target), *args)
            assert second.returncode == 2, second.stderr
            assert (f"nodegraph: node 'out' (VideoFileOutput): {target}: another run (pid {holder}) is writing this "
                    "file now; wait for it to finish or choose another output") in second.stderr
        os.killpg(first.pid, signal.SIGINT)  # as Ctrl-C: the first run closes its file
    finally:
        stderr = finish(first)
    assert first.returncode == 130, stderr
    frames = read_frames(target)
    assert len(frames) >= 10 and f"{target} holds {len(frames)} frames and plays" in stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def fill(disk, leave=0):
    """Fill `disk` for real until at most `leave` bytes are free."""
    with open(disk / "ballast", "wb") as file:
        try:
            while shutil.disk_usage(disk).free > leave:
                file.write(bytes(min(8 * 2**20, max(4096, shutil.disk_usage(disk).free - leave))))
                file.flush()
        except OSError:
            pass


def test_a_disk_that_fills_mid_picture_leaves_no_truncated_picture_and_names_the_os_error(tmp_path, small_disk):
    disk = small_disk("disk", "80m")
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=640, height=480, frames=0, realtime=True, fps=10.0),
                           node("out", "ImageSequenceOutput", path=str(disk / "seq"), format="bmp")],
                          [("src.frame", "out.frame")])
    process = spawn(preset)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((disk / "seq").glob("frame_*"))) < 2:
            time.sleep(0.05)
        fill(disk, leave=300_000)  # less than one 0.9 MiB picture
    finally:
        stderr = finish(process)
    assert process.returncode == 3, stderr
    assert ": cannot write: No space left on device; the pictures before it are whole" in stderr
    pictures = sorted((disk / "seq").iterdir())
    assert len(pictures) >= 2 and all(p.name.startswith("frame_") for p in pictures)  # no temporary left
    for picture in pictures:
        assert picture.stat().st_size == pictures[0].stat().st_size and cv2.imread(str(picture)) is not None


def test_a_disk_that_fills_mid_video_leaves_a_file_that_plays_and_says_how_many_frames(tmp_path, small_disk):
    disk = small_disk("disk", "80m")
    out = disk / "out.mp4"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=640, height=480, frames=0, realtime=True, fps=30.0),
                           node("out", "VideoFileOutput", path=str(out))],
                          [("src.frame", "out.frame")])
    process = spawn(preset)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(p.stat().st_size for p in disk.glob(".out.*.partial.mp4")):
            time.sleep(0.05)
        time.sleep(1.5)
        fill(disk)
    finally:
        stderr = finish(process)
    assert process.returncode == 3, stderr
    frames = read_frames(out)
    assert len(frames) >= 10 and frames[-1].shape == (480, 640, 3)
    assert f"{out} holds {len(frames)} frames and plays" in stderr
    assert count_frames(str(out)) == len(frames)
    assert sorted(p.name for p in disk.iterdir()) == ["ballast", "out.mp4"]


@pytest.mark.parametrize("which", ["src", "out"])
def test_a_path_that_is_not_utf8_is_refused_by_validate_and_run(tmp_path, which):
    source = write_clip(tmp_path / "src.mp4", frames=5)
    odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.mp4")
    if which == "src":
        shutil.copy(source, os.fsencode(odd))
    preset = copy_preset(tmp_path, odd if which == "src" else source, odd if which == "out" else tmp_path / "o.mp4")
    shown = f"{tmp_path}/caf\\udce9.mp4"
    for command in (("validate",), ("run",), ("run", "--sequential")):
        result = run_cli(*command[:1], preset, *command[1:])
        assert result.returncode == 2, result.stderr
        node_type = "VideoSource" if which == "src" else "VideoFileOutput"
        assert (f"node '{which}' ({node_type}), param 'path': {shown}: the path is not valid UTF-8, which the "
                "video and picture libraries cannot open; rename it") in result.stdout + result.stderr


@pytest.mark.parametrize(("setting", "problem"), [
    ("out.path={tmp}/noext", "{tmp}/noext has no extension; the file type comes from it: end the name with one "
                             "of .mp4, .mov, .mkv, .avi"),
    ("out.fps=1e-300", "{tmp}/o.mp4: fps 1e-300 is too low to write: a file's time base is a fraction of whole "
                       "numbers (1/fps); use at least 0.01 fps, or 0 for the source's rate"),
    ("out.codec=ffv1", None),
    ("out.codec=prores", "{tmp}/o.mp4: .mp4 files cannot hold prores; with .mp4 use one of h264, h265, av1, "
                         "ffv1, mp4v, or write prores to .mov, .mkv (FFmpeg: 'mp4' format does not support"),
    # in the muxer's codec list, refused by its header once the first frame came, with a hint about audio
    ("out.path={tmp}/o.mov --set out.codec=av1", "{tmp}/o.mov: .mov files cannot hold av1; with .mov use one "
                                                 "of h264, h265, prores, mp4v, or write av1 to .mp4, .mkv, .avi "
                                                 "(FFmpeg: av1 only supported in MP4"),
])
def test_unusable_outputs_are_refused_before_the_first_frame_with_the_real_reason(tmp_path, setting, problem):
    source = write_clip(tmp_path / "src.mp4", frames=5)
    preset = copy_preset(tmp_path, source, tmp_path / "o.mp4")
    result = run_cli("run", preset, *(arg for part in setting.format(tmp=tmp_path).split(" --set ")
                                      for arg in ("--set", part)))
    if problem is None:
        assert result.returncode == 0 and len(read_frames(tmp_path / "o.mp4")) == 5, result.stderr
        return
    assert result.returncode == 2, result.stderr
    assert problem.format(tmp=tmp_path) in result.stderr
    assert "done:" not in result.stderr and not (tmp_path / "o.mp4").exists()


def test_a_picture_named_mp4_is_read_as_one_frame_and_said_to_be_a_picture(tmp_path):
    picture = tmp_path / "still.mp4"
    cv2.imwrite(str(tmp_path / "still.png"), cv2.imread(str(REPO / "presets/media/astronaut.png")))
    os.rename(tmp_path / "still.png", picture)
    result = run_cli("run", copy_preset(tmp_path, picture, tmp_path / "o.mp4"), "--sequential")
    assert result.returncode == 0, result.stderr
    assert f"{picture}: is a picture (png), not a video; it is read as a video of one frame" in result.stderr
    assert len(read_frames(tmp_path / "o.mp4")) == 1


def test_a_killed_faces_writer_leaves_every_finished_line_in_place(tmp_path):
    faces = tmp_path / "faces.jsonl"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=160, height=120, frames=0, realtime=True, fps=30.0),
                           node("det", "FaceDetector"), node("file", "FacesFileOutput", path=str(faces))],
                          [("src.frame", "det.frame"), ("det.faces", "file.faces")])
    process = spawn(preset)
    try:
        lock, deadline = tmp_path / ".faces.jsonl.lock", time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.exists() and len(lock.read_text().split()) == 2):
            time.sleep(0.05)
        pid, temporary = lock.read_text().split()
        while time.monotonic() < deadline and temporary and len(open(temporary).readlines()) < 10:
            time.sleep(0.05)
        os.kill(int(pid), signal.SIGKILL)
    finally:
        stderr = finish(process)
    assert process.returncode == 3, stderr
    assert f"its writer (pid {pid}) was stopped before it closed {faces}; what it wrote is kept there" in stderr
    frames = [json.loads(line)["frame"] for line in faces.read_text().splitlines()]  # every line is whole
    assert len(frames) >= 10 and frames == sorted(set(frames))  # realtime: a slow start may drop a frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.jsonl", "p.json"]


def test_two_outputs_of_one_graph_to_one_file_are_refused(tmp_path):
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=64, height=48, frames=5),
                           node("a", "VideoFileOutput", path=str(tmp_path / "out.mp4")),
                           node("b", "VideoFileOutput", path=f"{tmp_path}/./out.mp4")],
                          [("src.frame", "a.frame"), ("src.frame", "b.frame")])
    for command in ("validate", "run"):
        result = run_cli(command, preset)
        assert result.returncode == 2, result.stderr
        assert (f"node 'b' (VideoFileOutput), param 'path': {tmp_path}/out.mp4 is also the output of node 'a'; "
                "give each output its own file") in result.stdout + result.stderr
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("engine", [[], ["--sequential"]])
def test_a_run_that_fails_before_its_first_faces_line_leaves_an_earlier_faces_file_as_it_was(tmp_path, engine):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "a.png").write_bytes(b"not a picture")
    faces = tmp_path / "faces.jsonl"
    faces.write_text('{"frame": 0, "faces": []}\n')
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "FolderSource", path=str(pictures)), node("det", "FaceDetector"),
                           node("file", "FacesFileOutput", path=str(faces))],
                          [("src.frame", "det.frame"), ("det.faces", "file.faces")])
    result = run_cli("run", preset, *engine)
    assert result.returncode == 3 and "a.png" in result.stderr, result.stderr
    assert faces.read_text() == '{"frame": 0, "faces": []}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.jsonl", "p.json", "pictures"]


def test_an_output_path_that_is_a_pipe_is_refused_and_kept(tmp_path):
    # a FIFO named out.mp4 (made to stream the video to a player) was replaced by a regular file
    fifo, folder_fifo = tmp_path / "out.mp4", tmp_path / "seq"
    os.mkfifo(fifo)
    os.mkfifo(folder_fifo)
    for output, path, said in (("VideoFileOutput", fifo, "is a pipe (FIFO), not a file: an output is written "
                                "beside it and renamed into place, which would replace it"),
                               ("ImageSequenceOutput", folder_fifo, "is a pipe (FIFO), not a folder")):
        preset = write_preset(tmp_path / "p.json", [node("src", "TestPattern", frames=3),
                                                    node("out", output, path=str(path))], [("src.frame", "out.frame")])
        result = run_cli("run", preset, cwd=tmp_path)
        assert result.returncode == 2 and f"param 'path': {path} {said}" in result.stderr, result.stderr
        assert stat.S_ISFIFO(os.lstat(path).st_mode)
