"""The shared-memory ring: real segments, real spawn-started processes, every pixel checked."""

import functools
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nodegraph import shm
from nodegraph.codec import encoded_size
from nodegraph.shm import Ring, RingAborted, ShmError, ShmSpaceError

REPO = Path(__file__).resolve().parents[1]
SMALL = (48, 64, 3)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists /dev/shm")


def pattern(frame_id: int, shape: tuple = SMALL) -> np.ndarray:
    """Pixels that differ from one frame id to the next, so a packet mixing two frames shows."""
    return _pattern(frame_id % 251, shape)


@functools.cache
def _pattern(phase: int, shape: tuple) -> np.ndarray:
    pixels = np.arange(np.prod(shape), dtype=np.uint32) * 31 + phase * 7919
    return (pixels % 251).astype(np.uint8).reshape(shape)


def capture_time(frame_id: int) -> float:
    return 1000.0 + frame_id / 64


@pytest.fixture
def run_id():
    run = shm.new_run_id()
    yield run
    shm.cleanup(run)


def spawn():
    return mp.get_context("spawn")


def check_stream(name: str, index: int, shape: tuple, ready, results, delay: float) -> None:
    """Reader process: read until end of stream, checking order, header and every pixel."""
    count, last, problems, eos = 0, -1, [], False
    ring = Ring.attach(name)
    reader = ring.reader(index)
    ready.set()
    try:
        while True:
            packet = reader.read(timeout=20)
            if packet is None:
                problems.append("timed out")
                break
            if packet.eos:
                eos = True
                break
            if packet.frame_id <= last:
                problems.append(f"frame {packet.frame_id} after {last}")
            if packet.capture_time != capture_time(packet.frame_id):
                problems.append(f"frame {packet.frame_id}: capture time {packet.capture_time}")
            if not np.array_equal(packet.value, pattern(packet.frame_id, shape)):
                problems.append(f"frame {packet.frame_id}: pixels differ")
            last, count = packet.frame_id, count + 1
            del packet  # lossless: a view into the slot, gone at release
            reader.release()
            if delay:
                time.sleep(delay)
    finally:
        results.put(
            {
                "index": index,
                "count": count,
                "last": last,
                "eos": eos,
                "drops": reader.drops,
                "problems": problems,
            }
        )
        ring.close()


def hammer(run_id: str, lossless: bool, frames: int, shape: tuple, slots: int, delays: list[float]) -> dict:
    ctx = spawn()
    name = shm.segment_name(run_id, "hammer")
    with Ring.create(name, encoded_size(pattern(0, shape)), slots=slots, readers=len(delays)) as ring:
        results = ctx.Queue()
        readies = [ctx.Event() for _ in delays]
        procs = [
            ctx.Process(target=check_stream, args=(name, i, shape, readies[i], results, delay))
            for i, delay in enumerate(delays)
        ]
        for proc in procs:
            proc.start()
        try:
            assert all(ready.wait(60) for ready in readies), "reader processes did not start"
            writer = ring.writer(lossless=lossless)
            for frame_id in range(frames):
                writer.write(frame_id, capture_time(frame_id), pattern(frame_id, shape), timeout=20)
            writer.write_eos(timeout=20)
            got = {r["index"]: r for r in (results.get(timeout=60) for _ in procs)}
        finally:
            ring.abort()
            for proc in procs:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
    return got


def test_lossless_two_readers_get_every_frame_in_order_with_every_pixel_right(run_id):
    frames = 3000
    got = hammer(run_id, lossless=True, frames=frames, shape=SMALL, slots=4, delays=[0.0, 0.0])
    for result in got.values():
        assert result["problems"] == []
        assert (result["count"], result["last"], result["eos"], result["drops"]) == (
            frames,
            frames - 1,
            True,
            0,
        )


def test_realtime_never_tears_and_a_slow_reader_skips_to_the_newest(run_id):
    frames = 5000
    # the writer goes flat out over 2 slots, so a slow reader's copy is often overwritten under it
    got = hammer(run_id, lossless=False, frames=frames, shape=SMALL, slots=2, delays=[0.0, 0.002])
    for result in got.values():
        assert result["problems"] == []  # no torn packet, increasing ids, right capture times
        assert result["eos"]
        assert result["count"] + result["drops"] == frames  # every packet read or counted as dropped
    slow = got[1]
    assert slow["drops"] > 0 and slow["count"] < frames


