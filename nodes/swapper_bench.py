"""Swapper benchmark (`nodegraph bench swappers`): ms per frame of each neural swapper on one face of a
640x480 frame, the node run in this process the way a stage runs it, at its native size and with pixel boost.

The real weights cannot be had here, so each model is a stand-in with its tensors, layers and compute and
random weights (`nodes/standin_models.py`, `nodes/standin_swappers.py`): inswapper_128 174, HyperSwap 32,
simswap_256 63 and simswap_unofficial_512 133 billion multiply-adds per run; pixel boost k runs it k x k
times. Every case runs once per round, interleaved, so a busy machine slows them alike; ratios are to
InSwapper at 128 px in the same run. Each GPU provider that loads here is measured beside the CPU.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from nodegraph import onnx as ng_onnx
from nodegraph.paths import data_dir

from .chain_bench import test_frame
from .face.blazeface import BlazeFace
from .face.facemesh import FaceMesh
from .hyperswap import HyperSwapper
from .simswap import SimSwapper
from .standin_models import inswapper_standin, recogniser_standin
from .standin_swappers import converter_standin, hyperswap_standin, simswap_standin
from .swap import InSwapper

ROUNDS = 3  # measured frames per case (after one warm-up frame), on the CPU
GPU_ROUNDS = 20
# (name, node type, stand-in model key, pixel boost)
CASES = (
    ("inswapper_128", InSwapper, "inswapper", "native"),
    ("inswapper_128_boost_256", InSwapper, "inswapper", "256"),
    ("hyperswap_256", HyperSwapper, "hyperswap", "native"),
    ("hyperswap_256_boost_512", HyperSwapper, "hyperswap", "512"),
    ("simswap_256", SimSwapper, "simswap_256", "native"),
    ("simswap_256_boost_512", SimSwapper, "simswap_256", "512"),
    ("simswap_512", SimSwapper, "simswap_512", "native"),
)
log = logging.getLogger("nodegraph")


def standins(folder: Path) -> dict[str, str]:
    return {key: str(build(folder / f"{key}_standin.onnx")) for key, build in (
        ("inswapper", inswapper_standin), ("recogniser", recogniser_standin), ("hyperswap", hyperswap_standin),
        ("simswap_256", simswap_standin), ("simswap_512", lambda p: simswap_standin(p, 512)),
        ("converter", converter_standin))}


def one_face(frame: np.ndarray) -> list[dict]:
    detection = max(BlazeFace().detect(frame), key=lambda d: d["score"])
    landmarks, _ = FaceMesh().landmarks(frame, detection["box"], detection["keypoints"])
    return [{**detection, "landmarks": landmarks}]


def make_node(node_type, model: str, boost: str, models: dict[str, str], provider: str):
    params = {"identity": str(data_dir("presets") / "media" / "astronaut.png"), "model": models[model],
              "recogniser": models["recogniser"], "pixel_boost": boost, "provider": provider}
    if node_type is SimSwapper:
        params["converter"] = models["converter"]
    node = node_type("swap", params)
    node.setup()
    return node


def bench_swappers(rounds: int | None = None) -> dict:
    gpus = [key for key in ng_onnx.gpu_providers() if key != "tensorrt"]
    frame = test_frame()
    faces = one_face(frame)
    results: dict[str, dict] = {}
    frames_per_case: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="nodegraph-bench-swappers-") as tmp:
        log.info("bench swappers: building the stand-in models")
        models = standins(Path(tmp))
        for provider in ["cpu", *gpus]:
            count = frames_per_case[provider] = rounds or (GPU_ROUNDS if provider != "cpu" else ROUNDS)
            nodes = {name: make_node(t, model, boost, models, provider) for name, t, model, boost in CASES}
            times: dict[str, list[float]] = {name: [] for name in nodes}
            for round_index in range(count + 1):
                round_started = time.perf_counter()
                for name, node in nodes.items():
                    started = time.perf_counter()
                    out = node.process(frame=frame, faces=faces)["faces"][0]
                    if out["swap"].shape[0] != node.crop_size:
                        raise RuntimeError(f"bench swappers: {name} gave a {out['swap'].shape[0]} px swap, "
                                           f"not {node.crop_size} px")
                    if round_index:  # the first round warms up
                        times[name].append((time.perf_counter() - started) * 1000)
                # a round of the seven cases takes about half a minute on 2 CPU cores: say that it goes on
                log.info("bench swappers: %s %s done in %.1f s", provider,
                         f"round {round_index} of {count}" if round_index else "warm-up",
                         time.perf_counter() - round_started)
            base = float(np.median(times["inswapper_128"]))
            results[provider] = {name: {"ms_median": round(float(np.median(t)), 1), "ms_min": round(min(t), 1),
                                        "swap_px": nodes[name].crop_size,
                                        "ratio_to_inswapper_128": round(float(np.median(t)) / base, 2)}
                                 for name, t in times.items()}
    return {"providers": results, "frames_per_case": frames_per_case, "gpu_providers": gpus,
            "cpu_cores": os.cpu_count(), "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "note": "stand-in models with the real tensors, layers and compute, random weights"}


def run(frames: int | None = None) -> dict:
    """`nodegraph bench swappers [--frames N]`: N measured frames per case (default 3 on the CPU, 20 on a GPU)."""
    return bench_swappers(frames)


def summary(result: dict) -> str:
    lines = [f"{result['note']}; {result['cpu_cores']} cores, load average after "
             f"{', '.join(map(str, result['load_average_after']))}"]
    for provider, cases in result["providers"].items():
        lines.append(f"{provider}: ms per frame, median (min) of {result['frames_per_case'][provider]} frames a "
                     f"case; x: the median's ratio to inswapper_128's")
        for name, r in cases.items():
            lines.append(f"  {name:26} {r['swap_px']:5d} px  {r['ms_median']:9.1f} ms ({r['ms_min']:.1f})"
                         f"  x{r['ratio_to_inswapper_128']:.2f}")
    return "\n".join(lines)
