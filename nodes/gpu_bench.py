"""GPU benchmark (`nodegraph bench gpu`): the swap presets run as the multiprocess pipeline with each choice
of onnxruntime provider side by side (every model on the CPU, `auto`, and CUDA where it loads): the demo
chain at 640x480 and at 1080p, one face and two, lossless and realtime, and the demo chain with a stand-in
for inswapper_128 (its tensors and its compute: `nodes/standin_models.py`) at 1080p. The image work (the
merger's paste-back, the mesh warp) follows the choice: on the CPU with `cpu`, image_work auto (onnxruntime's
graphs where a GPU loads) otherwise; the `_opencv_images` cases run the demo chain with it on OpenCV, so that
what the image graphs gain is measured in the same run.

Each run gives fps, latency p50/p95/max after the first frame (which has a figure of its own), the time
from the start of the run to its first frame out, and ms per node (mean, p95 and its set-up). On a machine
without a GPU the CPU side is measured, the result says that no GPU was found, and the command exits 0.
Each run is said in one line as it ends. NODEGRAPH_BENCH_GPU_SECONDS bounds the benchmark's time (the GPU
machine is lent for minutes): a run is started only within it, and those left out are listed as skipped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2

from nodegraph import onnx as ng_onnx
from nodegraph import preset as presets
from nodegraph.bench import bench_log, not_interrupted, scratch_folder, timed_frames
from nodegraph.errors import InvalidInput, RunFailed
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry
from nodegraph.runtime import Runtime
from nodegraph.stats import percentile
from nodes.standin_models import inswapper_standin, recogniser_standin

FULL_HD = (1920, 1080)
# (name, preset, frame size or None for the clip's own, mode, frames)
CASES = (
    ("demo_640_lossless", "video_swap.json", None, "lossless", 300),
    ("demo_640_realtime", "video_swap.json", None, "realtime", 300),
    ("demo_1080_lossless", "video_swap.json", FULL_HD, "lossless", 300),
    ("demo_1080_realtime", "video_swap.json", FULL_HD, "realtime", 300),
    ("two_faces_lossless", "two_faces.json", None, "lossless", 300),
    ("two_faces_realtime", "two_faces.json", None, "realtime", 300),
    ("inswapper_standin_1080_lossless", "video_swap.json", FULL_HD, "lossless", 120),
)
# the demo chain with the image work on OpenCV whatever the providers (against demo_640_lossless and
# demo_1080_lossless, where it is on onnxruntime when a GPU loads); run only where a GPU loads, and not
# with provider cpu (the same run as the case's own)
OPENCV_IMAGE_CASES = (
    ("demo_640_lossless_opencv_images", "video_swap.json", None, "lossless", 300),
    ("demo_1080_lossless_opencv_images", "video_swap.json", FULL_HD, "lossless", 300),
)
CPU_FRAMES = 30  # frames per run where there is no GPU: the CPU side is measured, not the targets
# the stand-in with provider cpu, GPU or not: it takes seconds a frame on a CPU (12 s on 2 cores), so its
# 120 frames would take minutes of the GPU machine's time
CPU_STANDIN_FRAMES = 3
SECONDS_ENV = "NODEGRAPH_BENCH_GPU_SECONDS"


def case_frames(name: str, provider: str, gpu: bool, frames: int | None, own_frames: int) -> int:
    """Frames for one run: `frames` when given, else the case's own where a GPU loads, fewer where not, and
    a few for the stand-in on the CPU."""
    if frames:
        return frames
    if name.startswith("inswapper") and (provider == "cpu" or not gpu):
        return CPU_STANDIN_FRAMES
    return own_frames if gpu else CPU_FRAMES


def time_budget() -> float | None:
    """Seconds the benchmark may start runs in (NODEGRAPH_BENCH_GPU_SECONDS), None when not set."""
    value = os.environ.get(SECONDS_ENV, "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
        if seconds >= 0:
            return seconds
    except ValueError:
        pass
    raise InvalidInput(f"environment variable {SECONDS_ENV}={value!r} is not a number of seconds >= 0")


def provider_choices() -> list[str]:
    """cpu and auto, and each GPU provider that loads here (TensorRT left out: its engines take minutes)."""
    return ["cpu", "auto", *[key for key in ng_onnx.gpu_providers() if key != "tensorrt"]]


def scaled_clip(source: Path, size: tuple[int, int], folder: Path) -> Path:
    """`source` scaled to `size` (the benchmark's 1080p input), written once into `folder`."""
    target = folder / f"{source.stem}_{size[0]}x{size[1]}.mp4"
    if target.exists():
        return target
    reader = cv2.VideoCapture(str(source))
    fps = reader.get(cv2.CAP_PROP_FPS) or 30.0
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    try:
        while True:
            ok, frame = reader.read()
            if not ok:
                break
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
    finally:
        reader.release()
        writer.release()
    return target


def case_graph(preset_name: str, size, mode: str, provider: str, folder: Path, standin: tuple[Path, Path] | None,
               image_work: str | None = None):
    """The preset with its sources looped (and paced in realtime), its outputs in `folder`, every model on
    `provider`, the clip scaled to `size`, and with `standin` (swapper, recogniser) in place of the swapper.
    The image work goes to `image_work`, by default OpenCV with provider cpu and auto otherwise."""
    preset_path = data_dir("presets") / preset_name
    data = json.loads(preset_path.read_text())
    for node in data["nodes"]:
        params = node["params"]
        if node["type"] == "VideoSource":
            clip = preset_path.parent / params["path"]
            params.update(path=str(scaled_clip(clip, size, folder) if size else clip), loop=True,
                          realtime=mode == "realtime")
        elif node["type"] == "VideoFileOutput":
            params["path"] = str(folder / f"{node['id']}.mp4")
        elif node["type"] == "MeshWarpSwapper" and standin is not None:
            node["type"] = "InSwapper"
            node["params"] = {"identity": params["identity"], "model": str(standin[0]),
                              "recogniser": str(standin[1])}
    graph = presets.from_dict(data, str(preset_path), base_dir=preset_path.parent)
    registry = default_registry()
    image_work = image_work or ("opencv" if provider == "cpu" else "auto")
    for node_id, spec in graph.nodes.items():
        params = registry.get(spec.type).params
        if "provider" in params:
            graph.set_param(node_id, "provider", provider)
        if "image_work" in params:
            graph.set_param(node_id, "image_work", image_work)
    return graph


def run_case(graph, mode: str, frames: int) -> dict:
    runtime = Runtime(graph, frames=frames, mode=mode)
    started = time.monotonic()
    report = not_interrupted(runtime.run())
    wall = time.monotonic() - started
    if report.error:
        raise RunFailed(f"bench gpu: the run failed after {report.frames} frames: {report.error}")
    errors = {n: s["last_error"] for n, s in report.nodes.items() if s.get("errors")}
    latency = list(report.latency_ms)
    return {
        "frames": report.frames, "fps": round(report.fps, 2),
        # after the first frame, all three: with few frames, the first frame's set-up made p50 pass max
        "latency_p50_ms": round(percentile(latency[1:], 50), 2),
        "latency_p95_ms": round(percentile(latency[1:], 95), 2),
        "latency_max_ms": round(max(latency[1:], default=0.0), 2),
        "first_frame_latency_ms": round(latency[0], 2) if latency else None,
        # set-up and shutdown: the run's wall time less the time from its start to its last frame out
        "startup_and_close_s": round(wall - report.elapsed_s, 2),
        "drops": sum(s["drops"] for s in report.nodes.values()),
        "first_frame_ms": None if report.first_frame_ms is None else round(report.first_frame_ms, 1),
        "node_errors": errors,
        "nodes": {n: {"ms_mean": s["ms_mean"], "ms_p95": s["ms_p95"], "startup_ms": s["startup_ms"]}
                  for n, s in report.nodes.items()},
    }


def add_ratios_to_cpu(rows: dict[str, dict]) -> None:
    """Each provider's fps as a ratio to the cpu's in the same run (`fps_vs_cpu`), where the cpu ran."""
    cpu_fps = rows.get("cpu", {}).get("fps")
    for provider, row in rows.items():
        if cpu_fps and provider != "cpu":
            row["fps_vs_cpu"] = round(row["fps"] / cpu_fps, 2)


def bench_gpu(frames: int | None = None, seconds: float | None = None) -> dict:
    """Every case with every provider choice; a run is started only within `seconds` of the start (the
    others are listed in `skipped`)."""
    gpus = ng_onnx.gpu_providers()
    choices = provider_choices()
    results: dict[str, dict] = {}
    skipped: list[str] = []
    deadline = None if seconds is None else time.monotonic() + seconds
    with scratch_folder("nodegraph-bench-gpu-") as folder:
        standin = None  # (swapper, recogniser), written when a run needs them: 554 MB
        for name, preset_name, size, mode, own_frames in CASES + (OPENCV_IMAGE_CASES if gpus else ()):
            is_standin = name.startswith("inswapper")
            image_work = "opencv" if name.endswith("_opencv_images") else None
            results[name] = {}
            for provider in choices:  # interleaved per case: a busy machine slows the choices alike
                if image_work == "opencv" and provider == "cpu":
                    continue  # the case itself, whose cpu run has its image work on OpenCV already
                if deadline is not None and time.monotonic() >= deadline:
                    skipped.append(f"{name} {provider}")
                    continue
                if is_standin and standin is None:
                    standin = (inswapper_standin(folder / "inswapper_standin.onnx"),
                               recogniser_standin(folder / "recogniser_standin.onnx"))
                graph = case_graph(preset_name, size, mode, provider, folder, standin if is_standin else None,
                                   image_work)
                row = results[name][provider] = run_case(graph, mode,
                                                         case_frames(name, provider, bool(gpus), frames, own_frames))
                bench_log.info("bench gpu: %s %s: %.1f fps, latency p50/p95/max %.1f/%.1f/%.1f ms, first frame "
                               "after %s ms", name, provider, row["fps"], row["latency_p50_ms"],
                               row["latency_p95_ms"], row["latency_max_ms"], row["first_frame_ms"])
            add_ratios_to_cpu(results[name])
    if skipped:
        bench_log.warning("bench gpu: out of its %s s (%s): %d runs skipped", seconds, SECONDS_ENV, len(skipped))
    return {"gpu_providers": gpus, "gpu": bool(gpus),
            "note": None if gpus else "no GPU found: only the CPU side was measured",
            "providers": choices, "cases": {name: rows for name, rows in results.items() if rows},
            "skipped": skipped}


def run(frames: int | None = None) -> dict:
    """`nodegraph bench gpu [--frames N]`, within NODEGRAPH_BENCH_GPU_SECONDS where set."""
    return bench_gpu(timed_frames("gpu", frames), time_budget())


def summary(result: dict) -> str:
    lines = [f"GPU providers that load here: {', '.join(result['gpu_providers']) or 'none'}"]
    if result["note"]:
        lines.append(result["note"])
    if result["skipped"]:
        lines.append(f"skipped (out of time): {', '.join(result['skipped'])}")
    for name, by_provider in result["cases"].items():
        lines.append(name)
        for provider, r in by_provider.items():
            slowest = max(r["nodes"].items(), key=lambda item: item[1]["ms_mean"])
            vs_cpu = f" ({r['fps_vs_cpu']:.2f}x cpu's)" if "fps_vs_cpu" in r else ""
            lines.append(f"  {provider:5} {r['fps']:7.1f} fps{vs_cpu}, latency p50/p95/max {r['latency_p50_ms']:.1f}/"
                         f"{r['latency_p95_ms']:.1f}/{r['latency_max_ms']:.1f} ms, start+close "
                         f"{r['startup_and_close_s']:.1f} s, {r['drops']} dropped; slowest node {slowest[0]} "
                         f"{slowest[1]['ms_mean']:.1f} ms")
    return "\n".join(lines)
