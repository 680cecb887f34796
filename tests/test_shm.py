"""The shared-memory ring: real segments, real spawn-started processes, every pixel checked."""

import functools
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import repo_env

from nodegraph import shm
from nodegraph.codec import encoded_size
from nodegraph.shm import Ring, ShmError

REPO = Path(__file__).resolve().parents[1]
SMALL = (48, 64, 3)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists /dev/shm")


def python(code: str, **kwargs) -> subprocess.Popen:
    env = repo_env()
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, text=True, **kwargs)


def pattern(frame_id: int, shape: tuple = SMALL) -> np.ndarray:
    """Pixels that differ from one frame id to the next, so a packet mixing two frames shows."""
    return _pattern(frame_id % 251, shape)


@functools.cache
def _pattern(phase: int, shape: tuple) -> np.ndarray:
    pixels = np.arange(np.prod(shape), dtype=np.uint32) * 31 + phase * 7919
    return (pixels % 251).astype(np.uint8).reshape(shape)


def capture_time(frame_id: int) -> float:
    return 1000.0 + frame_id / 64


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


def test_a_writer_killed_between_publishing_a_packet_and_noting_its_frame_is_resumed_after_it(run_id):
    # a new writer took its last frame from the note, one short of the packet readers already had: a stage
    # restarted after such a kill wrote that frame again, and the run's sink counted 301 frames of 300
    value = np.zeros(8, np.uint8)
    with Ring.create(shm.segment_name(run_id, "k"), encoded_size(value), slots=4) as ring:
        killed, reader = ring.writer(lossless=True), ring.reader(0)
        killed.write(0, 0.0, value)
        killed._publish(1, 0.0, value, encoded_size(value), 0, None)  # where write() was when the kill came
        resumed = ring.writer(lossless=True)
        assert resumed.last_frame == 1
        resumed.write(2, 0.0, value)
        read = []
        while (packet := reader.read(timeout=0.1)) is not None:
            read.append(packet.frame_id)
            reader.release()
        assert read == [0, 1, 2]
