"""A ring's waits: abort wakes them, timeouts end them, and spinning is kept to where it pays."""

import os
import subprocess
import sys
import time
from itertools import count

import numpy as np
import pytest
from machine_load import BusyCores, assert_spins_with_a_core_free
from test_shm import spawn

from nodegraph import shm
from nodegraph.codec import encoded_size
from nodegraph.shm import Ring, RingAborted


def block_then_abort(blocked_name: str, abort_name: str, ready, results) -> None:
    """Blocks reading an empty ring until the parent aborts it, then aborts the ring the parent waits on."""
    with Ring.attach(blocked_name) as ring:
        reader = ring.reader(0)
        ready.set()
        try:
            reader.read()
            results.put(("read returned", time.time()))
        except RingAborted:
            results.put(("aborted", time.time()))
    with Ring.attach(abort_name) as ring:
        time.sleep(0.3)
        ring.abort()
        results.put(("aborted it", time.time()))


def test_abort_unblocks_a_waiting_reader_and_a_waiting_lossless_writer_across_processes(run_id):
    ctx = spawn()
    empty = Ring.create(shm.segment_name(run_id, "empty"), 64)
    full = Ring.create(shm.segment_name(run_id, "full"), 64, slots=2)
    ready, results = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=block_then_abort, args=(empty.name, full.name, ready, results))
    proc.start()
    try:
        assert ready.wait(60)
        time.sleep(0.2)  # let the reader settle into its wait
        aborted_at = time.time()
        empty.abort()
        outcome, woke_at = results.get(timeout=10)
        assert outcome == "aborted" and woke_at - aborted_at < 1.0

        writer = full.writer(lossless=True)
        writer.write(0, 0.0, 0)
        writer.write(1, 0.0, 1)  # both slots taken, nobody reads
        with pytest.raises(RingAborted, match=full.name):
            writer.write(2, 0.0, 2)
        raised_at = time.time()
        outcome, abort_at = results.get(timeout=10)
        assert outcome == "aborted it" and raised_at - abort_at < 1.0
        with pytest.raises(RingAborted):
            full.reader(0).read(timeout=0)
    finally:
        proc.join(10)
        for ring in (empty, full):
            ring.close()
            ring.unlink()


@pytest.mark.parametrize("spin", [False, True], ids=["sleeping", "spinning"])
def test_read_times_out_with_none_promptly(run_id, spin):
    """A wait ends at its timeout, also one that spun first (its sleep is what is left, not more)."""
    spun_before = shm.allow_spinning(spin)
    try:
        with Ring.create(shm.segment_name(run_id, "t"), 64) as ring:
            reader = ring.reader(0)
            for _ in range(3):  # a read the OS took the core from for a time slice is late: try again
                took = []
                for _ in range(5):  # shorter than a spin: allowed to, each spins until its timeout
                    t0 = time.perf_counter()
                    assert reader.read(timeout=0.0005) is None
                    took.append(time.perf_counter() - t0)
                late = [f"{t * 1e3:.2f} ms" for t in took if not 0.0005 <= t < 0.0009]
                if len(late) <= 1:
                    break
            assert len(late) <= 1, f"reads with a 0.5 ms timeout took {late}"
            t0 = time.monotonic()
            assert reader.read(timeout=0.05) is None
            assert 0.05 <= time.monotonic() - t0 < 0.5
            assert reader.read(timeout=0) is None
    finally:
        shm.allow_spinning(spun_before)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pins processes to one core")
def test_a_spinner_whose_core_another_process_wants_goes_back_to_sleeping(run_id):
    """A CPU-bound process on this process's core: one spin's yield gives it a whole time slice
    (~4 ms here), after which waits sleep for a while, so 20 reads with a 0.5 ms timeout take 12-17 ms,
    where a spin at every wait loses a slice each (105-109 ms)."""
    cores = os.sched_getaffinity(0)
    core = min(cores)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    spun_before = shm.allow_spinning(True)
    try:
        os.sched_setaffinity(hog.pid, {core})
        os.sched_setaffinity(0, {core})
        time.sleep(0.05)  # the hog is running
        with Ring.create(shm.segment_name(run_id, "c"), 64) as ring:
            reader = ring.reader(0)
            t0 = time.perf_counter()
            for _ in range(20):
                assert reader.read(timeout=0.0005) is None
            took = time.perf_counter() - t0
        assert took < 0.045, f"20 reads of 0.5 ms took {took * 1e3:.0f} ms next to a busy process"
    finally:
        os.sched_setaffinity(0, cores)
        shm.allow_spinning(spun_before)
        hog.kill()
        hog.wait()


