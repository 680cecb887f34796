"""Chain benchmark: milliseconds per node of the face chain (detector, marker, aligner) on one 640x480
frame with one face, the nodes made from the registry and run in this process the way a stage runs them;
and the whole demo chain (presets/video_swap.json) run as the multiprocess pipeline: its fps, latency
and ms per node, with the sequential executor's fps measured in the same run for comparison.

`nodegraph bench chain` runs it (face code lives in `nodes/`, not in the engine). Each measurement is
one function returning a dict, and `bench_chain` puts them together. Every variant of the face chain
runs once per round, interleaved, so a busy machine slows them alike; wall time (median, mean, p90) and
the process's CPU time (median) are both reported: with one thread the CPU time leaves out the waits for
a core that other processes hold, though a loaded machine still inflates it (shared caches, hyper-threads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from nodegraph import preset as presets
from nodegraph.bench import not_interrupted, scratch_folder, timed_frames
from nodegraph.graph import Graph
from nodegraph.node import Node
from nodegraph.paths import data_dir
from nodegraph.registry import Registry, default_registry
from nodegraph.stats import RunReport
from nodegraph.threads import available_cores, set_budget

FRAME_SIZE = (640, 480)
PORTRAIT = ("media", "astronaut.png")  # inside the presets folder
# (node id, type, params) in chain order; every node after the first takes the frame and the faces
FACE_CHAIN = (("detector", "FaceDetector", {}), ("marker", "FaceMarker", {}), ("aligner", "FaceAligner", {}))
TARGET_MS = 10.0  # detector + marker + aligner for one face at 640x480
TRACK_EVERY = 60
DEMO_PRESET = "video_swap.json"  # 640x480, 30 fps, 150 frames, one face
DEMO_TARGET_FPS = 30.0  # lossless
DEMO_TARGET_LATENCY_MS = 100.0  # p50, realtime, the source paced at the clip's fps
REALTIME_FRAMES = 300  # 10 s of the 30 fps clip, looped


def set_thread_budget(threads: int) -> None:
    """OpenCV's threads now, onnxruntime's for the sessions made after this: what a stage process of
    `threads` threads gets."""
    cv2.setNumThreads(threads)
    set_budget(threads)


def test_frame(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The bundled portrait scaled to the frame's height and centred on a grey canvas: one face."""
    path = data_dir("presets").joinpath(*PORTRAIT)
    portrait = cv2.imread(str(path))
    if portrait is None:
        raise FileNotFoundError(f"cannot read the benchmark portrait {path}")
    width, height = size
    side = min(width, height)
    canvas = np.full((height, width, 3), 96, np.uint8)
    left, top = (width - side) // 2, (height - side) // 2
    face = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    canvas[top:top + side, left:left + side] = face
    return canvas


def open_chain(chain, registry: Registry, threads: int) -> list[Node]:
    """The chain's nodes, set up, with `threads` for OpenCV and onnxruntime (as a stage process has)."""
    set_thread_budget(threads)
    nodes = []
    for node_id, type_name, params in chain:
        cls = registry.get(type_name)
        if cls is None:
            raise RuntimeError(registry.unknown_type_message(type_name))
        node = cls(node_id, params)
        node.setup()
        nodes.append(node)
    return nodes


