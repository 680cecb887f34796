"""`nodegraph farm` as a command, in processes of its own where it starts its own Ray: bad inputs refused
before any task, Ctrl-C and SIGTERM at each point, a Ray that cannot start or is not installed."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from clips import write_clip
from conftest import REPO, repo_env
from test_farm import farm_cli, farm_preset

from nodegraph.cli import main


def scratch_folders() -> set[Path]:
    """The farm's scratch folders on this machine: the driver's chunks, and each worker's."""
    return set(Path(tempfile.gettempdir()).glob("nodegraph-farm-*"))


@pytest.mark.parametrize("stops", [(signal.SIGINT,), (signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
                         ids=["ctrl-c", "sigterm", "ctrl-c-twice"])
def test_ctrl_c_cancels_the_tasks_and_leaves_no_output(tmp_path, stops):
    # SIGTERM (a service manager's stop) met Ray's own handler: an abort with a stack dump, locks left behind.
    # A second Ctrl-C while it stopped cut the stopping short: exit 1 and no word, partial files and locks, Ray's
    # agents running on, and the chunks' scratch folders left in /tmp.
    clip = write_clip(tmp_path / "long.mp4", frames=300, codec="h264")
    env = repo_env()
    scratch = scratch_folders()
    farm = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "farm", str(farm_preset(tmp_path)), clip,
                             "--out", str(tmp_path / "farm"), "--chunk-seconds", "2", "--set", "src.realtime=true",
                             "--cpus", "2", "--progress"], stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        seen, deadline = b"", time.monotonic() + 60
        while b"frames" not in seen:  # the bar is up: the tasks are sent
            left = deadline - time.monotonic()
            assert left > 0 and select.select([farm.stderr], [], [], left)[0], f"no bar within 60 s: {seen}"
            chunk = os.read(farm.stderr.fileno(), 4096)
            assert chunk, f"the farm ended before its first frame: {seen}"
            seen += chunk
        for stop in stops:
            farm.send_signal(stop)
            time.sleep(0.3)
        _, err = farm.communicate(timeout=60)
    finally:
        farm.kill()  # a no-op once it ended; else it must not outlive a failed test
    assert farm.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert os.listdir(tmp_path / "farm") == []  # no output, no partial file, no lock
    assert scratch_folders() <= scratch
    deadline = time.monotonic() + 15
    while session_processes(farm.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_processes(farm.pid) == []


def test_bad_inputs_exit_2_before_any_task(tmp_path, capsys):
    preset = farm_preset(tmp_path)
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    for bad, said in ((tmp_path / "missing.mp4", "file not found"), (not_video, "not a video")):
        assert main(["farm", str(preset), str(bad), "--out", str(tmp_path / "farm")]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and said in err
    assert not (tmp_path / "farm").exists()  # refused before the outputs' folder was made
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    twin = tmp_path / "other"
    twin.mkdir()
    write_clip(twin / "clip.mp4", frames=10)
    assert main(["farm", str(preset), clip, str(twin / "clip.mp4"), "--out", str(tmp_path / "farm")]) == 2
    assert "would both be written" in capsys.readouterr().err
    assert main(["farm", str(preset), clip, "--out", str(tmp_path), "--set", "out.path=x.mp4"]) == 2
    assert "is the input" in capsys.readouterr().err  # DIR/clip.mp4 would be the input itself
    for flag in ("--warmup-frames", "--max-retries"):
        with pytest.raises(SystemExit) as refused:
            main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), flag, "-1"])
        assert refused.value.code == 2
        assert f"argument {flag}: must be 0 or more, got -1" in capsys.readouterr().err
    for seconds in ("0", "inf", "1e400", "nan"):  # inf was a traceback (OverflowError) once the chunks were cut
        with pytest.raises(SystemExit) as refused:
            main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--chunk-seconds", seconds])
        assert refused.value.code == 2
        assert "argument --chunk-seconds: must be a number of seconds more than 0" in capsys.readouterr().err
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "dangling")]) == 2
    assert f"is a link to {tmp_path / 'nowhere'}, which does not exist" in capsys.readouterr().err
    assert main(["farm", str(preset), clip, "--out", clip]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    (tmp_path / "taken" / "clip.mkv").mkdir(parents=True)  # a traceback once every chunk was rendered
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "taken")]) == 2
    assert f"{tmp_path / 'taken' / 'clip.mkv'} is a folder, where the output of {clip} goes" in capsys.readouterr().err
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--set", "src.start=5"]) == 2
    assert "src.start=0" in capsys.readouterr().err
    # the farm sets skip_first on each chunk (its warm-up): the preset's was dropped, and every frame written
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--set", "out.skip_first=10"]) == 2
    assert ("node 'out' (VideoFileOutput): skip_first is 10, and the farm would write those frames: set it to 0 "
            "(--set out.skip_first=0)") in capsys.readouterr().err
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--set", "adjust.brightness=999"]) == 2
    assert "param 'brightness': 999 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "farm").exists()  # the preset was checked before the outputs' folder was made
    before = Path(clip).read_bytes()
    (tmp_path / "farm").mkdir()  # as a folder of earlier outputs: --stats-json needs its folder to be there
    for stats, said in ((clip, "is the input"), (preset, "is the input"), (tmp_path / "farm" / "clip.mkv",
                                                                           "is also where an output goes")):
        assert main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--stats-json", str(stats)]) == 2
        err = capsys.readouterr().err
        assert f"--stats-json {stats}" in err and said in err
    assert Path(clip).read_bytes() == before


