"""Leaks: a paced TestPattern run for 25 s in the multiprocess runtime (supervisor and three stage
processes, previews polled as the editor does) keeps memory, file descriptors and shared-memory segments
flat from the end of its 10 s warm-up on. `scripts/soak.py --minutes N` is the long version."""

import json
import subprocess
import sys

import pytest
from conftest import REPO
from runtime_nodes import run_segments

SECONDS = 25


@pytest.mark.slow
def test_realtime_frames_leak_no_memory_descriptors_or_segments():
    process = subprocess.Popen([sys.executable, str(REPO / "scripts" / "soak.py"), "--seconds", str(SECONDS),
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=SECONDS + 90)
    assert process.returncode == 0, stdout + stderr
    figures = json.loads(stdout)
    assert not figures["run_error"] and not figures["failure"], figures
    assert figures["seconds"] >= SECONDS - 3 and figures["processes"] == 4
    assert figures["frames"] >= 0.5 * figures["target_fps"] * SECONDS, figures  # frames kept flowing
    assert figures["rss_growth_pct"] < 5.0, figures
    fds = figures["fds"]
    assert fds["max"] == fds["after_warmup"] == fds["end"], fds
    supervisor = figures["supervisor_fds"]
    assert supervisor["runtime_dropped"] == supervisor["before_run"], supervisor
    segments = figures["segments"]
    assert segments["max"] == segments["after_warmup"] == segments["end"] > 0, segments
    assert segments["after_run"] == 0 and run_segments(process.pid) == []
