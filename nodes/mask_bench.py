"""Mask and enhancer benchmark (`nodegraph bench masks`): CPU ms per frame of FaceMask (landmark regions,
an occluder, a face parser), FaceEnhancer (at 512 and 256 px) and the FaceMerger with and without a mask,
on one 640x480 frame with one face, one thread each, nodes run in this process as a stage runs them.

FaceFusion's weights cannot be had here, so the occluder, parser and enhancers are stand-ins with the
real tensors (`nodes/standin_restorers.py`); each row says its stand-in's multiply-adds. The landmark mask
and the merger are the real thing. Every case runs once per round, interleaved, so a busy machine slows
them alike; the median of the rounds is reported.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from nodes.chain_bench import set_thread_budget, test_frame
from nodes.detect import FaceDetector
from nodes.enhance import FaceEnhancer
from nodes.face.align import template_matrix
from nodes.face_mask import FaceMask
from nodes.landmarks import FaceMarker
from nodes.merge import FaceMerger
from nodes.standin_restorers import enhancer_standin, gmacs, occluder_standin, parser_standin
from nodes.swap_common import five_points

ROUNDS = 15


def _faces(frame: np.ndarray) -> list[dict]:
    detector, marker = FaceDetector("detector"), FaceMarker("marker")
    detector.setup()
    marker.setup()
    faces = marker.process(frame=frame, faces=detector.process(frame=frame)["faces"])["faces"]
    if not faces:
        raise RuntimeError("the benchmark portrait gave no face")
    return faces


def _swapped(frame: np.ndarray, face: dict) -> dict:
    """The face with a 128 px 'swap' (its own crop, grey-shifted) so the merger has something to paste."""
    matrix = template_matrix(five_points(face), "arcface_128", 128).astype(np.float32)
    crop = cv2.warpAffine(frame, matrix.astype(np.float64), (128, 128))
    return {**face, "swap": (crop // 2 + 64).astype(np.uint8), "swap_matrix": matrix,
            "swap_mask": np.ones((128, 128), np.float32)}


def run(frames: int | None = None) -> dict:
    rounds = frames or ROUNDS
    set_thread_budget(1)
    frame = test_frame()
    faces = _faces(frame)
    swapped = [_swapped(frame, faces[0])]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        occluder, occluder_macs = occluder_standin(folder / "xseg_standin.onnx")
        parser, parser_macs = parser_standin(folder / "bisenet_standin.onnx")
        enhancer512, e512_macs = enhancer_standin(folder / "enhancer512_standin.onnx", 512)
        enhancer256, e256_macs = enhancer_standin(folder / "enhancer256_standin.onnx", 256)
        mask_landmarks = FaceMask("mask")
        cases = {
            "mask_landmarks": (mask_landmarks, {"frame": frame, "faces": faces}, None),
            "mask_occluder": (FaceMask("occ", {"occluder": str(occluder), "landmark_regions": ""}),
                              {"frame": frame, "faces": faces}, occluder_macs),
            "mask_parser": (FaceMask("par", {"parser": str(parser), "landmark_regions": ""}),
                            {"frame": frame, "faces": faces}, parser_macs),
            "enhancer_512": (FaceEnhancer("e512", {"model": str(enhancer512)}), {"frame": frame, "faces": faces},
                             e512_macs),
            "enhancer_256": (FaceEnhancer("e256", {"model": str(enhancer256), "template": "arcface_128"}),
                             {"frame": frame, "faces": faces}, e256_macs),
        }
        for node, _, _ in cases.values():
            node.setup()
        mask = mask_landmarks.process(frame=frame, faces=faces)["mask"]
        merger = FaceMerger("merger")
        cases["merger"] = (merger, {"frame": frame, "faces": swapped}, None)
        cases["merger_with_mask"] = (merger, {"frame": frame, "faces": swapped, "mask": mask}, None)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds + 1):  # the first round warms up and is dropped
            for name, (node, inputs, _) in cases.items():
                start = time.perf_counter()
                node.process(**inputs)
                times[name].append((time.perf_counter() - start) * 1000.0)
    result = {name: {"ms_median": round(float(np.median(t[1:])), 2),
                     "ms_p90": round(float(np.percentile(t[1:], 90)), 2),
                     "standin_gmacs": None if macs is None else gmacs(macs)}
              for (name, (_, _, macs)), t in zip(cases.items(), times.values(), strict=True)}
    result["merger_mask_ratio"] = round(result["merger_with_mask"]["ms_median"] / result["merger"]["ms_median"], 2)
    result["frame"], result["faces"], result["threads"], result["rounds"] = "640x480", len(faces), 1, rounds
    return result


def summary(result: dict) -> str:
    lines = [f"one {result['frame']} frame, {result['faces']} face, {result['threads']} thread, "
             f"median of {result['rounds']} rounds:"]
    for name, row in result.items():
        if isinstance(row, dict):
            standin = f"  (stand-in, {row['standin_gmacs']} G multiply-adds)" if row["standin_gmacs"] else ""
            lines.append(f"  {name:18s} {row['ms_median']:8.2f} ms  p90 {row['ms_p90']:8.2f} ms{standin}")
    lines.append(f"  the merger with a FaceMask's mask takes {result['merger_mask_ratio']}x its time without")
    return "\n".join(lines)
