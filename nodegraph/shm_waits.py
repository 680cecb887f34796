"""How a process waits on a ring: on a futex word (`wakeup`) or polling, and, where allowed, spinning
first."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

# Where `wakeup` has futexes, a wait sleeps until its word changes, looking again at least every
# SIGNALLED_WAIT in case a process died before waking it. Elsewhere waits poll with a sleep
# that doubles from MIN_SLEEP up to MAX_SLEEP: a waiting process costs well under 1% of a
# core, and a packet waits at most ~1 ms for a sleeping reader.
SIGNALLED_WAIT = 0.01
MIN_SLEEP = 50e-6
MAX_SLEEP = 1e-3

# Spinning (see `allow_spinning`): a wait on a Ring first spins up to SPIN_S, when the last wait on
# that Ring object that had to wait ended within that time; a lossless writer of packets of WARM_BYTES
# or more waits up to WARM_S for the slot it wrote last, unless readers missed that WARM_MISSES times
# in a row (then it tries again every WARM_RETRY packets). A yield that takes over _LATE_YIELD gave
# the core to another process for a time slice (3-5 ms measured; the host's own hiccups on an idle
# core stay under 0.2 ms): the core is contended, and a spinner there is woken later than a sleeper,
# so the process stops spinning for _CONTENDED_PAUSE. Spins are timed with perf_counter: Windows'
# monotonic clock ticks every 15.6 ms before Python 3.13.
SPIN_S = 1e-3
WARM_S = 100e-6
WARM_BYTES = 1 << 20
WARM_MISSES = 3
WARM_RETRY = 16
_LATE_YIELD = 1e-3
_CONTENDED_PAUSE = 0.1
_spinning = False
_spin_paused_until = 0.0  # perf_counter time
_yield = os.sched_yield if hasattr(os, "sched_yield") else lambda: time.sleep(0)


def allow_spinning(allowed: bool) -> bool:
    """Let this process's ring waits spin before they sleep (off by default).

    For a process that has a core to itself: a packet that comes while its reader spins is taken at
    once, where a sleeping reader wakes ~0.1 ms later, and a core that slept comes back slow (on a
    2-vCPU virtual machine a 1080p copy takes 0.25 ms back to back, 0.54-0.67 ms after a 1 ms sleep).
    A spin yields the core between its looks and ends as soon as another process takes it (then
    waits sleep for 0.1 s); waits that are long (a camera's frame gap) do not spin: a wait spins only
    when the previous one was short.
    Returns the setting it replaces.
    """
    global _spinning
    before, _spinning = _spinning, allowed
    return before


def may_spin(now: float) -> bool:
    return _spinning and now >= _spin_paused_until


def spin_until_done(done: Callable[[], bool], until: float) -> bool:
    """Look at `done()` until it is true (True), yielding the core in between; False once `until`
    (a perf_counter time) passes or a yield comes back late (then spinning pauses)."""
    global _spin_paused_until
    while not done():
        now = time.perf_counter()
        if now >= until:
            return False
        _yield()
        if (back := time.perf_counter()) - now > _LATE_YIELD:
            _spin_paused_until = back + _CONTENDED_PAUSE
            return False
    return True

