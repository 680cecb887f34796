"""`nodegraph bench transport` in a reduced form: it runs end to end, every frame reaches the ring's
reader intact (the bench raises otherwise), and nothing is left in shared memory. Its figures are not
checked here: a test machine's load decides them. A Ctrl-C stops it as it stops a run."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import repo_env
from runtime_nodes import run_segments, stage_pids

from nodegraph.bench.transport import bench_transport, summary


def test_the_transport_bench_reports_every_figure_and_leaves_no_segment():
    result = bench_transport(frames=20, rounds=2)
    assert result["frames"] == 20
    for key in ("memcpy_ms", "memcpy_rotating_ms", "shm_ms", "queue_ms", "shm_mean_ms", "queue_mean_ms"):
        assert result[key] > 0, key
    assert result["shm_over_memcpy"] == pytest.approx(result["shm_ms"] / result["memcpy_ms"], abs=0.01)
    # the ratios measured in the same run, as the README gives them (the text printed none)
    assert (f"the ring takes {result['shm_over_memcpy']:.2f}x a memcpy's time; the queue "
            f"{result['queue_over_shm']:.1f}x the ring's") in summary(result)
    if sys.platform.startswith("linux"):
        assert run_segments(os.getpid()) == []  # this process's runs only: other tests may run beside it


def test_a_short_transport_bench_times_the_queue_past_its_fill_as_it_does_the_ring():
    # `--frames 5` timed the queue on 5 frames, all within its 4-frame window, whose put() returns at once:
    # "multiprocessing.Queue 0.005 ms ... the queue 0.0x the ring's", beside "median of 45" (the ring's count)
    result = bench_transport(frames=5)
    assert result["frames"] == 45
    assert result["queue_ms"] > result["memcpy_ms"], result  # it pickles and pipes the frame: a copy at least


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("reader", ["ring", "queue"])
def test_a_ctrl_c_stops_the_bench_at_once_with_130_and_no_traceback(tmp_path, reader):
    # In the queue's part the command said "interrupted" and never exited: the queue's feeder thread sat
    # writing a frame that the stopped reader would not read. Each reader printed its own traceback.
    process = subprocess.Popen([sys.executable, "-m", "nodegraph.cli", "bench", "transport", "--frames", "300"],
                               cwd=tmp_path, env=repo_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        deadline, first = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            readers = stage_pids(process.pid)
            first = first or (readers[0] if readers else None)
            if readers and (reader == "ring" or readers[0] != first):
                break
            time.sleep(0.01)
        time.sleep(0 if reader == "ring" else 0.5)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    assert stage_pids(process.pid) == [] and run_segments(process.pid) == []
