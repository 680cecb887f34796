"""SVT-AV1 (FFmpeg's libsvtav1), opened by root on Linux, makes the thread that opens it and every thread it starts
realtime ones (SCHED_FIFO, priority 99): its encoding then keeps the machine's other work off the cores, and a
busy wait of ours would never let go of its core. An encoder opened within `scheduling_kept()` leaves every
thread of the process scheduled as the opening thread was."""

from __future__ import annotations

import contextlib
import os
import sys

REALTIME = {getattr(os, "SCHED_FIFO", -1), getattr(os, "SCHED_RR", -1)}


def thread_policies() -> dict[int, int]:
    """Each thread of this process (Linux: /proc/self/task) and its scheduling policy."""
    policies = {}
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that just ended
            policies[int(task)] = os.sched_getscheduler(int(task))
    return policies


@contextlib.contextmanager
def scheduling_kept():
    if not sys.platform.startswith("linux"):
        yield
        return
    before, policy, param = thread_policies(), os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        for thread, now in thread_policies().items():
            if now in REALTIME and before.get(thread, policy) != now:
                with contextlib.suppress(OSError):
                    os.sched_setscheduler(thread, policy, param)
