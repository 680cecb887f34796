"""`nodegraph farm` on a real local Ray (ray.init(num_cpus=2)): chunks cut, rendered by real Ray workers,
joined by remuxing, compared with `nodegraph run`; a Ray worker killed mid-chunk (the command in a process of its
own: test_farm_command.py)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import cv2
import pytest
import ray
from clips import flat_then_noise, frame_index, indexed_frame, read_frames, size_changing_clip, write_clip
from conftest import repo_env, run_cli
from spoilt_files import ffv1_clip, flipped_in_packet
from swap_models import dfm_model
from test_cli import node, write_preset
from test_outputs import clip_with_audio, probe
from test_video_timing import VFR_TIMES, shown_ms, vfr_clip

from nodegraph import preset as presets
from nodegraph.cli import main
from nodegraph.farm.cutting import plan_chunks
from nodegraph.farm.run import run_farm
from nodes import farm_video
from nodes.outputs import SYNTHETIC_TAG
from nodes.video_io import VideoWriter
from nodes.video_read import VideoReader


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module; `nodegraph farm` run in this process joins it instead of starting its own."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def farm_preset(tmp_path, codec="ffv1", ext=".mkv", **source):
    """A cheap chain with a filter whose output depends on every pixel: source -> median blur -> file."""
    return write_preset(tmp_path / "farm.json", [
        node("src", "VideoSource", path="unused.mp4", **source),
        node("adjust", "FrameAdjuster", median_blur=3, brightness=10),
        node("out", "VideoFileOutput", path=f"out/result{ext}", codec=codec)],
        [("src.frame", "adjust.frame"), ("adjust.frame", "out.frame")])


def indices(path) -> list[int]:
    return [frame_index(frame) for frame in read_frames(path)]


def assert_no_board_alive():
    """The runs' progress boards (actors) went with them (Ray's state API needs the dashboard, which this Ray
    lacks: its GCS table is read instead)."""
    boards = [a for a in ray._private.state.actors().values() if a["ActorClassName"] == "ChunkBoard"]
    assert boards and all(a["State"] == "DEAD" for a in boards), boards


def test_600_frames_in_4_chunks_match_nodegraph_run_lossless(tmp_path, local_ray):
    clip = write_clip(tmp_path / "clip.mkv", frames=600, codec="ffv1")
    preset = farm_preset(tmp_path)
    stats, kept = tmp_path / "stats.json", tmp_path / "kept.json"
    kept.write_text("a file the stats path links to")
    stats.symlink_to(kept)  # replaced, never written through
    code = main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--chunk-seconds", "5",
                 "--warmup-frames", "10", "--stats-json", str(stats), "--no-progress"])
    assert code == 0
    assert kept.read_text() == "a file the stats path links to" and not stats.is_symlink()
    farmed = read_frames(tmp_path / "farm" / "clip.mkv")
    assert [frame_index(f) for f in farmed] == list(range(600))
    record = json.loads(stats.read_text())
    chunks = record["inputs"][0]["chunks"]
    assert [(c["first"], c["frames"], c["warmup"]) for c in chunks] == [(0, 150, 0), (150, 150, 10),
                                                                       (300, 150, 10), (450, 150, 10)]
    assert all(c["ip"] and c["pid"] and c["tries"] == 1 and c["seconds"] > 0 for c in chunks)

    reference = tmp_path / "run.mkv"
    result = run_cli("run", preset, "--mode", "lossless", "--set", f"src.path={clip}", "--set",
                     f"out.path={reference}")
    assert result.returncode == 0, result.stderr
    expected = read_frames(reference)
    assert len(expected) == 600
    joins = {c["first"] + d for c in chunks[1:] for d in (-1, 0)}
    for i, (got, want) in enumerate(zip(farmed, expected, strict=True)):
        if i in joins:
            assert cv2.PSNR(got, want) >= 40.0, i
        else:
            assert (got == want).all(), i


def test_a_damaged_packet_mid_file_is_skipped_as_run_skips_it(tmp_path, local_ray, capsys):
    # the chunk came back frames short and failed its input, where `nodegraph run` writes the rest: the driver
    # counts the packets, and decodes only the last group of pictures (here the damage is in an earlier one)
    write_clip(tmp_path / "clip.mp4", frames=100, codec="h264", gop=10)  # PyAV's own x264: the same bytes everywhere
    data = bytearray((tmp_path / "clip.mp4").read_bytes())
    third = len(data) // 3
    data[third:third + 2000] = bytes(range(256)) * 7 + bytes(208)
    (tmp_path / "damaged.mp4").write_bytes(data)
    code = main(["farm", str(farm_preset(tmp_path)), str(tmp_path / "damaged.mp4"), "--out", str(tmp_path / "farm"),
                 "--chunk-seconds", "1", "--no-progress"])
    said = capsys.readouterr()
    err = said.err
    assert code == 0, err
    missing = 100 - len(read_frames(tmp_path / "farm" / "damaged.mkv"))
    assert 0 < missing <= 20
    assert f"damaged.mkv: {100 - missing} frames" in said.out  # what the file holds, not the input's count
    assert f"{tmp_path / 'damaged.mp4'}: {missing} frames could not be decoded (damaged packets)" in err
    reference = tmp_path / "run.mkv"
    result = run_cli("run", farm_preset(tmp_path), "--set", f"src.path={tmp_path / 'damaged.mp4'}", "--set",
                     f"out.path={reference}")
    assert result.returncode == 0, result.stderr
    # a chunk decodes from its own start: a frame that needs the damaged one may decode there, or not
    assert abs(len(read_frames(reference)) - (100 - missing)) <= 2, missing


def test_an_ffv1_frame_refused_by_its_checksums_is_skipped_as_run_skips_it(tmp_path, local_ray):
    # the probe counted it, so the chunk holding it read the next chunk's first frame too: frame 20 came out twice
    damaged = flipped_in_packet(ffv1_clip(tmp_path / "clip.mkv"), 12)
    code = main(["farm", str(farm_preset(tmp_path)), damaged, "--out", str(tmp_path / "farm"),
                 "--chunk-seconds", "0.34", "--warmup-frames", "2", "--no-progress"])
    assert code == 0
    assert indices(tmp_path / "farm" / Path(damaged).name) == [index for index in range(40) if index != 12]


def test_the_stats_can_go_into_the_out_folder_the_farm_makes(tmp_path, local_ray):
    # refused: "the folder ... does not exist", though the farm makes --out itself
    clip = write_clip(tmp_path / "clip.mp4", frames=10, codec="h264")
    out = tmp_path / "new" / "farm"
    assert main(["farm", str(farm_preset(tmp_path)), clip, "--out", str(out), "--stats-json",
                 str(out / "stats.json"), "--no-progress"]) == 0
    assert json.loads((out / "stats.json").read_text())["inputs"][0]["frames"] == 10


def test_a_variable_frame_rate_keeps_its_timing_across_the_chunks(tmp_path, local_ray):
    # each chunk begins where its first frame is in the input, not where frames at one rate would put it
    clip = vfr_clip(tmp_path / "vfr.mkv", VFR_TIMES)
    code = main(["farm", str(farm_preset(tmp_path)), str(clip), "--out", str(tmp_path / "farm"), "--chunk-seconds",
                 "1", "--warmup-frames", "3", "--no-progress"])
    assert code == 0
    shown = shown_ms(tmp_path / "farm" / "vfr.mkv")
    assert [i for i, _ in shown] == list(range(70))
    assert all(abs(t - VFR_TIMES[i]) <= 1 for i, t in shown), shown  # to the source's own precision


def test_a_codec_with_b_frames_joins_without_a_gap_between_chunks(tmp_path, local_ray):
    # with B-frames (x264 `veryfast`) each chunk's first frame is shown two frames in: the join put every
    # chunk one frame late, a frame's gap every chunk and the video drifting from the audio
    clip = write_clip(tmp_path / "clip.mp4", frames=90, codec="h264")
    code = main(["farm", str(farm_preset(tmp_path, codec="h264", ext=".mp4")), clip, "--out", str(tmp_path / "farm"),
                 "--chunk-seconds", "1", "--warmup-frames", "3", "--set", "out.speed=veryfast", "--no-progress"])
    assert code == 0
    shown = shown_ms(tmp_path / "farm" / "clip.mp4")
    assert [i for i, _ in shown] == list(range(90))
    assert all(abs(b - a - 1000 / 30) <= 1 for (_, a), (_, b) in pairwise(shown)), shown


def test_chunks_are_even_cover_every_frame_once_and_warm_up_only_where_there_is_a_past():
    for total, fps, seconds in ((600, 30.0, 5.0), (1, 30.0, 30.0), (901, 29.97, 30.0), (100, 25.0, 1.3)):
        chunks = plan_chunks(0, total, fps, seconds, warmup=30)
        assert [c.index for c in chunks] == list(range(len(chunks)))
        assert chunks[0].first == 0 and chunks[0].warmup == 0
        assert all(a.first + a.frames == b.first for a, b in pairwise(chunks))  # no gap, no overlap
        assert chunks[-1].first + chunks[-1].frames == total
        assert max(c.frames for c in chunks) - min(c.frames for c in chunks) <= 1
        assert all(c.warmup == min(30, c.first) for c in chunks)
    assert len(plan_chunks(0, 901, 29.97, 30.0, 30)) == 1  # 30.06 s: no 1-frame chunk at the end
    assert [c.frames for c in plan_chunks(0, 90, 30.0, 1e308, 30)] == [90]  # an OverflowError once


def test_a_chunk_seeks_to_its_first_frame_by_timestamp_exactly(tmp_path):
    """The timestamps the driver's probe hands to each task find the same frames as counting from the start,
    with B-frames (pictures stored out of order), where a seek by decoding time lands a keyframe too late."""
    path = str(tmp_path / "bframes.mp4")
    writer = VideoWriter(path, ".mp4", "h264", 30.0, 23, "medium", False, None, None, path)
    for i in range(90):
        writer.write(indexed_frame(i))
    writer.close()
    frames, _, times = farm_video.probe(path)
    assert frames == len(times) == 90
    for start in (0, 1, 28, 29, 30, 31, 59, 77, 89):  # 28, 29, 59: shown before a keyframe, decoded after it
        for start_pts in (times[start], None):  # handed over by the driver, or found by the reader
            reader = VideoReader(path, start, start_pts)
            assert [frame_index(image) for image, _ in iter(reader.read, None)] == list(range(start, 90))
            reader.close()


def test_a_killed_ray_worker_is_retried_and_the_file_is_complete(tmp_path, local_ray):
    clip = write_clip(tmp_path / "paced.mp4", frames=120, fps=30, codec="h264")
    graph = presets.load(farm_preset(tmp_path, codec="h264", ext=".mp4", realtime=True))  # 2 s a chunk
    killed = []

    def kill_first_chunk(board):  # mid-chunk: seen past frame 10 of its 60 (a chunk that ended is never killed)
        state = board.get("0:0")
        if not killed and state and 10 <= state["frames"] < 60:
            os.kill(state["pid"], signal.SIGKILL)
            killed.append(state["pid"])

    report = run_farm(graph, [clip], str(tmp_path / "farm"), chunk_seconds=2.0, warmup=5, watch=kill_first_chunk)
    assert killed, "the first chunk was never seen mid-run, so no worker was killed"
    assert indices(tmp_path / "farm" / "paced.mp4") == list(range(120))
    first = report.to_json()["inputs"][0]["chunks"][0]
    assert first["tries"] == 2 and first["pid"] != killed[0]
    assert not list(Path(tempfile.gettempdir()).glob(f"nodegraph-farm-{killed[0]}-*"))  # its scratch folder went


def test_a_board_restarted_mid_run_forgets_neither_the_retry_nor_the_chunks_it_was_told_of(tmp_path, local_ray):
    clip = write_clip(tmp_path / "paced.mp4", frames=120, fps=30, codec="h264")
    graph = presets.load(farm_preset(tmp_path, codec="h264", ext=".mp4", realtime=True))  # 2 s a chunk
    killed = []  # the first chunk's worker, then the board's process

    def kill_a_worker_then_the_board(board):
        state = board.get("0:0")
        if not killed and state and 10 <= state["frames"] < 60:
            os.kill(state["pid"], signal.SIGKILL)
            killed.append(state["pid"])
        elif len(killed) == 1 and state["tries"] == 2:  # the retry told the board, which is now lost
            [alive] = [a for a in ray._private.state.actors().values()
                       if a["ActorClassName"] == "ChunkBoard" and a["State"] == "ALIVE"]
            os.kill(alive["Pid"], signal.SIGKILL)  # Ray restarts it, empty
            killed.append(alive["Pid"])

    report = run_farm(graph, [clip], str(tmp_path / "farm"), chunk_seconds=2.0, warmup=5,
                      watch=kill_a_worker_then_the_board)
    assert len(killed) == 2, "the first chunk, or its retry, was never seen mid-run"
    assert indices(tmp_path / "farm" / "paced.mp4") == list(range(120))
    chunks = report.to_json()["inputs"][0]["chunks"]
    assert chunks[0]["tries"] == 2 and chunks[0]["pid"] not in killed
    assert all(c["ip"] and c["node"] and c["pid"] for c in chunks)


def test_a_chunk_lost_more_often_than_max_retries_fails_the_run_and_writes_nothing(tmp_path, local_ray):
    clip = write_clip(tmp_path / "paced.mp4", frames=60, fps=30, codec="h264")
    graph = presets.load(farm_preset(tmp_path, codec="h264", ext=".mp4", realtime=True))
    killed = []

    def kill_every_chunk(board):  # mid-chunk: seen past frame 5 of the clip's 60 (one that ended is never killed)
        for state in board.values():
            if 5 <= state["frames"] < 60:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state["pid"], signal.SIGKILL)
                    killed.append(state["pid"])

    report = run_farm(graph, [clip], str(tmp_path / "farm"), chunk_seconds=2.0, max_retries=0,
                      watch=kill_every_chunk)
    assert killed, "no chunk was seen mid-run, so no worker was killed"
    assert "--max-retries" in report.error  # returned, so `farm` writes --stats-json and exits 3
    assert report.summary_line().startswith("failed: 0 of 1 input,")
    assert os.listdir(tmp_path / "farm") == []
    assert_no_board_alive()


@pytest.mark.slow
def test_a_disk_that_fills_during_the_join_fails_the_run_and_keeps_the_file_there(tmp_path, local_ray,
                                                                                 small_disk):
    # the joined file's last fragment (24 frames of noise, 75 MB lossless) fills the 65 MiB disk as it closes:
    # FFmpeg dropped that write's error, and the short file replaced the one there with "done", exit 0
    clip = flat_then_noise(tmp_path / "in.mkv", 25, 24)
    out = small_disk("farm", "65m")
    (out / "in.mp4").write_bytes(b"an earlier render")
    graph = presets.load(write_preset(tmp_path / "p.json", [
        node("src", "VideoSource", path="unused.mkv"),
        node("out", "VideoFileOutput", path="out/result.mp4", quality=0)], [("src.frame", "out.frame")]))
    report = run_farm(graph, [str(clip)], str(out), chunk_seconds=1.0)
    assert report.error == f"{out / 'in.mp4'}: joining the chunks failed: No space left on device"
    assert (out / "in.mp4").read_bytes() == b"an earlier render"
    assert sorted(p.name for p in out.iterdir()) == ["in.mp4"]  # no temporary file, no lock left


def test_a_ctrl_c_after_the_last_join_is_not_an_interruption(tmp_path, local_ray):
    clip = write_clip(tmp_path / "clip.mp4", frames=30, codec="h264")
    graph = presets.load(farm_preset(tmp_path, codec="h264", ext=".mp4"))
    output = tmp_path / "farm" / "clip.mp4"

    def ctrl_c_once_written(board):
        if output.exists():
            raise KeyboardInterrupt  # as Python raises it on SIGINT, here while the run winds down

    try:
        report = run_farm(graph, [clip], str(tmp_path / "farm"), watch=ctrl_c_once_written)
    except KeyboardInterrupt:
        pytest.fail("a Ctrl-C after every output was whole was taken for an interruption")
    assert not report.interrupted and "so they are complete" in report.summary_line()
    assert indices(output) == list(range(30))


def test_two_inputs_at_once_keep_audio_and_tag(tmp_path, local_ray):
    voiced = clip_with_audio(tmp_path / "voiced.mp4", frames=90, fps=30)
    plain = write_clip(tmp_path / "plain.mp4", frames=45, codec="h264")
    preset = farm_preset(tmp_path, codec="h264", ext=".mp4")
    code = main(["farm", str(preset), str(voiced), plain, "--out", str(tmp_path / "farm"), "--chunk-seconds", "1",
                 "--no-progress"])
    assert code == 0
    assert indices(tmp_path / "farm" / "voiced.mp4") == list(range(90))
    assert indices(tmp_path / "farm" / "plain.mp4") == list(range(45))
    voiced_out = probe(tmp_path / "farm" / "voiced.mp4")
    assert voiced_out["comment"] == SYNTHETIC_TAG
    assert voiced_out["audio_seconds"] == pytest.approx(3.0, abs=0.1)
    assert sorted(os.listdir(tmp_path / "farm")) == ["plain.mp4", "voiced.mp4"]  # no lock, no partial left


def test_a_chunk_given_two_cores_runs_in_the_multiprocess_runtime(tmp_path, local_ray):
    clip = write_clip(tmp_path / "clip.mp4", frames=60, codec="h264")
    graph = presets.load(farm_preset(tmp_path, codec="h264", ext=".mp4"))
    report = run_farm(graph, [clip], str(tmp_path / "farm"), chunk_seconds=1.0, warmup=5, cpus_per_task=2)
    assert indices(tmp_path / "farm" / "clip.mp4") == list(range(60))
    assert [c["tries"] for c in report.to_json()["inputs"][0]["chunks"]] == [1, 1]
    assert_no_board_alive()


def test_a_worker_without_the_model_names_it_and_fails_with_exit_2(tmp_path, local_ray, monkeypatch, capsys):
    """The model is in a folder only this driver knows (NODEGRAPH_MODELS set after Ray's workers took their
    environment), as when a model was copied to the head machine and not to the workers."""
    folder = tmp_path / "driver_models"
    folder.mkdir()
    dfm_model(folder / "standin_farm.dfm", res=64)  # a stand-in with the real tensor names: no real .dfm here
    monkeypatch.setenv("NODEGRAPH_MODELS", str(folder))
    preset = write_preset(tmp_path / "dfm.json", [
        node("src", "VideoSource", path="unused.mp4"), node("detector", "FaceDetector"),
        node("swap", "DFMSwapper", model="standin_farm.dfm"), node("out", "VideoFileOutput", path="out.mp4")],
        [("src.frame", "detector.frame"), ("src.frame", "swap.frame"), ("detector.faces", "swap.faces"),
         ("src.frame", "out.frame")])
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    assert main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "worker " in err and "node 'swap' (DFMSwapper), model 'standin_farm.dfm'" in err and "not found" in err
    assert os.listdir(tmp_path / "farm") == []


def farm_cli(*args, timeout=60, **env) -> subprocess.CompletedProcess:
    """`nodegraph farm ARGS` in a process of its own (`env`: more environment), which must end within
    `timeout` seconds."""
    return subprocess.run([sys.executable, "-m", "nodegraph.cli", "farm", *map(str, args)], capture_output=True,
                          text=True, env=repo_env(env), timeout=timeout)


def test_more_cpus_per_task_than_any_node_has_is_refused_not_waited_for(tmp_path, local_ray):
    """Ray would wait forever for a node with that many CPUs; a process of its own so the old hang fails."""
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    preset = farm_preset(tmp_path)
    local = farm_cli(preset, clip, "--out", tmp_path / "farm", "--cpus", "2", "--cpus-per-task", "3")
    assert local.returncode == 2, local.stderr
    assert "--cpus-per-task 3: the most CPUs a Ray node has is 2 (--cpus 2)" in local.stderr
    assert not (tmp_path / "farm").exists()  # refused before Ray started or anything was made
    address = ray.get_runtime_context().gcs_address  # the local_ray of 2 CPUs, joined as a cluster
    joined = farm_cli(preset, clip, "--out", tmp_path / "farm", "--address", address, "--cpus-per-task", "3")
    assert joined.returncode == 2, joined.stderr
    assert f"--cpus-per-task 3: the most CPUs a Ray node has is 2 (the cluster at {address})" in joined.stderr
    assert not (tmp_path / "farm").exists()


def test_a_clip_whose_size_changes_mid_way_is_joined_at_its_first_size_as_run_writes_it(tmp_path, local_ray):
    # a chunk that started after the change took the second size as its own, and the join put its pictures
    # into the first size's stream: exit 0, "60 frames", and its last chunk decoded as garbage
    clip = size_changing_clip(tmp_path / "clip.ts", [(160, 120), (120, 160)], frames=30)
    preset = farm_preset(tmp_path, codec="h264", ext=".mp4")
    code = main(["farm", str(preset), clip, "--out", str(tmp_path / "farm"), "--chunk-seconds", "0.5",
                 "--warmup-frames", "3", "--no-progress"])
    assert code == 0
    reference = tmp_path / "run.mp4"
    result = run_cli("run", preset, "--set", f"src.path={clip}", "--set", f"out.path={reference}")
    assert result.returncode == 0, result.stderr
    farmed, expected = read_frames(tmp_path / "farm" / "clip.mp4"), read_frames(reference)
    assert len(farmed) == len(expected) == 60
    assert all(frame.shape == (120, 160, 3) for frame in farmed)
    assert min(cv2.PSNR(got, want) for got, want in zip(farmed, expected, strict=True)) >= 30.0
