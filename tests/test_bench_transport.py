"""`nodegraph bench transport` in a reduced form: it runs end to end, every frame reaches the ring's
reader intact (the bench raises otherwise), and nothing is left in shared memory. Its figures are not
checked here: a test machine's load decides them."""

import os
import sys

import pytest
from runtime_nodes import run_segments

from nodegraph.bench.transport import bench_transport


def test_the_transport_bench_reports_every_figure_and_leaves_no_segment():
    result = bench_transport(frames=20, rounds=2)
    assert result["frames"] == 20
    for key in ("memcpy_ms", "memcpy_rotating_ms", "shm_ms", "queue_ms", "shm_mean_ms", "queue_mean_ms"):
        assert result[key] > 0, key
    assert result["shm_over_memcpy"] == pytest.approx(result["shm_ms"] / result["memcpy_ms"], abs=0.01)
    if sys.platform.startswith("linux"):
        assert run_segments(os.getpid()) == []  # this process's runs only: other tests may run beside it
