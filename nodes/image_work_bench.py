"""Image-work benchmark (`nodegraph bench imagework`): milliseconds per paste-back (FaceMerger's cubic warp and
alpha blend) and per mesh-warp remap (MeshWarpSwapper's cubic remap), on OpenCV and on the onnxruntime graphs
of nodes/image_graphs.py with each provider that loads here (CPU, and CUDA where a GPU loads), at the demo's
sizes (640x480, a 256 px crop) and at 1080p (a 512 px crop). Each call includes what a node pays: on a GPU
provider, copying the inputs to the device and the result back.

Every way runs once per round, interleaved, so a busy machine slows them alike; the median counts, and each
way's ratio to OpenCV is from the same run. Both use the same threads (those of a stage with the whole
machine: every core this process may use).
"""

from __future__ import annotations

import os
import statistics
import time

import cv2
import numpy as np

from nodegraph import onnx as ng_onnx
from nodegraph.threads import available_cores

from .chain_bench import set_thread_budget, test_frame
from .face.blend import paste_back, refine_mask
from .image_work import ImageGraphs

ROUNDS = 30
# name: (frame size, crop side, face side in the frame (px))
SIZES = {"640x480": ((640, 480), 256, 200), "1920x1080": ((1920, 1080), 512, 450)}


def ways() -> list[str]:
    """opencv, onnxruntime on the CPU, and onnxruntime on each GPU provider that loads (not TensorRT: its
    engines take minutes to build)."""
    return ["opencv", "cpu", *[key for key in ng_onnx.gpu_providers() if key != "tensorrt"]]


def _inputs(frame_size, crop: int, face_side: float) -> dict:
    """A frame with the bundled portrait, its face's crop (turned 8 degrees), the merger's soft mask, the
    frame -> crop matrix, and mesh-warp-like maps (a turn and a ripple) into a texture twice the crop."""
    frame = test_frame(frame_size)
    width, height = frame_size
    scale, angle = crop / face_side, np.deg2rad(8.0)
    rotation = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    matrix = np.hstack([rotation, ((crop - 1) / 2 - rotation @ [width / 2, height / 2])[:, None]])
    face = cv2.warpAffine(frame, matrix, (crop, crop), flags=cv2.INTER_CUBIC)
    mask = np.zeros((crop, crop), np.float32)
    cv2.ellipse(mask, (crop // 2, crop // 2), (crop * 3 // 10, crop * 4 // 10), 0, 0, 360, 1.0, -1)
    texture = cv2.resize(face, (2 * crop, 2 * crop), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:crop, 0:crop].astype(np.float32)
    map_x = (2.0 * (np.cos(0.1) * xs - np.sin(0.1) * ys) + 6 * np.sin(ys / 11)).astype(np.float32)
    map_y = (2.0 * (np.sin(0.1) * xs + np.cos(0.1) * ys) + 20).astype(np.float32)
    return {"frame": frame, "face": face, "mask": refine_mask(mask, 10, 25), "matrix": matrix,
            "texture": texture, "map_x": map_x, "map_y": map_y}


def _work(way: str, graphs: ImageGraphs | None, data: dict) -> dict:
    """The two jobs of one way, as callables."""
    def paste():
        return paste_back(data["frame"], data["face"], data["mask"], data["matrix"], interpolation="cubic",
                          graphs=graphs)

    def remap():
        if graphs is None:
            return cv2.remap(data["texture"], data["map_x"], data["map_y"], cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REPLICATE)
        return graphs.remap(data["texture"], data["map_x"], data["map_y"], "cubic")

    return {"paste_back": paste, "remap": remap}


def bench_image_work(rounds: int = ROUNDS) -> dict:
    threads = available_cores()
    set_thread_budget(threads)
    chosen = ways()
    graphs = {way: None if way == "opencv" else ImageGraphs(f"bench {way}", provider=way) for way in chosen}
    results: dict[str, dict] = {}
    for size_name, (frame_size, crop, face_side) in SIZES.items():
        data = _inputs(frame_size, crop, face_side)
        jobs = {way: _work(way, graphs[way], data) for way in chosen}
        for job in ("paste_back", "remap"):
            times: dict[str, list[float]] = {way: [] for way in chosen}
            for way in chosen:  # warm: sessions made, caches and the device's memory pool filled
                for _ in range(3):
                    jobs[way][job]()
            for _ in range(rounds):
                for way in chosen:
                    start = time.perf_counter()
                    jobs[way][job]()
                    times[way].append((time.perf_counter() - start) * 1000.0)
            medians = {way: statistics.median(t) for way, t in times.items()}
            results[f"{job} {size_name} (crop {crop})"] = {
                way: {"ms_median": round(ms, 3), "vs_opencv": round(ms / medians["opencv"], 2)}
                for way, ms in medians.items()}
    return {"threads": threads, "rounds": rounds, "ways": chosen, "gpu_providers": ng_onnx.gpu_providers(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "cases": results}


def run(frames: int | None = None) -> dict:
    """`nodegraph bench imagework [--frames N]`: N rounds (default ROUNDS)."""
    return bench_image_work(frames or ROUNDS)


def summary(result: dict) -> str:
    lines = [f"image work, ms per call (median of {result['rounds']} interleaved rounds), {result['threads']} "
             f"thread(s), load average {'/'.join(map(str, result['load_average']))}; onnxruntime on: "
             f"{', '.join(w for w in result['ways'] if w != 'opencv')}"]
    for case, by_way in result["cases"].items():
        parts = ", ".join(f"{'opencv' if way == 'opencv' else 'onnxruntime-' + way} {r['ms_median']:.2f} ms"
                          + ("" if way == "opencv" else f" ({r['vs_opencv']:.2f}x)") for way, r in by_way.items())
        lines.append(f"  {case:32} {parts}")
    return "\n".join(lines)
