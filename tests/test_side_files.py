"""Files written beside a run's outputs (`--stats-json`): never one that must be kept, found before the run."""

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, repo_env, run_cli
from test_cli import node, write_preset

from nodegraph.cli import main
from nodegraph.output_checks import lock_path


def null_preset(tmp_path):
    return write_preset(tmp_path / "p.json", [node("src", "TestPattern"), node("out", "NullOutput")],
                        [("src.frame", "out.frame")])


def refused(capsys, *args):
    """What `nodegraph ARGS` says when it refuses them (exit 2, before any frame)."""
    assert main([*map(str, args)]) == 2
    said = capsys.readouterr().err
    assert "done:" not in said
    return said


def stats_run(tmp_path, stats):
    """A real `nodegraph run` of 3 s (60 realtime frames at 20 fps) writing its stats to `stats`, started once
    its --stats-json is checked and held (its lock there, or 10 s where none is taken)."""
    preset = write_preset(tmp_path / "b.json", [node("src", "TestPattern", frames=60, fps=20.0, realtime=True),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    run = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "run", str(preset), "--stats-json", str(stats)],
                           cwd=tmp_path, env=repo_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    waited = threading.Event()
    for _ in range(200):
        if lock_path(stats).exists() or run.poll() is not None:
            break
        waited.wait(0.05)
    return run


def test_a_read_only_stats_file_is_refused_before_the_run_and_kept(tmp_path, capsys):
    kept = tmp_path / "ro.json"
    kept.write_text("kept\n")
    kept.chmod(0o444)
    said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", kept)
    assert (f"nodegraph: --stats-json {kept}: the file already there is read-only (mode 0444), so a run does not "
            "replace it: make it writable (chmod u+w)") in said
    assert kept.read_text() == "kept\n" and stat.S_IMODE(os.stat(kept).st_mode) == 0o444


def test_a_stats_path_that_is_a_link_to_nothing_is_refused_naming_both(tmp_path, capsys):
    link = tmp_path / "stats.json"
    link.symlink_to(tmp_path / "gone" / "stats.json")
    said = refused(capsys, "run", null_preset(tmp_path), "--frames", "1", "--stats-json", link)
    assert (f"--stats-json {link}: is a symbolic link to {tmp_path / 'gone' / 'stats.json'}, which does not exist; "
            "remove the link or give another file name") in said
    assert link.is_symlink()


def test_stats_json_never_lands_on_a_model_or_in_a_folder_the_run_reads(tmp_path):
    """The model is named relative to the preset (run from another folder) and a FolderSource reads a folder
    of pictures: neither the model nor a picture may be replaced by the stats."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "pictures").mkdir(parents=True)
    elsewhere.mkdir()
    model, picture = project / "restore.onnx", project / "pictures" / "a.png"
    model.write_bytes(b"the user's model")
    picture.write_bytes(b"the user's picture")
    preset = write_preset(project / "p.json",
                          [node("src", "FolderSource", path="pictures"), node("det", "FaceDetector"),
                           node("enhance", "FaceEnhancer", model="restore.onnx"),
                           node("out", "VideoFileOutput", path=str(tmp_path / "out.mp4"))],
                          [("src.frame", "det.frame"), ("src.frame", "enhance.frame"), ("det.faces", "enhance.faces"),
                           ("enhance.frame", "out.frame")])
    in_pictures = f"is in {project / 'pictures'}, a folder the run reads"
    for target, said in ((model, "is the input"), (picture, in_pictures),
                         (project / "pictures" / "s.json", in_pictures)):
        result = run_cli("run", preset, "--stats-json", target, cwd=elsewhere)
        assert result.returncode == 2 and f"--stats-json {target}" in result.stderr and said in result.stderr, \
            result.stderr
    assert model.read_bytes() == b"the user's model" and picture.read_bytes() == b"the user's picture"
    assert sorted(p.name for p in (project / "pictures").iterdir()) == ["a.png"]


def test_stats_json_never_lands_on_the_preset_an_input_an_output_or_its_lock(tmp_path, clip300):
    out = tmp_path / "out.mp4"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "VideoSource", path=clip300),
                           node("out", "VideoFileOutput", path=str(out))],
                          [("src.frame", "out.frame")])
    clip = Path(clip300)
    kept = {path: path.read_bytes() for path in (Path(preset), clip)}
    for target, said in ((preset, "is the input"), (clip, "is the input"), (out, "is also where an output goes"),
                         (tmp_path / ".out.mp4.lock", f"is the lock file of the output {out}")):
        result = run_cli("run", preset, "--frames", "5", "--stats-json", target, cwd=tmp_path)
        assert result.returncode == 2 and "--stats-json" in result.stderr and said in result.stderr, result.stderr
        assert not out.exists() and not (tmp_path / ".out.mp4.lock").exists()  # refused before the run
    assert all(path.read_bytes() == data for path, data in kept.items())
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (tmp_path / "stats.json").symlink_to(precious)
    result = run_cli("run", preset, "--frames", "5", "--stats-json", tmp_path / "stats.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert precious.read_text() == "keep me"  # the link was replaced by the stats, not written through
    assert not (tmp_path / "stats.json").is_symlink()
    assert json.loads((tmp_path / "stats.json").read_text())["frames"] == 5


def test_stats_json_named_as_a_picture_of_the_runs_folder_output_is_refused(tmp_path, capsys):
    """Written after the run, the stats replaced the picture frame_000000.png the same run had just written."""
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", frames=2, width=32, height=32),
                           node("seq", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                          [("src.frame", "seq.frame")])
    assert main(["run", str(preset), "--sequential"]) == 0
    capsys.readouterr()
    picture = tmp_path / "seq" / "frame_000000.png"
    kept = picture.read_bytes()
    said = refused(capsys, "run", preset, "--sequential", "--stats-json", picture)
    assert f"--stats-json {picture}: is named as a picture node 'seq' writes into {tmp_path / 'seq'}" in said
    assert picture.read_bytes() == kept
    assert main(["run", str(preset), "--sequential", "--stats-json", str(tmp_path / "seq" / "stats.json")]) == 0


def test_stats_json_named_as_a_file_the_run_keeps_beside_an_output_is_refused(tmp_path, capsys):
    """A run that failed kept its frames in v.partial.mp4; written after it, the stats replaced them."""
    pictures = tmp_path / "imgs"
    pictures.mkdir()
    for index in range(3):
        (pictures / f"p{index}.png").write_bytes(cv2.imencode(".png", np.full((32, 32, 3), 60 * index, np.uint8))[1])
    (pictures / "p1.png").write_bytes(b"not a picture")  # the run fails on frame 1, after writing frame 0
    video, folder = tmp_path / "v.mp4", tmp_path / "seq"
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "FolderSource", path=str(pictures), unreadable="stop"),
                           node("out", "VideoFileOutput", path=str(video)),
                           node("seq", "ImageSequenceOutput", path=str(folder))],
                          [("src.frame", "out.frame"), ("src.frame", "seq.frame")])
    video.write_bytes(b"an earlier cut")
    for name, said in (("v.partial.mp4", f"{video} keeps what it wrote when it does not complete (NAME.partial.EXT)"),
                       ("v.partial-2.mp4", "(NAME.partial.EXT)"),
                       (".v.k2x_9abc.partial.mp4", f"{video} writes it first (its temporary file)"),
                       ("seq.partial", f"{folder} keeps the pictures it wrote when it does not complete "
                                       "(NAME.partial)"),
                       (".seq.0123abcd4567.partial", "(its staging folder)")):
        said_now = refused(capsys, "run", preset, "--sequential", "--stats-json", tmp_path / name)
        assert f"--stats-json {tmp_path / name}: is where a run writing" in said_now and said in said_now, said_now
        assert "written after the run, it could replace that: choose another file" in said_now
    assert video.read_bytes() == b"an earlier cut"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "p.json", "v.mp4"]  # refused before the run
    assert main(["run", str(preset), "--sequential", "--stats-json", str(tmp_path / "v.partial.json")]) == 3
    assert cv2.VideoCapture(str(tmp_path / "v.partial.mp4")).read()[0]  # the partial is kept, with its frame
    assert json.loads((tmp_path / "v.partial.json").read_text())["frames"] == 1


def test_a_screenshot_named_as_a_picture_the_editors_run_writes_is_refused(tmp_path, capsys):
    """seq holds pictures, so the editor's run writes seq-1 (empty here): the screenshot, saved after the
    run, replaced its frame_000000.png."""
    preset = write_preset(tmp_path / "p.json",
                          [node("src", "TestPattern", frames=2, width=32, height=32),
                           node("seq", "ImageSequenceOutput", path=str(tmp_path / "seq"))],
                          [("src.frame", "seq.frame")])
    assert main(["run", str(preset), "--sequential"]) == 0
    (tmp_path / "seq-1").mkdir()
    capsys.readouterr()
    shot, layout = tmp_path / "seq-1" / "frame_000000.png", tmp_path / "seq-1" / "frame_000001.png"
    for args, flag, path in (([shot], "--screenshot", shot),
                             ([tmp_path / "shot.png", "--layout-json", layout], "--layout-json", layout)):
        said = refused(capsys, "edit", preset, "--run-frames", "2", "--screenshot", *args)
        assert (f"{flag} {path}: is named as a picture node 'seq' writes into {tmp_path / 'seq-1'} (frame_*.png)"
                in said), said
        assert (f"(the editor's run: seq.path: {tmp_path / 'seq'} holds frame_*.png already, so this run writes "
                f"{tmp_path / 'seq-1'}") in said
    assert list((tmp_path / "seq-1").iterdir()) == []


def fill(disk: Path) -> None:
    with open(disk / "ballast", "ab") as ballast:
        ballast.write(bytes(2**20 - 8192))
    while True:
        try:
            with open(disk / "ballast", "ab") as ballast:
                ballast.write(bytes(512))
        except OSError:
            break


def test_stats_json_that_cannot_be_written_fails_the_command(tmp_path, clip300, small_disk):
    # a full disk: the message was printed but the command exited 0, so a script took the run for measured.
    # Full before the run: refused at once, as an output there is (the stats file is held from the check)
    disk = small_disk("full", "1m")
    fill(disk)
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path=clip300),
                                                node("out", "NullOutput")], [("src.frame", "out.frame")])
    result = run_cli("run", preset, "--frames", "5", "--stats-json", disk / "stats.json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (f"nodegraph: --stats-json {disk / 'stats.json'}: cannot write into {disk}: No space left on device; "
            "free some space or choose another place") in result.stderr
    assert "done:" not in result.stderr and sorted(p.name for p in disk.iterdir()) == ["ballast"]
    # full once it ran: said after its summary, and neither the lock nor a part of the stats is left
    (disk / "ballast").unlink()
    run = stats_run(tmp_path, disk / "stats.json")
    try:
        fill(disk)
        _, said = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 2, said
    assert f"nodegraph: cannot write --stats-json {disk / 'stats.json'}: No space left on device" in said
    assert "done:" in said and sorted(p.name for p in disk.iterdir()) == ["ballast"]


def test_stats_json_into_a_pipe_or_a_device_is_written_into_never_replaced(tmp_path):
    # os.replace over /dev/null (as root) or a FIFO left a regular file where the stream was
    demo = REPO / "presets" / "demo.json"
    if os.geteuid() == 0:  # a null device of our own: a regression must not take the machine's /dev/null
        null = tmp_path / "null"
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        result = run_cli("run", demo, "--frames", "2", "--stats-json", null, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert stat.S_ISCHR(os.lstat(null).st_mode)
    fifo = tmp_path / "stats.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    result = run_cli("run", demo, "--frames", "2", "--stats-json", fifo, cwd=tmp_path)
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and json.loads(got[0])["frames"] == 2
    result = run_cli("run", demo, "--frames", "2", "--stats-json", fifo, cwd=tmp_path)  # nobody reads it now
    assert result.returncode == 2 and f"cannot write --stats-json {fifo}: a pipe that nobody reads" in result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_stats_json_to_stdout_redirected_to_a_file_goes_into_that_file(tmp_path):
    # /dev/stdout links to /proc/self/fd/1, which links to the file stdout goes to: the link was replaced
    # (as root, the machine's /dev/stdout) and the file got nothing. A link of our own stands in for it.
    stdout = tmp_path / "stdout"
    stdout.symlink_to("/proc/self/fd/1")
    captured = tmp_path / "captured.json"
    with open(captured, "w") as out:
        process = subprocess.run([sys.executable, "-m", "nodegraph.cli", "run", REPO / "presets" / "demo.json",
                                  "--frames", "2", "--stats-json", stdout], cwd=tmp_path, stdout=out,
                                 stderr=subprocess.PIPE, text=True, timeout=120,
                                 env=repo_env())
    assert process.returncode == 0, process.stderr
    assert stdout.is_symlink() and json.loads(captured.read_text())["frames"] == 2
    with socket.socket(socket.AF_UNIX) as listening:  # a socket cannot be opened as a file: refused up front
        listening.bind(str(tmp_path / "stats.sock"))
        result = run_cli("run", REPO / "presets" / "demo.json", "--stats-json", tmp_path / "stats.sock", cwd=tmp_path)
    assert result.returncode == 2 and "is a device or a socket, not a file" in result.stderr
    assert "done:" not in result.stderr


def test_stats_json_that_is_no_file_name_is_refused_before_the_run(tmp_path):
    demo = REPO / "presets" / "demo.json"
    too_long = tmp_path / ("s" * 300 + ".json")
    result = run_cli("run", demo, "--frames", "2", "--stats-json", too_long, cwd=tmp_path)
    assert result.returncode == 2 and f"--stats-json {too_long}: File name too long" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "done:" not in result.stderr
    disk = next((p for p in sorted(Path("/dev").iterdir()) if stat.S_ISBLK(os.stat(p).st_mode)), None)
    if disk is not None:  # a block device is a whole disk: never replaced, never written into
        result = run_cli("run", demo, "--frames", "2", "--stats-json", disk, cwd=tmp_path)
        assert result.returncode == 2 and f"--stats-json {disk}: is a device or a socket, not a file" in result.stderr
        assert stat.S_ISBLK(os.stat(disk).st_mode)


@pytest.mark.parametrize("engine", [[], ["--sequential"]])
def test_a_run_refused_at_set_up_writes_its_refusal_to_stats_json_over_an_old_one(tmp_path, engine):
    # a run refused once its stages set up (a media file that is no video) left the stats file of an earlier
    # run in place, and a script reading it took that for this run's
    (tmp_path / "bad.mp4").write_text("not a video\n")
    preset = write_preset(tmp_path / "p.json", [node("src", "VideoSource", path="bad.mp4"), node("out", "NullOutput")],
                          [("src.frame", "out.frame")])
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"frames": 300, "error": ""}))
    result = run_cli("run", preset, *engine, "--stats-json", stats)
    assert result.returncode == 2, result.stderr
    written = json.loads(stats.read_text())
    assert written["frames"] == 0 and not written["interrupted"]
    assert "bad.mp4: not a video" in written["error"] and written["error"] in result.stderr


def test_a_preset_that_does_not_load_writes_its_refusal_over_old_stats_only(tmp_path):
    # a broken preset or a bad --set left an earlier run's stats in place, taken for this run's by a script;
    # the graph is not there to check the path against, so only an earlier run's stats or no file is replaced
    preset = null_preset(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [')
    stats, other = tmp_path / "stats.json", tmp_path / "notes.json"
    other.write_text('{"frames": "my own notes"}')
    for args, said in (([broken], "broken.json"), ([preset, "--set", "src"], "NODE.PARAM=VALUE")):
        stats.write_text(json.dumps({"frames": 300, "interrupted": False, "error": ""}))
        result = run_cli("run", *args, "--stats-json", stats)
        assert result.returncode == 2 and said in result.stderr, result.stderr
        written = json.loads(stats.read_text())
        assert written["frames"] == 0 and said in written["error"] and written["error"] in result.stderr
        stats.unlink()
        assert run_cli("run", *args, "--stats-json", stats).returncode == 2
        assert said in json.loads(stats.read_text())["error"]
        assert run_cli("run", *args, "--stats-json", other).returncode == 2
        assert other.read_text() == '{"frames": "my own notes"}'  # not a run's stats: may be anybody's file

def test_a_folder_given_for_a_side_file_is_refused_with_a_name_of_its_kind(tmp_path, capsys):
    # `--screenshot FOLDER` was told to give a name such as FOLDER/stats.json, which --screenshot refuses next.
    demo = REPO / "presets" / "demo.json"
    said = refused(capsys, "edit", demo, "--screenshot", tmp_path)
    assert f"--screenshot {tmp_path}: is a folder; give a file name such as {tmp_path / 'shot.png'}" in said
    said = refused(capsys, "edit", demo, "--screenshot", tmp_path / "shot.png", "--layout-json", tmp_path)
    assert f"--layout-json {tmp_path}: is a folder; give a file name such as {tmp_path / 'layout.json'}" in said
    said = refused(capsys, "run", demo, "--stats-json", tmp_path)
    assert f"--stats-json {tmp_path}: is a folder; give a file name such as {tmp_path / 'stats.json'}" in said
