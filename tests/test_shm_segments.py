"""Shared-memory segments as the system sees them: cleanup after killed runs, attaching, and /dev/shm's space."""

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli
from test_shm import linux_only, python

from nodegraph import shm
from nodegraph.shm import Ring, ShmSpaceError

_KILLED_RUN = textwrap.dedent(
    """
    import time
    from nodegraph import shm
    run = shm.new_run_id()
    rings = [shm.Ring.create(shm.segment_name(run, s), 4096) for s in ("a", "b")]
    print(run, flush=True)
    time.sleep(60)
    """
)


@linux_only
def test_cleanup_removes_what_a_killed_run_left_and_spares_live_runs(run_id):
    # the killed run's own resource tracker dies with it (same process group), as with `kill -9 -PGID`
    proc = python(_KILLED_RUN, stdout=subprocess.PIPE, start_new_session=True)
    try:
        dead_run = proc.stdout.readline().strip()
        dead = shm.segments(dead_run)
        assert len(dead) == 2
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    with Ring.create(shm.segment_name(run_id, "live"), 4096) as live:
        shm.cleanup()  # how many it removed is not asked: a run starting beside this test removes them too
        after = set(shm.segments())
        assert not set(dead) & after
        assert live.name in after  # a live run keeps its segments
        assert Ring.attach(live.name).slots == 4


@linux_only
def test_cleanup_of_a_named_run_removes_all_its_segments(run_id):
    rings = [Ring.create(shm.segment_name(run_id, s), 4096) for s in ("x", "y")]
    assert shm.segments(run_id) == sorted(r.name for r in rings)
    assert shm.cleanup(run_id) == 2
    assert shm.segments(run_id) == []
    for ring in rings:
        ring.unlink()  # already gone: harmless
        ring.close()


@linux_only
def test_cleanup_leaves_a_look_alike_whose_pid_no_process_can_have():
    # Another program's /dev/shm/ng<16 hex digits>_x made `nodegraph cleanup` die with an OverflowError traceback.
    stray = Path(shm.SHM_DIR) / f"ng{'f' * 16}_{os.getpid()}"
    stray.write_bytes(b"not ours")
    try:
        result = run_cli("cleanup")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert stray.read_bytes() == b"not ours"
    finally:
        stray.unlink()


@linux_only
def test_attaching_from_another_interpreter_leaves_the_segment_alone(run_id):
    with Ring.create(shm.segment_name(run_id, "t"), 4096) as ring:
        code = f"from nodegraph.shm import Ring; r = Ring.attach({ring.name!r}); print(r.slots); r.close()"
        proc = python(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out.strip()) == (0, "4"), err
        assert "leaked" not in err and "KeyError" not in err  # no resource-tracker complaints
        assert shm.segments(run_id) == [ring.name]  # its tracker did not unlink it at exit


@linux_only
def test_the_space_check_refuses_a_request_bigger_than_dev_shm():
    free = os.statvfs(shm.SHM_DIR).f_bavail * os.statvfs(shm.SHM_DIR).f_frsize
    with pytest.raises(ShmSpaceError, match="--shm-size") as info:
        shm.check_free_space(free + 2**40, "a test ring")
    assert isinstance(info.value, MemoryError)
    assert "a test ring needs" in str(info.value) and "free" in str(info.value)
    shm.check_free_space(4096)


@linux_only
def test_create_refuses_before_making_a_segment_when_space_is_short(run_id):
    with pytest.raises(ShmSpaceError, match="--shm-size"):
        Ring.create(shm.segment_name(run_id, "huge"), 2**50)
    assert shm.segments(run_id) == []