def test_a_realtime_packet_overwritten_during_its_copy_is_not_returned(run_id):
    """The seqlock's second look, made deterministic: a real writer (own mapping) overwrites
    the slot at the moment the reader takes the slice it copies."""
    name = shm.segment_name(run_id, "seqlock")
    with Ring.create(name, encoded_size(pattern(0)), slots=2) as ring, Ring.attach(name) as writer_side:
        writer = writer_side.writer(lossless=False)
        writer.write(0, capture_time(0), pattern(0))

        class OverwrittenWhileCopied:
            def __init__(self, view):
                self.view = view

            def __getitem__(self, key):
                ring._payload[0] = self.view
                for frame_id in (1, 2):  # packet 2 lands in packet 0's slot
                    writer.write(frame_id, capture_time(frame_id), pattern(frame_id))
                return self.view[key]

        ring._payload[0] = OverwrittenWhileCopied(ring._payload[0])
        reader = ring.reader(0)
        packet = reader.read(timeout=1)
        assert (packet.frame_id, packet.capture_time) == (2, capture_time(2))
        assert np.array_equal(packet.value, pattern(2))
        assert reader.drops == 2


def test_a_realtime_reader_gets_the_newest_packet_and_counts_the_older_ones_as_drops(run_id):
    with Ring.create(shm.segment_name(run_id, "newest"), encoded_size(pattern(0)), slots=4) as ring:
        writer, reader = ring.writer(lossless=False), ring.reader(0)
        for frame_id in range(3):
            writer.write(frame_id, capture_time(frame_id), pattern(frame_id))
        packet = reader.read(timeout=1)
        assert (packet.frame_id, reader.drops) == (2, 2)
        assert np.array_equal(packet.value, pattern(2))
        assert reader.read(timeout=0) is None  # nothing newer yet
        writer.write(3, capture_time(3), pattern(3))
        assert (reader.read(timeout=1).frame_id, reader.drops) == (3, 2)
        for frame_id in range(4, 10):
            writer.write(frame_id, capture_time(frame_id), pattern(frame_id))
        # a join asks for the oldest packet still in the ring: 6 (4 and 5 were overwritten), then 7
        assert [reader.read(timeout=1, oldest=True).frame_id for _ in range(2)] == [6, 7]
        assert reader.drops == 4
        writer.write_eos()  # the stream's last frame comes before its end, even to a reader behind
        assert (reader.read(timeout=1).frame_id, reader.drops) == (9, 5)
        assert reader.read(timeout=1).eos and reader.drops == 5


def test_a_realtime_slot_that_never_reads_whole_makes_read_give_up_at_its_timeout(run_id):
    """A slot left as if its writer died while writing it (stamp odd): the reader sleeps between its
    looks and returns None at its timeout, so its stage can look at its control pipe."""
    with Ring.create(shm.segment_name(run_id, "torn"), 64, slots=2) as ring:
        ring.writer(lossless=False).write(0, 0.0, 1)
        ring._meta[0][0] += 1  # the stamp of packet 0, back to "being written"
        reader, result = ring.reader(0), {}

        def read():
            started = time.process_time()
            result["packet"] = reader.read(timeout=0.3)
            result["cpu_s"] = time.process_time() - started

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        thread.join(5)
        assert not thread.is_alive(), "read() spins on a torn slot"
        assert result["packet"] is None and result["cpu_s"] < 0.1


def test_a_ring_detached_with_views_alive_leaves_the_mapping_to_them_and_nothing_prints_at_exit():
    code = textwrap.dedent(
        """
        import numpy as np
        from nodegraph import shm
        run = shm.new_run_id()
        ring = shm.Ring.create(shm.segment_name(run, "kept"), 1024)
        ring.writer(lossless=True).write(0, 0.0, np.arange(16))
        kept = ring.reader(0).read(0).value  # a view into the ring, kept past its close
        ring.unlink()
        ring.detach()
        assert kept.sum() == 120  # the mapping lives on with the view
        also = shm.Ring.create(shm.segment_name(run, "left"), 1024)
        also.writer(lossless=True).write(0, 0.0, np.arange(4))
        view = also.reader(0).read(0).value  # never closed: the ring goes at exit, the view with it
        also.unlink()
        print("ok", flush=True)
        """
    )
    proc = python(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out.strip()) == (0, "ok"), err
    assert err == ""  # no "Exception ignored ... BufferError: cannot close exported pointers exist"


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
            took = []
            for _ in range(5):  # shorter than a spin: allowed to, each spins until its timeout
                t0 = time.perf_counter()
                assert reader.read(timeout=0.0005) is None
                took.append(time.perf_counter() - t0)
            late = [f"{t * 1e3:.2f} ms" for t in took if not 0.0005 <= t < 0.0009]
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