def test_a_local_ray_that_cannot_start_is_said_without_naming_address(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    not_a_folder = tmp_path / "ray_tmp"
    not_a_folder.write_text("Ray's temporary folder is a file")
    result = farm_cli(farm_preset(tmp_path), clip, "--out", tmp_path / "farm", RAY_TMPDIR=str(not_a_folder))
    assert result.returncode == 2, result.stderr
    assert "cannot start a local Ray on this machine" in result.stderr and str(not_a_folder) in result.stderr
    assert "--address:" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "farm").exists()  # made only once Ray runs


def test_without_ray_installed_the_command_says_how_to_get_it(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    code = ("import sys; sys.modules['ray'] = None\n"  # what Python does when ray is not installed
            "from nodegraph.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "farm", str(farm_preset(tmp_path)), clip, "--out",
                             str(tmp_path / "farm")], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    assert "pip install 'nodegraph[farm]'" in result.stderr
    assert not (tmp_path / "farm").exists()


def test_the_farm_bench_says_identical_frames_without_a_none_psnr(tmp_path):
    # every frame identical (one chunk): the line read "the others None dB PSNR at worst"
    from nodes.farm_bench import compare, summary

    clip = write_clip(tmp_path / "clip.avi", frames=12, codec="MJPG")
    same = compare(clip, clip)
    assert same == {"frames": 12, "identical": 12, "psnr_min_db": None, "psnr_mean_db": None}
    farm = {"cpus": 2, "render_s": 2.0, "chunks": 1, "join_s": 0.1, "ray_start_s": 3.0,
            "chunks_per_worker_process": [1]}
    text = summary({"frames": 12, "cores": 2, "load_average": [1.0, 1.0, 1.0], "run_s": 2.0, "farm": farm,
                    "farm_one_worker": farm, "overhead_vs_run": 0.0, "overhead_with_ray_start": 1.5,
                    "speedup_every_core_vs_one": 1.0, "farm_vs_run_frames": same})
    assert "12 of 12 identical" in text and "None" not in text


def session_processes(session: int) -> list[str]:
    """The command lines of the processes still in `session` (Linux /proc)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                found.append((stat_file.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


@pytest.mark.slow
def test_ctrl_c_while_the_local_ray_starts_leaves_no_ray_process_and_exits_130(tmp_path):
    # interrupted inside ray.init, Ray's dashboard and runtime-env agents outlived the command, and the
    # command sometimes ended in SIGSEGV
    clip = write_clip(tmp_path / "clip.mp4", frames=30, codec="h264")
    preset = farm_preset(tmp_path)
    env = repo_env()
    for delay in (1.5, 3.0):
        process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "farm", str(preset), str(clip), "--out",
                                    str(tmp_path / "farm_out")], cwd=tmp_path, env=env, start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, (delay, err)
        assert "(Ray start-up 0.0 s)" not in err  # said as long as it took, up to the Ctrl-C
        deadline = time.monotonic() + 15
        while session_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_processes(process.pid) == [], delay


def test_a_farm_plugin_for_the_old_join_is_refused_before_any_chunk(tmp_path):
    # join gained the output's name as its last argument: a plugin written before rendered every chunk, then
    # failed at the join with a TypeError, and the render was lost
    site = tmp_path / "site"
    (site / "old_farm-1.0.dist-info").mkdir(parents=True)
    (site / "old_farm-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: old-farm\nVersion: 1.0\n")
    (site / "old_farm-1.0.dist-info" / "entry_points.txt").write_text("[nodegraph.farm]\naaa_old = old_farm\n")
    (site / "old_farm.py").write_text(
        "from nodes.farm_video import claim, output_extension, probe, set_chunk, join as video_join\n\n\n"
        "def join(chunks, target, extension, graph, output_id, input_path):\n"
        "    return video_join(chunks, target, extension, graph, output_id, input_path, target)\n")
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    result = farm_cli(farm_preset(tmp_path), clip, "--out", tmp_path / "farm", PYTHONPATH=str(site))
    assert result.returncode == 2, result.stderr
    assert ("farm plugin 'aaa_old' (old_farm): its join(chunks, target, extension, graph, output_id, input_path) "
            "cannot be called as join(chunk paths, target, extension, graph, output id, input path, name); update "
            "the node package that provides it") in result.stderr
    assert not (tmp_path / "farm").exists()  # refused before Ray started and the outputs' folder was made


def test_every_refusal_is_said_at_once_before_ray_starts(tmp_path, capsys):
    # a bad --stats-json stopped the farm alone, then a bad --set, then the preset's problems: one per try
    preset = farm_preset(tmp_path)
    (tmp_path / "stats").mkdir()
    missing = tmp_path / "missing.mp4"
    assert main(["farm", str(preset), str(missing), "--out", str(tmp_path / "farm"), "--stats-json",
                 str(tmp_path / "stats"), "--set", "adjust.brightness=999", "--set", "ghost.size=1"]) == 2
    err = capsys.readouterr().err
    assert f"--stats-json {tmp_path / 'stats'}: is a folder" in err, err
    assert "param 'brightness': 999 is out of range" in err and "ghost" in err, err
    assert str(missing) in err and "file not found" in err, err
    assert not (tmp_path / "farm").exists()


def test_a_refused_farm_writes_its_refusal_to_stats_json_as_run_does(tmp_path, capsys):
    # a refused farm left --stats-json as it was: an earlier farm's stats passed for this one's, or none was there
    preset, clip = farm_preset(tmp_path), write_clip(tmp_path / "clip.mp4", frames=10)
    (tmp_path / "bad.mp4").write_text("not a video\n")
    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [')
    stats = tmp_path / "stats.json"
    for args, said in (([broken, clip], "broken.json"), ([preset, clip, "--set", "adjust.brightness=999"], "999"),
                       ([preset, tmp_path / "bad.mp4"], "bad.mp4")):
        stats.write_text('{"frames": 300, "interrupted": false, "error": ""}')
        assert main(["farm", *map(str, args), "--out", str(tmp_path / "farm"), "--stats-json", str(stats)]) == 2
        err = capsys.readouterr().err
        written = json.loads(stats.read_text())
        assert written["frames"] == 0 and said in written["error"] and written["error"] in err, (written, err)
    (tmp_path / "farm").mkdir()
    target = tmp_path / "farm" / "clip.mkv"  # where the output goes: refused, and nothing written there
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--stats-json", str(target),
                 "--set", "adjust.brightness=999"]) == 2
    assert "is also where an output goes" in capsys.readouterr().err and not target.exists()
