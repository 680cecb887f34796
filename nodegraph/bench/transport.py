"""Transport benchmark: 1920x1080 BGR frames through our ring and through
multiprocessing.Queue, each to a reader in a spawn-started process.

Both transports are measured the same way, as throughput per frame (not round trip): the
sender keeps at most `WINDOW` frames unacknowledged (the ring's slots; for the queue, acks
on a second queue) and records when each frame was handed over; a frame's time is the gap
since the previous hand-over, so waiting for the reader counts. `*_ms` is the median gap
past the first `WINDOW` frames of a burst (pipeline fill), `*_mean_ms` the bursts' wall time,
including the final wait for the last acknowledgement, divided by the frame count.
Both readers look at one pixel of each frame to check it is the one expected; the ring's
reader gets a zero-copy view and acknowledges with `release()`, the queue's reader gets an
unpickled copy and acknowledges on the ack queue.

A shared machine's memory bandwidth drifts from second to second, so the copies and the
ring are measured in alternating rounds and their ratio compares like with like.

With two cores or more, the ring's writer and reader each have one, as the runtime's stages do when
they fit the cores: both ends spin before they sleep (`shm.allow_spinning`), as the runtime lets them.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable

import numpy as np

from nodegraph.bench import ignore_ctrl_c, start_helper
from nodegraph.codec import encoded_size
from nodegraph.shm import Ring, RingAborted, allow_spinning, new_run_id, segment_name
from nodegraph.threads import available_cores

FRAME_SHAPE = (1080, 1920, 3)
WINDOW = 4
_START_TIMEOUT = 60.0


def _ring_consumer(name: str, frames: int, spin: bool, ready, result) -> None:
    ignore_ctrl_c()
    allow_spinning(spin)
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
    ignore_ctrl_c()
    for _ in range(frames):
        frame_id, image = frames_q.get()
        acks_q.put(frame_id if image[0, 0, 0] == frame_id % 256 else -1)


def _timed(frames: int, send: Callable[[int], None], finish: Callable[[], None]) -> tuple[list[float], float]:
    """Gaps in seconds between hand-overs of `send(i)` for every frame past the pipeline fill,
    and the wall time of all of them followed by `finish()`."""
    stamps = [time.perf_counter()]
    for i in range(frames):
        send(i)
        stamps.append(time.perf_counter())
    finish()
    total = time.perf_counter() - stamps[0]
    gaps = np.diff(stamps)[WINDOW:] if frames > 2 * WINDOW else np.diff(stamps)
    return gaps.tolist(), total


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 3)


def _copy_samples(frame: np.ndarray, dsts: list[np.ndarray], frames: int) -> list[float]:
    """Seconds of np.copyto of `frame` into `dsts` taken in turn, one sample per copy."""
    samples = []
    for i in range(frames):
        t0 = time.perf_counter()
        np.copyto(dsts[i % len(dsts)], frame)
        samples.append(time.perf_counter() - t0)
    return samples


class _RingLink:
    """A ring of `WINDOW` slots to a reader process that checks and releases `frames` frames."""

    def __init__(self, ctx, frame: np.ndarray, frames: int, spin: bool):
        self._ring = Ring.create(segment_name(new_run_id(), "bench"), encoded_size(frame), slots=WINDOW)
        self._frame, self._sent = frame, 0
        ready, self._result = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=_ring_consumer, args=(self._ring.name, frames, spin, ready, self._result),
                                 daemon=True)
        try:
            start_helper(self._proc)
            if not ready.wait(_START_TIMEOUT):
                raise RuntimeError("the ring reader process did not start")
        except BaseException:  # a Ctrl-C too: the segment must not outlive the benchmark
            self._proc.kill()
            self.close()
            raise
        self._writer = self._ring.writer(lossless=True)

    def burst(self, frames: int) -> tuple[list[float], float]:
        """Send `frames` frames and wait until the reader released them all: (gaps, wall time)."""
        def send(_: int) -> None:
            i = self._sent
            self._frame[0, 0, 0] = i % 256
            self._writer.write(i, time.time(), self._frame)
            self._sent += 1

        return _timed(frames, send, self._writer.drain)

    def wrong_frames(self) -> int:
        return self._result.get(timeout=_START_TIMEOUT)

    def close(self) -> None:
        self._ring.abort()
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
        self._ring.unlink()
        self._ring.detach()


def _bench_queue(ctx, frame: np.ndarray, frames: int) -> tuple[float, float]:
    frames_q, acks_q = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_queue_consumer, args=(frames_q, acks_q, frames), daemon=True)
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
        start_helper(proc)
        gaps, total = _timed(frames, send, lambda: take_acks(frames))
        return _median_ms(gaps), round(total / frames * 1e3, 3)
    except BaseException:  # a Ctrl-C: the reader would wait for the frames that are not coming
        proc.kill()
        # and the queue's feeder thread, blocked writing a frame nobody reads, held this process's exit forever
        frames_q.cancel_join_thread()
        raise
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()


def bench_transport(frames: int = 300, rounds: int = 5) -> dict:
    """Milliseconds per 1920x1080x3 uint8 frame: memcpy, our ring (lossless), multiprocessing.Queue.

    `memcpy_ms` copies into one destination, which stays in cache; `memcpy_rotating_ms` copies
    into `WINDOW` destinations in turn, as much memory as a ring of `WINDOW` slots holds.
    """
    ctx = mp.get_context("spawn")
    frame = np.random.default_rng(0).integers(0, 256, FRAME_SHAPE, np.uint8)
    per_round = max(2 * WINDOW + 1, frames // rounds)
    hot, rotating = [np.empty_like(frame)], [np.empty_like(frame) for _ in range(WINDOW)]
    copies, rotating_copies, ring_gaps, ring_wall = [], [], [], 0.0
    spin = available_cores() >= 2
    link = _RingLink(ctx, frame, per_round * rounds, spin)
    spun_before = allow_spinning(spin)
    try:
        for _ in range(rounds):
            copies += _copy_samples(frame, hot, per_round)
            rotating_copies += _copy_samples(frame, rotating, per_round)
            gaps, wall = link.burst(per_round)
            ring_gaps += gaps
            ring_wall += wall
        bad = link.wrong_frames()
    finally:
        allow_spinning(spun_before)
        link.close()
    if bad:
        raise RuntimeError(f"the ring reader got {bad} wrong frames")
    memcpy_ms, shm_ms = _median_ms(copies), _median_ms(ring_gaps)
    # as many frames as the ring: `frames` itself may be within the pipeline fill, whose hand-overs cost nothing
    queue_ms, queue_mean_ms = _bench_queue(ctx, frame, per_round * rounds)
    return {
        "frames": per_round * rounds,
        "spinning": spin,
        "memcpy_ms": memcpy_ms,
        "memcpy_rotating_ms": _median_ms(rotating_copies),
        "shm_ms": shm_ms,
        "queue_ms": queue_ms,
        "shm_mean_ms": round(ring_wall / (per_round * rounds) * 1e3, 3),
        "queue_mean_ms": queue_mean_ms,
        "shm_over_memcpy": round(shm_ms / memcpy_ms, 2),
        "queue_over_shm": round(queue_ms / shm_ms, 1),
    }


def run(frames: int | None = None) -> dict:
    """`nodegraph bench transport [--frames N]`."""
    return bench_transport(frames or 300)


def summary(result: dict) -> str:
    return (f"per 1920x1080 frame, median of {result['frames']}: memcpy {result['memcpy_ms']:.3f} ms "
            f"({result['memcpy_rotating_ms']:.3f} ms into {WINDOW} buffers in turn), shared-memory ring "
            f"{result['shm_ms']:.3f} ms, multiprocessing.Queue {result['queue_ms']:.3f} ms\n"
            f"the ring takes {result['shm_over_memcpy']:.2f}x a memcpy's time; the queue "
            f"{result['queue_over_shm']:.1f}x the ring's")


if __name__ == "__main__":
    print(json.dumps(bench_transport(), indent=2))
