"""An unwritable or full output location is reported before work is lost: refused before the first frame
(exit 2), or, when the disk fills up during the run, the run stops with a clear message (exit 3) and what
was written stays readable. Full and read-only disks are real small tmpfs mounts (needs root or
CAP_SYS_ADMIN; skipped otherwise)."""

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path as FsPath

import cv2
import pytest
from clips import flat_then_noise, read_frames
from conftest import repo_env, run_cli
from test_cli import node, write_preset
from test_exit_codes import pattern_frame

from nodegraph.errors import InvalidInput
from nodegraph.output_files import OutputFile
from nodes.frame_count import count_frames


def two_outputs(tmp_path, output_type, path, **source):
    """A pattern written to a folder that works and to `path`."""
    return write_preset(tmp_path / "p.json",
                        [node("src", "TestPattern", **{"width": 160, "height": 120, "frames": 30, **source}),
                         node("fine", "ImageSequenceOutput", path=str(tmp_path / "fine"), format="bmp"),
                         node("out", output_type, path=str(path))],
                        [("src.frame", "fine.frame"), ("src.frame", "out.frame")])


def written(folder):
    return sorted(folder.glob("frame_*")) if folder.is_dir() else []


@pytest.mark.parametrize("output_type", ["VideoFileOutput", "ImageSequenceOutput"])
def test_an_output_inside_a_file_is_refused_before_any_frame(tmp_path, output_type):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is expected")
    target = blocker / "out.mp4" if output_type == "VideoFileOutput" else blocker / "seq"
    folder = target.parent if output_type == "VideoFileOutput" else target
    result = run_cli("run", two_outputs(tmp_path, output_type, target))
    assert result.returncode == 2, result.stderr
    assert (f"nodegraph: node 'out' ({output_type}): {target}: cannot create the folder {folder}: {blocker} is a "
            "file, not a folder; "
            "choose another place") in result.stderr
    assert written(tmp_path / "fine") == []  # no work was done
    assert blocker.read_text() == "a file where a folder is expected"


