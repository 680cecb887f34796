"""How busy the machine's cores are (Linux, from /proc/stat). A test that measures spinning measures again when
the suite's other workers crowd the cores: spinning rightly stops then."""

import os
import time
from pathlib import Path

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
