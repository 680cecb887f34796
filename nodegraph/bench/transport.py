"""Transport benchmark: 1920x1080 BGR frames through our ring and through
multiprocessing.Queue, each to a reader in a spawn-started process.

Both transports are measured the same way, as throughput per frame (not round trip): the
sender keeps at most `WINDOW` frames unacknowledged (the ring's slots; for the queue, acks
on a second queue) and records when each frame was handed over; a frame's time is the gap
since the previous hand-over, so waiting for the reader counts. `*_ms` is the median gap
past the first `WINDOW` frames (pipeline fill), `*_mean_ms` the whole run's wall time,
including the final wait for the last acknowledgement, divided by the frame count.
Both readers look at one pixel of each frame to check it is the one expected; the ring's
reader gets a zero-copy view and acknowledges with `release()`, the queue's reader gets an
unpickled copy and acknowledges on the ack queue.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable

import numpy as np

from nodegraph.codec import encoded_size
from nodegraph.shm import Ring, RingAborted, new_run_id, segment_name

FRAME_SHAPE = (1080, 1920, 3)
WINDOW = 4
_START_TIMEOUT = 60.0


def _ring_consumer(name: str, frames: int, ready, result) -> None:
    bad = 0
    with Ring.attach(name) as ring:
        reader = ring.reader(0)
        ready.set()
        try:
            for i in range(frames):
                packet = reader.read()
                bad += packet.frame_id != i or packet.value[0, 0, 0] != i % 256
                del packet  # its view must not outlive the slot
                reader.release()
        except RingAborted:
            pass
    result.put(bad)


def _queue_consumer(frames_q, acks_q, frames: int) -> None:
    for _ in range(frames):
        frame_id, image = frames_q.get()
        acks_q.put(frame_id if image[0, 0, 0] == frame_id % 256 else -1)


def _timed(frames: int, send: Callable[[int], None], finish: Callable[[], None]) -> tuple[float, float]:
    """(median, mean) milliseconds per frame of `send(i)` for every frame, then `finish()`."""
    stamps = [time.perf_counter()]
    for i in range(frames):
        send(i)
        stamps.append(time.perf_counter())
    finish()
    total = time.perf_counter() - stamps[0]
    gaps = np.diff(stamps)[WINDOW:] if frames > 2 * WINDOW else np.diff(stamps)
    return round(float(np.median(gaps)) * 1e3, 3), round(total / frames * 1e3, 3)


def _bench_memcpy(frame: np.ndarray, frames: int, destinations: int) -> float:
    """Median ms of np.copyto of `frame` into `destinations` buffers taken in turn."""
    dsts = [np.empty_like(frame) for _ in range(destinations)]
    samples = []
    for i in range(frames):
        t0 = time.perf_counter()
        np.copyto(dsts[i % destinations], frame)
        samples.append(time.perf_counter() - t0)
    return round(statistics.median(samples) * 1e3, 3)


def _bench_ring(ctx, frame: np.ndarray, frames: int) -> tuple[float, float]:
    name = segment_name(new_run_id(), "bench")
    with Ring.create(name, encoded_size(frame), slots=WINDOW) as ring:
        ready, result = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_ring_consumer, args=(name, frames, ready, result), daemon=True)
        proc.start()
        try:
            if not ready.wait(_START_TIMEOUT):
                raise RuntimeError("the ring reader process did not start")
            writer = ring.writer(lossless=True)

            def send(i: int) -> None:
                frame[0, 0, 0] = i % 256
                writer.write(i, time.time(), frame)

            timing = _timed(frames, send, writer.drain)
            bad = result.get(timeout=_START_TIMEOUT)
        finally:
            ring.abort()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    if bad:
        raise RuntimeError(f"the ring reader got {bad} wrong frames")
    return timing


def _bench_queue(ctx, frame: np.ndarray, frames: int) -> tuple[float, float]:
    frames_q, acks_q = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_queue_consumer, args=(frames_q, acks_q, frames), daemon=True)
    proc.start()
    # the queue pickles in a feeder thread after put() returns: a frame is reused only once acknowledged
    pool = [frame.copy() for _ in range(WINDOW + 1)]
    acked = 0

    def take_acks(upto: int) -> None:
        nonlocal acked
        while acked < upto:
            if acks_q.get(timeout=_START_TIMEOUT) != acked:
                raise RuntimeError(f"the queue reader got a wrong frame at {acked}")
            acked += 1

    def send(i: int) -> None:
        take_acks(i - WINDOW + 1)
        image = pool[i % len(pool)]
        image[0, 0, 0] = i % 256
        frames_q.put((i, image))

    try:
        return _timed(frames, send, lambda: take_acks(frames))
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()


def bench_transport(frames: int = 100) -> dict:
    """Milliseconds per 1920x1080x3 uint8 frame: memcpy, our ring (lossless), multiprocessing.Queue.

    `memcpy_ms` copies into one destination, which stays in cache; `memcpy_rotating_ms` copies
    into `WINDOW` destinations in turn, the memory a ring of `WINDOW` slots writes to.
    """
    ctx = mp.get_context("spawn")
    frame = np.random.default_rng(0).integers(0, 256, FRAME_SHAPE, np.uint8)
    memcpy_ms = _bench_memcpy(frame, frames, 1)
    memcpy_rotating_ms = _bench_memcpy(frame, frames, WINDOW)
    shm_ms, shm_mean_ms = _bench_ring(ctx, frame, frames)
    queue_ms, queue_mean_ms = _bench_queue(ctx, frame, frames)
    return {
        "frames": frames,
        "memcpy_ms": memcpy_ms,
        "memcpy_rotating_ms": memcpy_rotating_ms,
        "shm_ms": shm_ms,
        "queue_ms": queue_ms,
        "shm_mean_ms": shm_mean_ms,
        "queue_mean_ms": queue_mean_ms,
        "shm_over_memcpy": round(shm_ms / memcpy_ms, 2),
        "queue_over_shm": round(queue_ms / shm_ms, 1),
    }


if __name__ == "__main__":
    print(json.dumps(bench_transport(), indent=2))
