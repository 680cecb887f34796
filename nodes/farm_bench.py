"""`nodegraph bench farm`: the built-in face swap (presets/video_swap.json) over one long input, by
`nodegraph run` (the multiprocess runtime, every core) and by `nodegraph farm` on a local Ray of this machine,
with all its cores and with one. Ray's start-up is measured apart from the render, so the overhead ratio is
that of the farm's way of working (chunks, warm-up frames, one set-up per chunk, the join), not of starting
Ray. The farm's frames are compared with the run's
(both lossless). One entry point: run(frames)."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from nodegraph import preset as presets
from nodegraph.bench import not_interrupted, scratch_folder
from nodegraph.paths import data_dir

from .video_io import VideoWriter
from .video_read import VideoReader

FRAMES = 1800  # 60 s at 30 fps: two chunks of the default 30 s, one a core here
CHUNK_SECONDS = 30.0


def long_input(folder: Path, frames: int) -> str:
    """The demo clip played over and over for `frames` frames, encoded once (h264, crf 18)."""
    path = folder / "long_input.mp4"
    demo = str(data_dir("presets") / "media" / "demo.mp4")
    writer = VideoWriter(str(path), ".mp4", "h264", 30.0, 18, "veryfast", False, None, None, str(path))
    while writer.frames < frames:
        reader = VideoReader(demo)
        for image, _ in iter(reader.read, None):
            if writer.frames < frames:
                writer.write(image)
        reader.close()
    writer.close()
    return str(path)


def video_swap(source: str, output: str):
    """The built-in swap, written losslessly (FFV1), so the farm's frames can be compared with the run's."""
    graph = presets.load(data_dir("presets") / "video_swap.json")
    graph.set_param("source", "path", source)
    graph.set_param("output", "path", output)
    graph.set_param("output", "codec", "ffv1")
    return graph


def compare(run_file: str, farm_file: str) -> dict:
    """How close the farm's frames are to the run's: how many are identical, and the PSNR of the others."""
    run_frames, farm_frames = VideoReader(run_file), VideoReader(farm_file)
    identical, psnrs, count = 0, [], 0
    for (a, _), (b, _) in zip(iter(run_frames.read, None), iter(farm_frames.read, None), strict=True):
        count += 1
        if np.array_equal(a, b):
            identical += 1
        else:
            psnrs.append(cv2.PSNR(a, b))
    run_frames.close()
    farm_frames.close()
    return {"frames": count, "identical": identical, "psnr_min_db": round(min(psnrs), 2) if psnrs else None,
            "psnr_mean_db": round(float(np.mean(psnrs)), 2) if psnrs else None}


def time_run(source: str, folder: Path) -> float:
    """Seconds of `nodegraph run` on the input, set-up (models loaded) included."""
    from nodegraph.runtime import Runtime

    start = time.perf_counter()
    report = not_interrupted(Runtime(video_swap(source, str(folder / "run.mkv")), mode="lossless").run())
    seconds = time.perf_counter() - start
    if report.error:
        raise RuntimeError(report.error)
    return seconds


def time_farm(source: str, folder: Path, cpus: int) -> dict:
    """A farm run on a local Ray of `cpus` cores that this run starts (and stops)."""
    from nodegraph.farm.run import run_farm

    out = folder / f"farm{cpus}"
    start = time.perf_counter()
    report = run_farm(video_swap(source, "unused.mkv"), [source], str(out), chunk_seconds=CHUNK_SECONDS, cpus=cpus)
    total = time.perf_counter() - start
    # run_farm caught the Ctrl-C to report it (one after every output was written too): the benchmark stops
    if report.interrupted or report.ctrl_c_after_outputs:
        raise KeyboardInterrupt
    if report.error:
        raise RuntimeError(report.error)
    record = report.to_json()
    chunks = record["inputs"][0]["chunks"]
    return {"cpus": cpus, "total_s": round(total, 2), "ray_start_s": round(report.ray_start_s, 2),
            "render_s": round(total - report.ray_start_s, 2), "join_s": record["inputs"][0]["join_s"],
            "chunks": len(chunks), "chunk_s": [c["seconds"] for c in chunks],
            "chunks_per_worker_process": sorted(Counter(c["pid"] for c in chunks).values(), reverse=True)}


def run(frames: int | None = None) -> dict:
    count = frames or FRAMES
    cores = os.cpu_count() or 1
    with scratch_folder("nodegraph-bench-farm-") as folder:
        source = long_input(folder, count)
        run_s = time_run(source, folder)
        every_core = time_farm(source, folder, cores)
        one_core = time_farm(source, folder, 1)
        same = compare(str(folder / "run.mkv"), str(folder / f"farm{cores}" / "long_input.mkv"))
    return {"frames": count, "cores": cores, "load_average": [round(x, 2) for x in os.getloadavg()],
            "run_s": round(run_s, 2), "farm": every_core, "farm_one_worker": one_core,
            "overhead_vs_run": round(every_core["render_s"] / run_s - 1, 3),
            "overhead_with_ray_start": round(every_core["total_s"] / run_s - 1, 3),
            "speedup_every_core_vs_one": round(one_core["render_s"] / every_core["render_s"], 2),
            "farm_vs_run_frames": same}


def summary(result: dict) -> str:
    farm, one, same = result["farm"], result["farm_one_worker"], result["farm_vs_run_frames"]
    return "\n".join([
        f"farm, video_swap over {result['frames']} frames of the demo clip looped, {result['cores']} cores "
        f"(load average after: {', '.join(map(str, result['load_average']))})",
        f"  nodegraph run (multiprocess, set-up included): {result['run_s']:.1f} s",
        f"  nodegraph farm, local Ray with {farm['cpus']} cores: {farm['render_s']:.1f} s rendering and joining "
        f"({farm['chunks']} chunks, join {farm['join_s']:.2f} s) + {farm['ray_start_s']:.1f} s starting Ray",
        f"  farm overhead vs run: {result['overhead_vs_run']:+.1%} without Ray's start-up, "
        f"{result['overhead_with_ray_start']:+.1%} with it",
        f"  chunks per worker process: {farm['chunks_per_worker_process']} with {farm['cpus']} cores, "
        f"{one['chunks_per_worker_process']} with 1; 1 core {one['render_s']:.1f} s, so "
        f"{result['speedup_every_core_vs_one']:.2f}x faster on {farm['cpus']}",
        f"  farm's frames vs run's (both FFV1): {same['identical']} of {same['frames']} identical"
        + (f"; the others {same['psnr_min_db']} dB PSNR at worst, {same['psnr_mean_db']} dB on average"
           if same["psnr_min_db"] is not None else ""),
    ])
