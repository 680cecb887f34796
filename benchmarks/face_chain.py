"""Milliseconds per stage of the face chain on one 640x480 frame with one face, on the CPU.

    python benchmarks/face_chain.py [--threads 1] [--iterations 300]

Stages run interleaved (one call of each per round), so a busy machine slows them alike. Printed:
median and 90th percentile of wall time, and the median CPU time of the process, which other
processes on a shared machine do not inflate (with one thread: the stage's time on a free core).
onnxruntime gets `--threads` intra-op threads and one inter-op thread (sessions from nodegraph.onnx,
as the pipeline makes them); OpenCV gets the same number of threads.

`nodegraph bench chain` measures the same nodes as they run in a graph.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from nodegraph.onnx import create_session
from nodes.face.align import align_face, hull_mask_in_crop
from nodes.face.blazeface import BlazeFace
from nodes.face.facemesh import FaceMesh, box_from_landmarks
from nodes.face.smoothing import OneEuroFilter

REPO = Path(__file__).resolve().parents[1]


def session(path: Path, threads: int):
    """A CPU session made the way the pipeline makes them (nodegraph.onnx: no spinning threads)."""
    return create_session(path, provider="cpu", threads=threads)


def frame_with_one_face() -> np.ndarray:
    canvas = np.full((480, 640, 3), 96, np.uint8)
    canvas[:, 80:560] = cv2.resize(cv2.imread(str(REPO / "presets" / "media" / "astronaut.png")), (480, 480))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op and OpenCV threads")
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    models = REPO / "models"
    frame = frame_with_one_face()

    full = BlazeFace(session(models / "blazeface_full.onnx", args.threads), model="full")
    short = BlazeFace(session(models / "blazeface_short.onnx", args.threads), model="short")
    mesh = FaceMesh(session(models / "facemesh.onnx", args.threads))

    faces = full.detect(frame)
    if len(faces) != 1:
        raise SystemExit(f"expected one face in the test frame, found {len(faces)}")
    box, keypoints = faces[0]["box"], faces[0]["keypoints"]
    points, _ = mesh.landmarks(frame, box, keypoints)
    smoother = OneEuroFilter()

    def align():
        crop, matrix = align_face(frame, points, coverage=2.2, resolution=224)
        hull_mask_in_crop(points, matrix, 224)

    stages = {
        "detector full (192)": lambda: full.detect(frame),
        "detector short (128)": lambda: short.detect(frame),
        "facemesh": lambda: mesh.landmarks(frame, box, keypoints),
        "track crop from landmarks": lambda: box_from_landmarks(points),
        "align 224 + hull mask": align,
        "one-euro 468x3": lambda: smoother(points, time.perf_counter()),
    }
    wall = {name: [] for name in stages}
    cpu = {name: [] for name in stages}
    for _ in range(20):
        for run in stages.values():
            run()
    load_before = os.getloadavg()[0]
    for _ in range(args.iterations):
        for name, run in stages.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append((time.perf_counter() - start_wall) * 1000)
            cpu[name].append((time.process_time() - start_cpu) * 1000)
    median = {name: float(np.median(t)) for name, t in wall.items()}
    median_cpu = {name: float(np.median(t)) for name, t in cpu.items()}

    print(
        f"640x480 frame, one face, CPU, onnxruntime {onnxruntime.__version__} with {args.threads} intra-op "
        f"thread(s), {args.iterations} rounds; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'stage':34} {'median ms':>10} {'p90 ms':>8} {'CPU ms':>8}")
    for name, t in wall.items():
        print(f"{name:34} {median[name]:10.2f} {np.percentile(t, 90):8.2f} {median_cpu[name]:8.2f}")
    chains = {
        "full detector + facemesh + align": ["detector full (192)", "facemesh", "align 224 + hull mask"],
        "short detector + facemesh + align": ["detector short (128)", "facemesh", "align 224 + hull mask"],
        "tracking frame (no detector)": ["track crop from landmarks", "facemesh", "align 224 + hull mask"],
    }
    print("sums (target: detector + marker + aligner <= 10 ms); CPU ms is the process's CPU time, which a")
    print("busy machine does not inflate: with 1 thread it is the wall time the stage takes on a free core")
    for name, parts in chains.items():
        print(
            f"  {name:58} {sum(median[p] for p in parts):6.2f} ms wall "
            f"{sum(median_cpu[p] for p in parts):6.2f} ms CPU"
        )


if __name__ == "__main__":
    main()
