"""The futex wake-up between processes, on a word in real shared memory."""

import multiprocessing as mp
import sys
import time
from multiprocessing import shared_memory

import numpy as np
import pytest

from nodegraph import wakeup

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="futexes are Linux's")


def _wait_then_report(name: str, started, slept) -> None:
    shm = shared_memory.SharedMemory(name)
    word = np.ndarray((1,), np.int32, shm.buf)
    started.set()
    t0 = time.monotonic()
    wakeup.wait(word.ctypes.data, 0, 30.0)
    slept.put((time.monotonic() - t0, int(word[0])))
    del word
    shm.close()


@linux_only
def test_a_process_sleeping_on_a_word_wakes_when_another_changes_it_and_calls_wake():
    assert wakeup.SIGNALLED
    shm = shared_memory.SharedMemory(create=True, size=64)
    try:
        word = np.ndarray((1,), np.int32, shm.buf)
        word[0] = 0
        ctx = mp.get_context("spawn")
        started, slept = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_wait_then_report, args=(shm.name, started, slept))
        proc.start()
        assert started.wait(30)
        time.sleep(0.3)  # let it fall asleep in the futex
        word[0] = 1
        wakeup.wake(word.ctypes.data)
        took, seen = slept.get(timeout=10)  # a missed wake would sleep the full 30 s
        proc.join(10)
        assert took < 5 and seen == 1, (took, seen)  # it slept until the change, not past it
        del word
    finally:
        shm.close()
        shm.unlink()


def test_a_wait_on_a_word_that_already_changed_returns_at_once_and_one_without_a_wake_times_out():
    shm = shared_memory.SharedMemory(create=True, size=64)
    try:
        word = np.ndarray((1,), np.int32, shm.buf)
        word[0] = 7
        if wakeup.SIGNALLED:
            t0 = time.monotonic()
            wakeup.wait(word.ctypes.data, 6, 10.0)  # the caller saw 6: it changed since
            assert time.monotonic() - t0 < 1
        t0 = time.monotonic()
        wakeup.wait(word.ctypes.data, 7, 0.05)
        assert 0.04 < time.monotonic() - t0 < 2
        del word
    finally:
        shm.close()
        shm.unlink()