def python(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, text=True, **kwargs)


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
        before = set(shm.segments())
        removed = shm.cleanup()
        after = set(shm.segments())
        assert set(dead) <= before - after
        assert removed == len(before - after)  # other dead runs' leftovers, if any, count too
        assert live.name in after
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
def test_attaching_from_another_interpreter_leaves_the_segment_alone(run_id):
    with Ring.create(shm.segment_name(run_id, "t"), 4096) as ring:
        code = f"from nodegraph.shm import Ring; r = Ring.attach({ring.name!r}); print(r.slots); r.close()"
        proc = python(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out.strip()) == (0, "4"), err
        assert "leaked" not in err and "KeyError" not in err  # no resource-tracker complaints
        assert shm.segments(run_id) == [ring.name]  # its tracker did not unlink it at exit


def test_an_oversized_packet_is_refused_naming_both_sizes_and_the_ring_goes_on(run_id):
    with Ring.create(shm.segment_name(run_id, "small"), 1000) as ring:
        writer, reader = ring.writer(lossless=True), ring.reader(0)
        big = np.zeros(2000, np.uint8)
        with pytest.raises(
            ValueError, match=rf"{ring.name}.* frame 7 takes {encoded_size(big)} bytes .*hold 1000"
        ):
            writer.write(7, 0.0, big)
        writer.write(7, 0.5, np.ones(10, np.uint8))
        packet = reader.read(timeout=1)
        assert (packet.frame_id, packet.capture_time, packet.value.tolist()) == (7, 0.5, [1] * 10)
        del packet


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


def test_faces_travel_as_views_in_lossless_and_as_copies_in_realtime(run_id):
    faces = [{"box": np.array([1.0, 2, 3, 4], np.float32), "score": 0.9, "crop": pattern(5), "swap": None}]
    for lossless in (True, False):
        with Ring.create(shm.segment_name(run_id, "faces"), encoded_size(faces), readers=2) as ring:
            writer = ring.writer(lossless)
            writer.write(5, capture_time(5), faces)
            readers = [ring.reader(index) for index in (0, 1)]
            for reader in readers:
                packet = reader.read(timeout=1)
                (face,) = packet.value
                assert (
                    np.array_equal(face["crop"], pattern(5)) and face["score"] == 0.9 and face["swap"] is None
                )
                assert face["crop"].flags.writeable is not lossless  # shared views are read-only
                del packet, face
                reader.release()
            writer.write_eos()
            assert all(reader.read(timeout=1).eos for reader in readers)


def test_a_lossless_reader_that_holds_every_slot_is_told_to_release(run_id):
    with Ring.create(shm.segment_name(run_id, "hold"), 64, slots=2) as ring:
        writer, reader = ring.writer(lossless=True), ring.reader(0)
        for frame_id in range(2):
            writer.write(frame_id, 0.0, frame_id)
        assert [reader.read(0).value, reader.read(0).value] == [0, 1]
        with pytest.raises(RuntimeError, match="release"):
            reader.read(0)
        with pytest.raises(TimeoutError, match=ring.name):
            writer.write(2, 0.0, 2, timeout=0.05)
        reader.release()
        writer.write(2, 0.0, 2, timeout=1)
        assert reader.read(0).value == 2


def test_a_lossless_writer_reuses_the_slot_released_last_and_its_readers_follow(run_id):
    """While the reader keeps up, every frame goes to one slot (still in cache); a held packet
    makes the writer take another, and each packet is still read from the slot it went to."""
    with Ring.create(shm.segment_name(run_id, "warm"), encoded_size(pattern(0)), slots=4) as ring:
        writer, reader = ring.writer(lossless=True), ring.reader(0)

        def send_and_read(frame_id: int):
            writer.write(frame_id, capture_time(frame_id), pattern(frame_id), timeout=1)
            packet = reader.read(0)
            assert packet.frame_id == frame_id
            np.testing.assert_array_equal(packet.value, pattern(frame_id))
            return packet.value.ctypes.data

        addresses = []
        for frame_id in range(3):
            addresses.append(send_and_read(frame_id))
            reader.release()
        assert len(set(addresses)) == 1
        held = send_and_read(3)  # not released: the next frame must go elsewhere
        fresh = send_and_read(4)
        assert held != fresh
        reader.release()
        assert send_and_read(5) == fresh  # both free now: the one written last wins


def read_timed(name: str, packets: int, spin: bool, ready, results) -> None:
    """Reader process: read and release `packets` packets at once; report the CPU it used over the
    wall time of the loop, and how many slot addresses the packets came from."""
    shm.allow_spinning(spin)
    with Ring.attach(name) as ring:
        reader = ring.reader(0)
        ready.set()
        first = reader.read(timeout=20)
        addresses = [first.value.ctypes.data]
        del first
        reader.release()
        wall, cpu = time.monotonic(), time.process_time()
        for _ in range(packets - 1):
            packet = reader.read(timeout=20)
            addresses.append(packet.value.ctypes.data)
            del packet
            reader.release()
        busy = (time.process_time() - cpu) / (time.monotonic() - wall)
    results.put((busy, addresses))