def read_timed(name: str, packets: int, spin: bool, ready, results) -> None:
    """Reader process: read and release `packets` packets at once; report the CPU it used over the
    wall time of the loop, the cores the rest of the machine kept busy meanwhile, and the slot address of
    each packet."""
    shm.allow_spinning(spin)
    with Ring.attach(name) as ring:
        reader = ring.reader(0)
        ready.set()
        first = reader.read(timeout=20)
        addresses = [first.value.ctypes.data]
        del first
        reader.release()
        wall, cpu = time.monotonic(), time.process_time()
        with BusyCores() as machine:
            for _ in range(packets - 1):
                packet = reader.read(timeout=20)
                addresses.append(packet.value.ctypes.data)
                del packet
                reader.release()
        busy = (time.process_time() - cpu) / (time.monotonic() - wall)
    results.put((busy, machine.cores - busy, addresses))


def timed_stream(run_id: str, suffix: str, value: np.ndarray, packets: int, gap: float, spin: bool):
    """Write `packets` copies of `value`, `gap` s apart, to a reader process that may spin or not:
    (the reader's CPU over wall time, the cores the rest of the machine kept busy meanwhile, the slot
    address of each packet as it read them)."""
    ctx = spawn()
    with Ring.create(shm.segment_name(run_id, suffix), encoded_size(value), slots=4) as ring:
        ready, results = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=read_timed, args=(ring.name, packets, spin, ready, results))
        proc.start()
        spun_before = shm.allow_spinning(spin)
        try:
            assert ready.wait(60), "the reader process did not start"
            writer = ring.writer(lossless=True)
            for frame_id in range(packets):
                writer.write(frame_id, 0.0, value, timeout=20)
                if gap:
                    time.sleep(gap)
            return results.get(timeout=60)
        finally:
            shm.allow_spinning(spun_before)
            ring.abort()
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def test_a_reader_allowed_to_spin_spins_through_short_waits(run_id):
    """Packets every 0.5 ms: a reader allowed to spin keeps its core busy through the gaps (92% of it
    here), one that is not sleeps in them (13%)."""
    small, attempts = np.zeros(16, np.uint8), count()

    def spinning() -> tuple[float, float]:
        share, others, _ = timed_stream(run_id, f"spin{next(attempts)}", small, 200, 0.0005, spin=True)
        return others, share

    def sleeping() -> float:
        return timed_stream(run_id, f"sleep{next(attempts)}", small, 200, 0.0005, spin=False)[0]

    assert_spins_with_a_core_free("the reader", spinning, sleeping, pause=0.5)


def test_a_reader_allowed_to_spin_sleeps_through_long_waits(run_id):
    """Packets every 20 ms (a camera's gaps): after its first wait the reader no longer spins (2%)."""
    share, _, _ = timed_stream(run_id, "long", np.zeros(16, np.uint8), 30, 0.02, spin=True)
    assert share < 0.35, f"the reader used {share:.0%} of a core: it spun through 20 ms gaps"


def test_a_large_packet_waits_for_the_warm_slot_a_quick_reader_is_about_to_release(run_id):
    """Spinning allowed on both ends and a reader that releases each packet at once: the writer waits
    those few microseconds for the slot it wrote last rather than write 1.5 MiB into a cold one, so
    most packets go to the slot of the one before (85-100% here; 0-12% without the wait, the writer
    being back before the reader released). Taken again (up to three times) when another process
    wanted a core meanwhile: spinning stops then."""
    for attempt in range(3):
        _, _, addresses = timed_stream(run_id, f"hot{attempt}", np.ones((512, 1024, 3), np.uint8), 100, 0.0, True)
        same = sum(a == b for a, b in zip(addresses, addresses[1:], strict=False)) / (len(addresses) - 1)
        if same > 0.5:
            break
    assert same > 0.5, f"only {same:.0%} of the packets went to the slot of the one before"
