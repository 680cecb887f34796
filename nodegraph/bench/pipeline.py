"""Pipeline benchmark: a chain of two equal CPU-bound nodes, run in one process (the sequential
executor) and as a multiprocess pipeline (the runtime, one stage per node), in the same run.

With two cores the pipeline's throughput should approach twice the sequential one: each node
has a core of its own, and frames cross between them through shared memory. The machine's own
parallel capacity (two bare processes against one) is measured alongside, since other programs
busy on a core bound what any pipeline can gain.
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from nodegraph.bench import ignore_ctrl_c, not_interrupted, start_helper, timed_frames
from nodegraph.graph import Graph, Link
from nodegraph.node import Node
from nodegraph.params import Int
from nodegraph.registry import Registry, load_registry
from nodegraph.sequential import SequentialRunner
from nodegraph.types import Frame


def burn(rounds: int, seed: int = 0) -> int:
    """`rounds` rounds of integer arithmetic in pure Python: a fixed amount of CPU work."""
    acc = seed
    for _ in range(rounds):
        acc = (acc * 1103515245 + 12345) & 0x7FFFFFFF
    return acc


def _timed_burn(rounds: int, barrier, seconds) -> None:
    ignore_ctrl_c()
    barrier.wait()
    start = time.perf_counter()
    burn(rounds)
    seconds.put(time.perf_counter() - start)


def parallel_capacity(rounds: int = 2_000_000) -> float:
    """How many cores' worth of work two processes get done right now (2.0 on an idle two-core
    machine; less when other programs keep a core busy): a bound for any pipeline's speed-up."""
    ctx = mp.get_context("spawn")
    start = time.perf_counter()
    burn(rounds)
    alone = time.perf_counter() - start
    barrier, seconds = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_timed_burn, args=(rounds, barrier, seconds), daemon=True) for _ in range(2)]
    try:
        for worker in workers:
            start_helper(worker)
        together = max(seconds.get(timeout=120) for _ in workers)
    finally:  # at once on a Ctrl-C
        for worker in (w for w in workers if w.pid is not None):
            worker.kill()
            worker.join()
    return 2 * alone / together


class CpuBurn(Node):
    """Does `work` thousand rounds of integer arithmetic in pure Python per frame (a fixed amount of
    CPU, not a sleep), seeded by the frame, and stamps the result into a copy of the frame."""

    category = "Benchmark"
    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"work": Int(1, 100_000, default=40, help="thousands of arithmetic rounds per frame")}
    heavy = True
    cost_ms = 10.0

    def process(self, frame):
        acc = burn(self.work * 1000, int(frame[0, 0, 0]) + self.frame_id)
        out = frame.copy()
        out[0, 0] = np.frombuffer(acc.to_bytes(4, "little")[:3], np.uint8)
        return {"frame": out}


def burn_chain(frames: int, work: int) -> tuple[Graph, Registry]:
    registry = load_registry(third_party=False)
    registry.add(CpuBurn, "benchmark")
    graph = Graph("bench-pipeline")
    graph.add_node("TestPattern", {"width": 320, "height": 240, "frames": frames}, node_id="pattern")
    graph.add_node("CpuBurn", {"work": work}, node_id="burn1")
    graph.add_node("CpuBurn", {"work": work}, node_id="burn2")
    graph.add_link(Link("pattern", "frame", "burn1", "frame"))
    graph.add_link(Link("burn1", "frame", "burn2", "frame"))
    return graph, registry


def bench_pipeline(frames: int = 150, work: int = 40, rounds: int = 5) -> dict:
    """Frames per second of the chain run sequentially and as a pipeline, and the machine's parallel
    capacity, alternately `rounds` times; the best of each counts (other load on the machine only ever
    slows a run down, so one sample of the capacity could show a busy moment and flatter the speed-up)."""
    from nodegraph.runtime import Runtime

    graph, registry = burn_chain(frames, work)
    sequential, parallel, capacity, stages = [], [], [], []
    for _ in range(rounds):
        sequential.append(not_interrupted(SequentialRunner(graph, registry).run()).fps)
        runtime = Runtime(graph, registry, mode="lossless")
        report = not_interrupted(runtime.run())
        if report.error or report.frames != frames:
            raise RuntimeError(f"the pipeline run did not complete: {report.summary_line()} {report.error}")
        parallel.append(report.fps)
        stages = [list(s.nodes) for s in runtime.plan.stages]
        capacity.append(parallel_capacity())
    return {
        "frames": frames,
        "stages": stages,
        "sequential_fps": round(max(sequential), 2),
        "parallel_fps": round(max(parallel), 2),
        "speedup": round(max(parallel) / max(sequential), 2),
        "sequential_runs_fps": [round(f, 1) for f in sequential],
        "parallel_runs_fps": [round(f, 1) for f in parallel],
        "machine_parallel_capacity": round(max(capacity), 2),
        "machine_parallel_capacity_runs": [round(c, 2) for c in capacity],
    }


def run(frames: int | None = None) -> dict:
    """`nodegraph bench pipeline [--frames N]`."""
    return bench_pipeline(timed_frames("pipeline", frames) or 150)


def summary(result: dict) -> str:
    return (f"two equal CPU-bound nodes: sequential {result['sequential_fps']:.1f} fps, "
            f"pipeline {result['parallel_fps']:.1f} fps ({result['speedup']:.2f}x; two bare processes "
            f"get {result['machine_parallel_capacity']:.2f}x here at best)")