def without_permission_override(command):
    """Root writes anywhere whatever the permissions say: run it without the capabilities that allow that."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: permissions cannot be made to apply")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]


NOT_WRITABLE = "{locked} is not writable; choose a folder you may write into"
NO_SUBFOLDER = "cannot create the folder {locked}/seq: Permission denied; choose another place"


@pytest.mark.parametrize(("output_type", "name", "problem"),
                         [("VideoFileOutput", "out.mp4", NOT_WRITABLE),
                          ("ImageSequenceOutput", "seq", NO_SUBFOLDER)])
def test_an_output_in_a_folder_without_write_permission_is_refused(tmp_path, output_type, name, problem):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        preset = two_outputs(tmp_path, output_type, locked / name)
        command = without_permission_override([sys.executable, "-m", "nodegraph.cli", "run", str(preset)])
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                env=repo_env())
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert f"nodegraph: node 'out' ({output_type}): {locked / name}: {problem.format(locked=locked)}" in result.stderr
    assert written(tmp_path / "fine") == [] and list(locked.iterdir()) == []


READ_ONLY = "{folder} is on a read-only file system; choose a folder you may write into"
FULL = "the disk holding {folder} is full (less than 64 MiB free); free some space or choose another place"


@pytest.mark.parametrize(("size", "read_only", "problem"), [("1m", True, READ_ONLY), ("2m", False, FULL)],
                         ids=["read-only", "full"])
def test_an_output_on_a_read_only_or_full_disk_is_refused_before_any_frame(tmp_path, small_disk, size,
                                                                           read_only, problem):
    disk = small_disk("disk", size, read_only)
    for output_type, target in (("VideoFileOutput", disk / "out.mp4"), ("ImageSequenceOutput", disk)):
        result = run_cli("run", two_outputs(tmp_path, output_type, target))
        assert result.returncode == 2, result.stderr
        assert f"nodegraph: node 'out' ({output_type}): {target}: {problem.format(folder=disk)}" in result.stderr
        assert written(tmp_path / "fine") == []


def test_a_refused_run_leaves_no_empty_folder_it_made_and_keeps_those_that_were_there(tmp_path, small_disk):
    disk = small_disk("disk", "2m")  # full: refused at set up, after the folders were made
    (disk / "there").mkdir()
    made, under_there = disk / "new" / "seq", disk / "there" / "seq"
    result = run_cli("run", two_outputs(tmp_path, "ImageSequenceOutput", made))
    assert result.returncode == 2, result.stderr
    assert (f"nodegraph: {made}: this run made {made} and {disk / 'new'} and wrote nothing into them, so they are "
            "removed") in result.stderr
    assert f"nodegraph: node 'out' (ImageSequenceOutput): {made}: {FULL.format(folder=made)}" in result.stderr
    assert not (tmp_path / "fine").exists()  # the other output's, made before the refusal, is gone too
    result = run_cli("run", two_outputs(tmp_path, "ImageSequenceOutput", under_there))
    assert result.returncode == 2 and f"this run made {under_there} and wrote nothing into it, so it is removed" \
        in result.stderr, result.stderr
    assert sorted(p.name for p in disk.iterdir()) == ["there"] and list((disk / "there").iterdir()) == []


def test_pictures_that_find_the_disk_full_from_the_first_leave_no_empty_folder_it_made(tmp_path, small_disk):
    disk = small_disk("disk", "70m")  # over the 64 MiB refused at set up; a picture of 73 MiB does not fit
    seq = disk / "seq"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=6400, height=4000, frames=2),
                           node("out", "ImageSequenceOutput", path=str(seq), format="bmp")],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--sequential")  # no 73 MiB rings in /dev/shm
    assert result.returncode == 3, result.stderr
    assert f"{seq / 'frame_000000.bmp'}: cannot write: No space left on device" in result.stderr
    assert f"nodegraph: {seq}: this run made {seq} and wrote nothing into it, so it is removed" in result.stderr
    assert list(disk.iterdir()) == []
    seq.mkdir()  # a folder that was there before the run stays, empty or not
    result = run_cli("run", preset, "--sequential")
    assert result.returncode == 3 and "removed" not in result.stderr, result.stderr
    assert seq.is_dir() and list(seq.iterdir()) == []


@pytest.mark.parametrize("output_type, name", [("VideoFileOutput", "o.mp4"), ("FacesFileOutput", "faces.jsonl")])
def test_a_file_output_that_got_nothing_leaves_no_empty_folder_it_made(tmp_path, output_type, name):
    # a run whose first frame failed left the new folders of its video (or faces file) behind, empty
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_text("not a picture")
    target = tmp_path / "new" / "deeper" / name
    nodes = [node("src", "FolderSource", path=str(tmp_path / "imgs"), unreadable="stop"),
             node("out", output_type, path=str(target))]
    links = [("src.frame", "out.frame")]
    if output_type == "FacesFileOutput":
        nodes.insert(1, node("det", "FaceDetector"))
        links = [("src.frame", "det.frame"), ("det.faces", "out.faces")]
    preset = write_preset(tmp_path / "p.json", nodes, links)
    for engine in ([], ["--sequential"]):
        result = run_cli("run", preset, *engine)
        assert result.returncode == 3, result.stderr
        assert (f"{target}: this run made {target.parent} and {target.parent.parent} and wrote nothing into them, "
                "so they are removed") in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "p.json"]
    target.parent.mkdir(parents=True)  # folders that were there before the run stay
    result = run_cli("run", preset)
    assert result.returncode == 3 and "removed" not in result.stderr, result.stderr
    assert target.parent.is_dir() and list(target.parent.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("output_type", ["VideoFileOutput", "ImageSequenceOutput"])
def test_an_output_on_a_file_system_of_no_size_gets_the_os_reason_not_disk_full(tmp_path, output_type):
    # /proc has no size, so its free space is 0: the output was refused as "the disk holding /proc is full"
    target = FsPath("/proc/out.mp4") if output_type == "VideoFileOutput" else FsPath("/proc")
    folder = target.parent if output_type == "VideoFileOutput" else target
    result = run_cli("run", two_outputs(tmp_path, output_type, target))
    assert result.returncode == 2, result.stderr
    assert "full" not in result.stderr
    said = f"nodegraph: node 'out' ({output_type}): {target}: "
    said += f"cannot write into {folder}: " if os.access(folder, os.W_OK) else \
        f"{folder} is not writable; "  # without root, the permission check says it first
    assert said in result.stderr, result.stderr
    assert written(tmp_path / "fine") == []

@pytest.mark.parametrize("engine", [[], ["--sequential"]], ids=["multiprocess", "sequential"])
def test_pictures_filling_the_disk_stop_the_run_and_every_written_one_reads_back(tmp_path, small_disk, engine):
    disk = small_disk("disk", "80m")  # 640x480 bmp: 0.9 MiB a frame; the guard stops with 32 MiB left
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=640, height=480, frames=0),
                           node("out", "ImageSequenceOutput", path=str(disk / "seq"), format="bmp")],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset, *engine)
    assert result.returncode == 3, result.stderr
    # it named the folder alone, where a refusal at set-up names its node first
    assert result.stderr.endswith(f"nodegraph: node 'out' (ImageSequenceOutput): {disk / 'seq'}: the disk is "
                                  "almost full; stopped writing so the file stays playable\n"), result.stderr
    pictures = written(disk / "seq")
    assert 30 <= len(pictures) <= 60 and shutil.disk_usage(disk).free > 16 * 2**20
    assert [p.name for p in pictures] == [f"frame_{i:06d}.bmp" for i in range(len(pictures))]
    for i in (0, len(pictures) - 1):
        assert (cv2.imread(str(pictures[i])) == pattern_frame(i, 640, 480)).all()


def test_a_disk_filled_by_another_program_stops_the_video_which_stays_playable(tmp_path, small_disk):
    disk = small_disk("disk", "80m")
    out = disk / "out.mp4"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", width=160, height=120, frames=0, realtime=True,
                                fps=60.0),
                           node("out", "VideoFileOutput", path=str(out))],
                          [("src.frame", "out.frame")])
    env = repo_env()
    command = [sys.executable, "-m", "nodegraph.cli", "run", str(preset)]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        # the file is written under a temporary name (its lock names it) until the run ends: waiting for out.mp4
        # itself took the whole 30 s
        lock, deadline = disk / ".out.mp4.lock", time.monotonic() + 30
        while time.monotonic() < deadline and not (lock.exists() and len(lock.read_text().split()) == 2
                                                   and os.path.getsize(lock.read_text().split()[1]) > 0):
            time.sleep(0.05)
        time.sleep(0.5)  # frames are being written
        ballast = shutil.disk_usage(disk).free - 20 * 2**20  # the guard keeps 32 MiB: less is left now
        (disk / "ballast").write_bytes(bytes(ballast))
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 3, stderr
    assert (f"nodegraph: node 'out' (VideoFileOutput): {out}: the disk is almost full; stopped writing so the file "
            "stays playable") in stderr
    frames = read_frames(out)
    assert len(frames) >= 30 and frames[-1].shape == (120, 160, 3)


@pytest.mark.slow
def test_a_disk_that_fills_as_the_file_closes_fails_the_run_and_keeps_the_file_there(tmp_path, small_disk):
    # 25 flat frames go out as the first fragment; the 24 frames of noise make the last, 75 MB lossless,
    # written when the file closes, and the disk (65 MiB, past the 64 MiB asked for at the start) fills. FFmpeg
    # dropped the error of that last write: the run said "complete" and the short file replaced the one there.
    source = flat_then_noise(tmp_path / "in.mkv", 25, 24)
    disk = small_disk("disk", "65m")
    out = disk / "out.mp4"
    out.write_bytes(b"an earlier render")
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=str(source)),
                                                node("out", "VideoFileOutput", path=str(out), quality=0)],
                          [("src.frame", "out.frame")])
    result = run_cli("run", preset)
    assert result.returncode == 3, result.stderr
    partial = disk / "out.partial.mp4"
    assert (f"node 'out' (VideoFileOutput): {out}: closing it failed (No space left on device), so its end is missing; "
            f"{partial} holds") in result.stderr
    assert f"(the file already at {out} is left as it was)" in result.stderr
    assert out.read_bytes() == b"an earlier render"
    assert 25 <= count_frames(str(partial)) < 49



def fill(disk, files: bool):
    """Fill `disk` (a small tmpfs) up: its bytes, or the files it may hold (`files`)."""
    with contextlib.suppress(OSError):
        if files:
            for number in itertools.count():
                (disk / f"f{number}").touch()
        with open(disk / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()


@pytest.mark.parametrize("inodes", [None, 4], ids=["no bytes left: the lock's record", "no files left: mkstemp"])
def test_an_output_that_cannot_start_its_file_gives_its_lock_back(tmp_path, small_disk, inodes):
    # the lock stayed held by the process that was refused: the editor's next run into the same file was refused
    # as "another run (pid <the editor's own>) is writing this file now" until the editor was closed
    disk = small_disk("disk", "1m", inodes=inodes)
    target = disk / "out.mp4"
    (disk / ".out.mp4.lock").touch()  # left by a run killed before it wrote its record
    fill(disk, files=bool(inodes))
    with pytest.raises(InvalidInput, match=f"^out.mp4: cannot write into {disk}: No space left on device; free "
                                           "some space or choose another place$"):
        OutputFile(target, "out.mp4")
    assert not [p.name for p in disk.iterdir() if p.name.startswith(".")]  # no lock, no temporary file
    for filler in disk.iterdir():
        filler.unlink()
    again = OutputFile(target, "out.mp4")
    again.release(discard=True)
    assert list(disk.iterdir()) == []
