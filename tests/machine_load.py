"""How busy the machine's cores are (Linux, from /proc/stat). A test that measures spinning measures again when
the suite's other workers crowd the cores: spinning rightly stops then."""

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CORES = os.cpu_count() or 1


def _machine_ticks() -> tuple[int, int]:
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)  # busy, all (idle and iowait are not busy)


class BusyCores:
    """How many cores the whole machine kept busy while the `with` block ran: `cores`."""

    def __enter__(self):
        self._start = _machine_ticks()
        return self

    def __exit__(self, *exc) -> None:
        (busy, total), (busy_after, total_after) = self._start, _machine_ticks()
        self.cores = CORES * (busy_after - busy) / max(total_after - total, 1)


def leaves_a_core_free(others: float) -> bool:
    """Whether the rest of the machine (`others` cores busy) left a process a core to itself, with slack."""
    return others <= CORES - 1.2


def process_share(pid: int, seconds: float) -> float:
    """The share of one core process `pid` used over the next `seconds` (from /proc/PID/stat)."""
    def ticks():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime

    before, start = ticks(), time.monotonic()
    time.sleep(seconds)
    return (ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start)


def assert_spins_with_a_core_free(what: str, spinning: Callable[[], tuple[float, float]],
                                  sleeping: Callable[[], float], pause: float) -> None:
    """That a waiter allowed to spin keeps its core busy where one that may not sleeps: `spinning()` gives the
    cores the rest of the machine kept busy meanwhile and its share of a core, `sleeping()` the other's share.
    Spinning rightly stops while another process wants the core, as the suite's other workers often do: a
    measurement taken while the rest of the machine left no core free, or that a neighbour woke within, is taken
    again, for up to a minute. Fails when no measurement with a core free spun; skips when none had a core free."""
    deadline, busiest, short = time.monotonic() + 60.0, 0.0, None
    while time.monotonic() < deadline:
        others, spun = spinning()
        if leaves_a_core_free(others):
            slept = sleeping()
            if spun > max(0.4, 3 * slept):
                return
            short = (f"{spun:.0%} of a core allowed to spin, {slept:.0%} not allowed, while the rest of the "
                     f"machine kept {others:.1f} of {CORES} cores busy")
        busiest = max(busiest, others)
        time.sleep(pause)
    assert short is None, f"{what} never spun through its waits with a core free: at last it used {short}"
    pytest.skip(f"the machine was busy for a minute (the rest of it kept up to {busiest:.1f} of {CORES} cores "
                "busy): spinning rightly stays off then, as test_shm_waits checks")
