"""Swapper benchmark (`nodegraph bench swappers`): ms per frame of each neural swapper on one face of a
640x480 frame, the node run in this process the way a stage runs it, at its native size and with pixel boost.

The real weights cannot be had here, so each model is a stand-in with its tensors, layers and compute and
random weights (`nodes/standin_models.py`, `nodes/standin_swappers.py`): inswapper_128 174, HyperSwap 32,
simswap_256 63 and simswap_unofficial_512 133 billion multiply-adds per run; pixel boost k runs it k x k
times. Every case runs once per round, interleaved, so a busy machine slows them alike; ratios are to
InSwapper at 128 px in the same run. Each GPU provider that loads here is measured beside the CPU.

GHOST, HiFiFace, UniFace and BlendSwap are measured with the tests' stand-ins, which have the real files'
tensors but not their networks (no public source describes those exports layer by layer): their figures
are the node's own work around the model (crop, identity, paste-back data), not the model's, and the
output says so on their lines.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from nodegraph import onnx as ng_onnx
from nodegraph.bench import bench_log
from nodegraph.paths import data_dir

from .chain_bench import test_frame
from .face.blazeface import BlazeFace
from .face.facemesh import FaceMesh
from .ghost import GhostSwapper
from .hififace import HiFiFaceSwapper
from .hyperswap import HyperSwapper
from .portrait_swap import BlendSwapper, UniFaceSwapper
from .simswap import SimSwapper
from .standin_models import inswapper_standin, recogniser_standin
from .standin_swappers import (
    converted_swapper_model,
    converter_standin,
    hyperswap_standin,
    portrait_crop_swapper_model,
    simswap_standin,
)
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
    ("ghost_256", GhostSwapper, "ghost", "native"),
    ("hififace_256", HiFiFaceSwapper, "hififace", "native"),
    ("uniface_256", UniFaceSwapper, "uniface", "native"),
    ("blendswap_256", BlendSwapper, "blendswap", "native"),
)
STANDINS = {
    "inswapper": inswapper_standin, "recogniser": recogniser_standin, "hyperswap": hyperswap_standin,
    "simswap_256": simswap_standin, "simswap_512": lambda path: simswap_standin(path, 512),
    "converter": converter_standin, "ghost": converted_swapper_model,
    "hififace": lambda path: converted_swapper_model(path, mask_output=True),
    "uniface": lambda path: portrait_crop_swapper_model(path, 256),
    "blendswap": lambda path: portrait_crop_swapper_model(path, 112),
}
TENSORS_ONLY = {"ghost", "hififace", "uniface", "blendswap"}  # stand-ins without the real network's compute
TENSORS_ONLY_NOTE = "tensors-only stand-in: the node's own work, not the model's"


def standins(folder: Path, cases=CASES) -> dict[str, str]:
    """The stand-in models `cases` run, with the recogniser and converter, as files in `folder`."""
    keys = {"recogniser", "converter", *(key for _, _, key, _ in cases)}
    return {key: str(STANDINS[key](folder / f"{key}_standin.onnx")) for key in sorted(keys)}


def one_face(frame: np.ndarray) -> list[dict]:
    detection = max(BlazeFace().detect(frame), key=lambda d: d["score"])
    landmarks, _ = FaceMesh().landmarks(frame, detection["box"], detection["keypoints"])
    return [{**detection, "landmarks": landmarks}]


def make_node(node_type, model: str, boost: str, models: dict[str, str], provider: str):
    params = {"identity": str(data_dir("presets") / "media" / "astronaut.png"), "model": models[model],
              "pixel_boost": boost, "provider": provider}
    params.update({name: models[name] for name in ("recogniser", "converter") if name in node_type.params})
    node = node_type("swap", params)
    node.setup()
    return node


def measure(cases, models: dict[str, str], frame: np.ndarray, faces: list[dict], provider: str,
            count: int) -> dict[str, dict]:
    """ms per frame of each case on `provider`, over `count` rounds after a warm-up one; each round runs every
    case once, so a busy machine slows them alike."""
    nodes = {name: make_node(t, model, boost, models, provider) for name, t, model, boost in cases}
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
        # a round of the cases takes about half a minute on 2 CPU cores: say that it goes on
        bench_log.info("bench swappers: %s %s done in %.1f s", provider,
                       f"round {round_index} of {count}" if round_index else "warm-up",
                       time.perf_counter() - round_started)
    return {name: {"ms_median": round(float(np.median(times[name])), 1), "ms_min": round(min(times[name]), 1),
                   "swap_px": nodes[name].crop_size, "tensors_only": key in TENSORS_ONLY}
            for name, _, key, _ in cases}


def bench_swappers(rounds: int | None = None) -> dict:
    gpus = [key for key in ng_onnx.gpu_providers() if key != "tensorrt"]
    frame = test_frame()
    faces = one_face(frame)
    results: dict[str, dict] = {}
    frames_per_case: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="nodegraph-bench-swappers-") as tmp:
        bench_log.info("bench swappers: building the stand-in models")
        models = standins(Path(tmp))
        for provider in ["cpu", *gpus]:
            count = frames_per_case[provider] = rounds or (GPU_ROUNDS if provider != "cpu" else ROUNDS)
            cases = results[provider] = measure(CASES, models, frame, faces, provider, count)
            base = cases["inswapper_128"]["ms_median"]
            for case in cases.values():  # none for a tensors-only stand-in: its model costs nothing
                case["ratio_to_inswapper_128"] = None if case["tensors_only"] else round(case["ms_median"] / base, 2)
    return {"providers": results, "frames_per_case": frames_per_case, "gpu_providers": gpus,
            "cpu_cores": os.cpu_count(), "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "note": "stand-in models with the real tensors, layers and compute, random weights, but for the "
                    f"lines marked '{TENSORS_ONLY_NOTE}'"}


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
            ratio = r.get("ratio_to_inswapper_128")
            lines.append(f"  {name:26} {r['swap_px']:5d} px  {r['ms_median']:9.1f} ms ({r['ms_min']:.1f})  "
                         + (f"  -  ({TENSORS_ONLY_NOTE})" if ratio is None else f"x{ratio:.2f}"))
    return "\n".join(lines)
