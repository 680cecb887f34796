"""Chain benchmark: milliseconds per node of the face chain (detector, marker, aligner) on one 640x480
frame with one face, the nodes made from the registry and run in this process the way a stage runs them.

The chain is named by node types (strings), so this module imports no face code. Each measurement is
one function returning a dict, and `bench_chain` puts them together; the swap chain's fps and latency
come in as further functions. Every variant of the chain runs once per round, interleaved, so a busy
machine slows them alike; wall time (median, mean, p90) and the process's CPU time (median) are both
reported: with one thread the CPU time leaves out the waits for a core that other processes hold,
though a loaded machine still inflates it (shared caches, hyper-threads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import cv2
import numpy as np

from ..node import Node
from ..paths import data_dir
from ..registry import Registry, default_registry

FRAME_SIZE = (640, 480)
PORTRAIT = ("media", "astronaut.png")  # inside the presets folder
# (node id, type, params) in chain order; every node after the first takes the frame and the faces
FACE_CHAIN = (("detector", "FaceDetector", {}), ("marker", "FaceMarker", {}), ("aligner", "FaceAligner", {}))
TARGET_MS = 10.0  # detector + marker + aligner for one face at 640x480
TRACK_EVERY = 60


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
    from ..runtime.worker import set_thread_budget

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


def bench_chain(rounds: int = 200, threads: int = 1, registry: Registry | None = None) -> dict:
    """The face chain with the default params, with the short-range detector, with the model on every
    second frame (`detect_every` 2: its mean is the cost per frame), and on tracking frames alone (the
    model runs on one frame in TRACK_EVERY; the median is a tracking frame's cost)."""
    width, height = FRAME_SIZE
    variants = {"default": {}, "short_range": {"model": "blazeface_short"},
                "detect_every_2": {"detect_every": 2}, "tracking_frames": {"detect_every": TRACK_EVERY}}
    return {"frame": f"{width}x{height}, one face", "threads": threads, "rounds": rounds,
            "target_ms": TARGET_MS, **chain_times(variants, rounds, threads, registry or default_registry())}


def summary(result: dict) -> str:
    lines = [f"face chain ({result['frame']}), {result['threads']} thread(s), median of "
             f"{result['rounds']} rounds (target: detector + marker + aligner <= {result['target_ms']:g} ms)"]
    for name, run in (("default", result["default"]), ("short-range detector", result["short_range"]),
                      ("tracking frame (detect_every > 1)", result["tracking_frames"])):
        parts = ", ".join(f"{node} {t['ms']:.2f}" for node, t in run["nodes"].items())
        lines.append(f"  {name:34} {parts}; sum {run['sum_ms']:.2f} ms (CPU {run['sum_cpu_ms']:.2f} ms)")
    every_2 = result["detect_every_2"]
    parts = ", ".join(f"{node} {t['mean_ms']:.2f}" for node, t in every_2["nodes"].items())
    lines.append(f"  {'detect_every 2, mean per frame':34} {parts}; sum {every_2['sum_mean_ms']:.2f} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(bench_chain(), indent=2))