def time_rounds(chains: dict[str, list[Node]], frame: np.ndarray, rounds: int, warmup: int = 20,
                check: Callable[[str, list], None] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Per chain and node: median, mean and p90 wall ms and median CPU ms over `rounds` frames (after
    `warmup`). Each round runs every chain once, so load from elsewhere slows them alike. A chain's
    first node gets the frame, the others the frame and the previous node's faces; `check` sees each
    chain's name and last faces of the first round."""
    wall = {name: {node.id: [] for node in nodes} for name, nodes in chains.items()}
    cpu = {name: {node.id: [] for node in nodes} for name, nodes in chains.items()}
    start = time.monotonic()
    for index in range(warmup + rounds):
        for name, nodes in chains.items():
            faces = None
            for node in nodes:
                node.frame_id, node.capture_time = index, start + index / 30.0  # a 30 fps stream's clock
                inputs = {"frame": frame} if faces is None else {"frame": frame, "faces": faces}
                t_wall, t_cpu = time.perf_counter(), time.process_time()
                faces = node.process(**inputs)["faces"]
                if index >= warmup:
                    wall[name][node.id].append((time.perf_counter() - t_wall) * 1e3)
                    cpu[name][node.id].append((time.process_time() - t_cpu) * 1e3)
            if index == 0 and check is not None:
                check(name, faces)
    return {name: {node_id: {"ms": round(float(np.median(times)), 3),
                             "mean_ms": round(float(np.mean(times)), 3),
                             "p90_ms": round(float(np.percentile(times, 90)), 3),
                             "cpu_ms": round(float(np.median(cpu[name][node_id])), 3)}
                   for node_id, times in per_node.items()}
            for name, per_node in wall.items()}


def _one_face(name: str, faces: list) -> None:
    if len(faces) != 1:
        raise RuntimeError(f"the benchmark frame should show one face; chain '{name}' found {len(faces)}")


def face_chain(detector: dict) -> list[tuple[str, str, dict]]:
    """FACE_CHAIN with `detector` params set on the detector."""
    return [(i, t, {**p, **detector} if i == "detector" else p) for i, t, p in FACE_CHAIN]


def chain_times(variants: dict[str, dict], rounds: int, threads: int, registry: Registry) -> dict:
    """For each variant (name -> detector params): ms per node of the face chain on the test frame, and
    the sums of their medians, means and CPU times."""
    chains: dict[str, list[Node]] = {}
    try:
        for name, detector in variants.items():
            chains[name] = open_chain(face_chain(detector), registry, threads)
        timed = time_rounds(chains, test_frame(), rounds, check=_one_face)
    finally:
        for nodes in chains.values():
            for node in nodes:
                node.close()
    return {name: {"detector_params": variants[name], "nodes": per_node,
                   "sum_ms": round(sum(n["ms"] for n in per_node.values()), 3),
                   "sum_mean_ms": round(sum(n["mean_ms"] for n in per_node.values()), 3),
                   "sum_cpu_ms": round(sum(n["cpu_ms"] for n in per_node.values()), 3)}
            for name, per_node in timed.items()}


def demo_graph(folder: Path, realtime: bool = False, loop: bool = False) -> Graph:
    """The demo preset writing into `folder`; with `realtime` its video sources are paced at the clip's
    fps as a camera would be, with `loop` they start again at the end."""
    graph = presets.load(data_dir("presets") / DEMO_PRESET)
    for node_id, spec in graph.nodes.items():
        if spec.type == "VideoSource":
            graph.set_param(node_id, "realtime", realtime)
            graph.set_param(node_id, "loop", loop or realtime)
        elif spec.type == "VideoFileOutput":
            graph.set_param(node_id, "path", str(folder / f"{node_id}.mp4"))
    return graph


def _checked(report: RunReport, what: str, frames: int | None) -> RunReport:
    not_interrupted(report)
    failed = report.error or (frames is not None and report.frames != frames)
    errors = {n: s["last_error"] for n, s in report.nodes.items() if s.get("errors")}
    if failed or errors:
        raise RuntimeError(f"the {what} run of {DEMO_PRESET} went wrong: {report.frames} frames"
                           f"{f' of {frames}' if frames else ''}, error {report.error or 'none'}, "
                           f"node errors {errors or 'none'}")
    return report


def demo_chain(frames: int | None = None, realtime_frames: int = REALTIME_FRAMES,
               registry: Registry | None = None) -> dict:
    """The demo preset as the multiprocess pipeline: fps of a lossless run (`frames`, default the whole
    clip), latency of a realtime run (`realtime_frames` at the clip's fps), ms per node of the lossless
    run, and the sequential executor's fps on the same frames (with the machine's threads, as
    `nodegraph run --sequential` has) in the same run; outputs go to a temporary folder."""
    from nodegraph.runtime import Runtime
    from nodegraph.sequential import SequentialRunner

    registry = registry or default_registry()
    loop = frames is not None
    with scratch_folder("nodegraph-bench-") as folder:
        cores = available_cores()
        set_thread_budget(cores)
        sequential = _checked(SequentialRunner(demo_graph(folder, loop=loop), registry,
                                               frames=frames).run(), "sequential", frames)
        runtime = Runtime(demo_graph(folder, loop=loop), registry, frames=frames, mode="lossless")
        lossless = _checked(runtime.run(), "lossless", frames)
        realtime = _checked(Runtime(demo_graph(folder, realtime=True), registry, frames=realtime_frames,
                                    mode="realtime").run(), "realtime", None)
    return {
        "preset": DEMO_PRESET, "frames": lossless.frames, "target_fps": DEMO_TARGET_FPS,
        "target_latency_p50_ms": DEMO_TARGET_LATENCY_MS,
        "fps": round(lossless.fps, 2), "sequential_fps": round(sequential.fps, 2),
        "speedup": round(lossless.fps / sequential.fps, 2) if sequential.fps else 0.0,
        "sequential_threads": cores,
        "latency_p50_ms": realtime.latency(50), "latency_p95_ms": realtime.latency(95),
        "realtime": {"frames": realtime.frames, "fps": None if realtime.fps is None else round(realtime.fps, 2),
                     "drops": sum(s["drops"] for s in realtime.nodes.values())},
        "stages": [{"name": s.name, "nodes": list(s.nodes), "threads": s.threads} for s in runtime.plan.stages],
        "nodes": {node_id: {"stage": runtime.plan.stage_of(node_id).name, "ms_mean": stats["ms_mean"],
                            "ms_p95": stats["ms_p95"]} for node_id, stats in lossless.nodes.items()},
    }


def bench_chain(rounds: int = 200, threads: int = 1, registry: Registry | None = None,
                demo_frames: int | None = None, realtime_frames: int = REALTIME_FRAMES) -> dict:
    """The face chain with the default params (the detector's model on every second frame, tracking in
    between: the mean is the cost per frame), with the short-range detector, with the model on every
    frame (`detect_every` 1), with `detect_every` 2 named (the default again: the two differ by the
    machine's noise alone), and on tracking frames alone (the model runs on one frame in TRACK_EVERY;
    the median is a tracking frame's cost); then the demo chain (`demo_chain`)."""
    width, height = FRAME_SIZE
    registry = registry or default_registry()
    variants = {"default": {}, "short_range": {"model": "blazeface_short"}, "detect_every_1": {"detect_every": 1},
                "detect_every_2": {"detect_every": 2}, "tracking_frames": {"detect_every": TRACK_EVERY}}
    return {"frame": f"{width}x{height}, one face", "threads": threads, "rounds": rounds,
            "target_ms": TARGET_MS, **chain_times(variants, rounds, threads, registry),
            "demo_chain": demo_chain(demo_frames, realtime_frames, registry)}


def run(frames: int | None = None) -> dict:
    """`nodegraph bench chain [--frames N]`: N rounds of the face chain and N frames per run of the demo
    chain (the defaults when None)."""
    if timed_frames("chain", frames):
        return bench_chain(frames, demo_frames=frames, realtime_frames=frames)
    return bench_chain()


def summary(result: dict) -> str:
    lines = [f"face chain ({result['frame']}), {result['threads']} thread(s), {result['rounds']} rounds "
             f"(target: detector + marker + aligner <= {result['target_ms']:g} ms per frame)"]
    for name, key in (("default, mean per frame", "default"), ("short-range detector, mean", "short_range"),
                      ("detect_every 1, mean per frame", "detect_every_1"),
                      ("detect_every 2, mean per frame", "detect_every_2")):
        parts = ", ".join(f"{node} {t['mean_ms']:.2f}" for node, t in result[key]["nodes"].items())
        lines.append(f"  {name:34} {parts}; sum {result[key]['sum_mean_ms']:.2f} ms")
    tracking = result["tracking_frames"]
    parts = ", ".join(f"{node} {t['ms']:.2f}" for node, t in tracking["nodes"].items())
    lines.append(f"  {'tracking frame, median':34} {parts}; sum {tracking['sum_ms']:.2f} ms "
                 f"(CPU {tracking['sum_cpu_ms']:.2f} ms)")
    demo = result["demo_chain"]
    lines.append(f"demo chain ({demo['preset']}, {demo['frames']} frames; targets: >= {demo['target_fps']:g} fps "
                 f"lossless, latency p50 <= {demo['target_latency_p50_ms']:g} ms realtime)")
    lines.append(f"  lossless {demo['fps']:.1f} fps, sequential {demo['sequential_fps']:.1f} fps "
                 f"({demo['speedup']:.2f}x); realtime latency p50 {demo['latency_p50_ms']:.1f} ms, "
                 f"p95 {demo['latency_p95_ms']:.1f} ms ({demo['realtime']['frames']} frames, "
                 f"{demo['realtime']['drops']} dropped)")
    for stage in demo["stages"]:
        parts = ", ".join(f"{n} {demo['nodes'][n]['ms_mean']:.2f}/{demo['nodes'][n]['ms_p95']:.2f}"
                          for n in stage["nodes"])
        lines.append(f"  stage {stage['name']} ({stage['threads']} thread(s)), ms mean/p95: {parts}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(bench_chain(), indent=2))