def timed_stream(run_id: str, suffix: str, value: np.ndarray, packets: int, gap: float, spin: bool):
    """Write `packets` copies of `value`, `gap` s apart, to a reader process that may spin or not:
    (the reader's CPU over wall time, the slot address of each packet as it read them)."""
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
    here), one that is not sleeps in them (13%). Spinning stops while another process wants the core,
    so a measurement taken at such a moment is taken again (up to three times)."""
    small = np.zeros(16, np.uint8)
    for attempt in range(3):
        spinning, _ = timed_stream(run_id, f"spin{attempt}", small, 200, 0.0005, spin=True)
        sleeping, _ = timed_stream(run_id, f"sleep{attempt}", small, 200, 0.0005, spin=False)
        if spinning > max(0.4, 3 * sleeping):
            break
    assert spinning > max(0.4, 3 * sleeping), (
        f"the reader used {spinning:.0%} of a core allowed to spin, {sleeping:.0%} not allowed"
    )


def test_a_reader_allowed_to_spin_sleeps_through_long_waits(run_id):
    """Packets every 20 ms (a camera's gaps): after its first wait the reader no longer spins (2%)."""
    share, _ = timed_stream(run_id, "long", np.zeros(16, np.uint8), 30, 0.02, spin=True)
    assert share < 0.35, f"the reader used {share:.0%} of a core: it spun through 20 ms gaps"


def test_a_large_packet_waits_for_the_warm_slot_a_quick_reader_is_about_to_release(run_id):
    """Spinning allowed on both ends and a reader that releases each packet at once: the writer waits
    those few microseconds for the slot it wrote last rather than write 1.5 MiB into a cold one, so
    most packets go to the slot of the one before (85-100% here; 0-12% without the wait, the writer
    being back before the reader released). Taken again (up to three times) when another process
    wanted a core meanwhile: spinning stops then."""
    for attempt in range(3):
        _, addresses = timed_stream(run_id, f"hot{attempt}", np.ones((512, 1024, 3), np.uint8), 100, 0.0, True)
        same = sum(a == b for a, b in zip(addresses, addresses[1:], strict=False)) / (len(addresses) - 1)
        if same > 0.5:
            break
    assert same > 0.5, f"only {same:.0%} of the packets went to the slot of the one before"


def test_frames_must_go_out_in_increasing_order(run_id):
    with Ring.create(shm.segment_name(run_id, "order"), 64) as ring:
        writer = ring.writer(lossless=False)
        writer.write(3, 0.0, None)
        with pytest.raises(ValueError, match="frame 3 written after frame 3"):
            writer.write(3, 0.0, None)


def test_closing_with_views_still_alive_is_refused_until_they_are_dropped(run_id):
    ring = Ring.create(shm.segment_name(run_id, "views"), 1024)
    writer, reader = ring.writer(lossless=True), ring.reader(0)
    writer.write(0, 0.0, np.zeros(16))
    view = reader.read(0).value
    ring.unlink()
    with pytest.raises(ShmError, match="still referenced"):
        ring.close()
    del view
    ring.close()


def test_attach_reads_the_geometry_and_refuses_what_is_not_a_ring(run_id):
    with Ring.create(shm.segment_name(run_id, "geo"), 1000, slots=3, readers=2) as ring:
        other = Ring.attach(ring.name)
        assert (other.slot_bytes, other.slots, other.readers) == (1000, 3, 2)
        with pytest.raises(ValueError, match="readers 0..1, not 2"):
            other.reader(2)
        with pytest.raises(ShmError, match="only the process that created it"):
            other.unlink()
        other.close()
    with pytest.raises(ShmError, match="does not exist"):
        Ring.attach(shm.segment_name(run_id, "nothere"))


def test_names_are_short_and_carry_the_creating_pid():
    run = shm.new_run_id()
    assert int(run[:-4], 16) == os.getpid()
    name = shm.segment_name(run, "s12o3")
    assert name == f"ng{run}_s12o3" and len(name) <= shm.MAX_NAME
    with pytest.raises(ValueError, match="characters"):
        shm.segment_name(run, "x" * 30)
    with pytest.raises(ValueError, match="letters and digits"):
        shm.segment_name(run, "a/b")
    with pytest.raises(ValueError, match="segment_name"):
        Ring.create("my_ring", 64)
