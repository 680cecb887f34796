"""Swap quality benchmark: `nodegraph bench quality`. The built-in swap chain of presets/video_swap.json
(its nodes and params, run in this process frame by frame) on three driver/identity pairs
(nodes.quality_pairs), measured per frame (nodes.quality_measures) against the issue-19 targets:

- expression: landmark NME of the output against the driver, by an independent landmark pass (dlib's
  68 points, in the box dlib's detector finds on the driver), <= 0.03
- identity: the output nearer the identity than the driver by dlib's recogniser on >= 95% of frames
- colour: no a*b* colour that neither input's face has: under 1% of the output's skin and lips outside
  both the range that holds 99.5% of the driver's and of the identity's; in every colour-transfer mode
  (the other modes on every COLOUR_EVERY-th frame)
- seam: gradient across the paste mask's border <= 1.2x the driver frame's own
- detail: Laplacian variance of the face's skin (not the mouth and eyes) >= 0.7x the identity's at the
  same scale

The NME is also given by region of dlib's points (jaw, brows, nose, eyes, mouth), and the expression and
identity figures once more for the chain with a FaceMask of FaceMesh regions (MASK_REGIONS: the driver's
own brows kept) into the merger's `mask`.

The chain sees every frame of each clip, as its trackers and smoothing expect; every MEASURE_EVERY-th is
measured. It writes a picture sheet (driver | output | identity, two frames per pair) to SHEET_PATH.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from nodegraph import preset as presets
from nodegraph.output_files import write_atomically
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry

from .face.blend import refine_mask
from .face.color_transfer import MODES
from .merge import merge_mask
from .quality_measures import (
    REGIONS68,
    ChromaRange,
    IdentityJudge,
    LandmarkPass,
    colour_region,
    detail_ratio,
    foreign_colour,
    landmark_errors,
    seam_ratio,
)
from .quality_pairs import Pair, make_pairs

PRESET = "video_swap.json"
FRAMES = 120  # per pair, all run through the chain; every MEASURE_EVERY-th is measured
MEASURE_EVERY = 3
COLOUR_EVERY = 12  # the other colour modes' frames
SHEET_PATH = Path("out") / "quality_sheet.png"
SHEET_TILE = 200
MASK_REGIONS = "face, -brows"  # FaceMask's landmark_regions in the masked chain
TARGETS = {"nme": 0.03, "identity_share": 0.95, "foreign_colour": 0.01, "seam": 1.2, "detail": 0.7}


class SwapChain:
    """The preset's nodes between its source and its output, run in order on one frame at a time; the
    colour transfer and the merger once more per extra colour mode."""

    def __init__(self, identity: Path, modes: list[str]):
        graph = presets.load(data_dir("presets") / PRESET)
        registry = default_registry()
        self.order, self.links, self.nodes = [], {}, {}
        for node_id in graph.topological_order():
            spec = graph.nodes[node_id]
            if spec.type in ("VideoSource", "VideoFileOutput"):
                self.source = node_id if spec.type == "VideoSource" else getattr(self, "source", None)
                continue
            params = dict(spec.params)
            if spec.type == "MeshWarpSwapper":
                params["identity"] = str(identity)
            self.order.append(node_id)
            self.nodes[node_id] = self._open(registry, node_id, spec.type, params)
            self.links[node_id] = {link.dst_port: (link.src, link.src_port) for link in graph.links_into(node_id)}
        self.colour_id = next(i for i in self.order if graph.nodes[i].type == "ColorTransfer")
        self.merger_id = next(i for i in self.order if graph.nodes[i].type == "FaceMerger")
        merger_params = dict(graph.nodes[self.merger_id].params)
        self.masker = self._open(registry, "mask", "FaceMask", {"landmark_regions": MASK_REGIONS})
        self.masked_merger = self._open(registry, "masked_merger", "FaceMerger", merger_params)
        self.variants = {mode: (self._open(registry, "colour", "ColorTransfer", {"mode": mode}),
                                self._open(registry, "merger", "FaceMerger", merger_params))
                         for mode in modes}

    @staticmethod
    def _open(registry, node_id, type_name, params):
        node = registry.get(type_name)(node_id, params)
        node.setup()
        return node

    def __call__(self, frame: np.ndarray) -> dict[str, dict]:
        """Every node's outputs for one frame, by node id."""
        outputs = {self.source: {"frame": frame}}
        for node_id in self.order:
            inputs = {port: outputs[src][src_port] for port, (src, src_port) in self.links[node_id].items()}
            outputs[node_id] = self.nodes[node_id].process(**inputs)
        return outputs

    def other_mode(self, mode: str, frame: np.ndarray, outputs: dict) -> np.ndarray:
        colour, merger = self.variants[mode]
        faces = outputs[self.order[self.order.index(self.colour_id) - 1]]["faces"]
        return merger.process(frame=frame, faces=colour.process(frame=frame, faces=faces)["faces"])["frame"]

    def masked(self, frame: np.ndarray, outputs: dict) -> np.ndarray:
        """The output frame merged under the FaceMask of MASK_REGIONS."""
        faces = outputs[self.colour_id]["faces"]
        mask = self.masker.process(frame=frame, faces=faces)["mask"]
        return self.masked_merger.process(frame=frame, faces=faces, mask=mask)["frame"]

    def paste_alpha(self, outputs: dict, shape: tuple[int, ...]) -> np.ndarray:
        """The merger's mask of every face, in the frame (the larger where faces overlap)."""
        merger = self.nodes[self.merger_id]
        alpha = np.zeros(shape[:2], np.float32)
        for face in outputs[self.colour_id]["faces"]:
            mask = merge_mask(face, merger.mask)
            if mask is not None:
                mask = refine_mask(mask, merger.erode, merger.blur)
                warped = cv2.warpAffine(mask, np.asarray(face["swap_matrix"], np.float64), shape[1::-1],
                                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
                np.maximum(alpha, warped, out=alpha)
        return alpha

    def close(self):
        for node in [*self.nodes.values(), self.masker, self.masked_merger,
                     *(n for pair in self.variants.values() for n in pair)]:
            node.close()


def measure_pair(pair: Pair, looker: LandmarkPass, judge: IdentityJudge) -> tuple[dict, list]:
    """The pair's figures and its sheet rows (driver, output, points) of the widest-open mouth frame and
    of the last frame."""
    identity = cv2.imread(str(pair.identity))
    identity_points = looker(identity)[1]
    identity_range = ChromaRange(identity, colour_region(identity_points, identity.shape))
    identity_descriptor = judge.descriptor(identity, identity_points)
    chain_mode = None
    others = [m for m in MODES if m != "none"]
    chain = SwapChain(pair.identity, others)
    try:
        chain_mode = chain.nodes[chain.colour_id].mode
        per = {"nme": [], "identity": [], "foreign_colour": [], "seam": [], "detail": [], "masked_nme": [],
               "masked_identity": []}
        modes = {mode: [] for mode in others}
        shots, missed = [], 0
        for index, driver in enumerate(pair.frames):
            outputs = chain(driver)
            if index % MEASURE_EVERY:
                continue
            output = outputs[chain.merger_id]["frame"]
            seen_driver, seen_output = looker(driver), looker(output)
            if seen_driver is None or seen_output is None:
                missed += 1
                continue
            driver_points, output_points = seen_driver[1], seen_output[1]
            region = colour_region(driver_points, driver.shape)
            driver_range = ChromaRange(driver, region)
            box = judge.face_box(driver, driver_points.mean(axis=0))  # the same box for both: only the
            masked = chain.masked(driver, outputs)
            if box is not None:  # pictures differ
                driver_marks = judge.landmarks68(driver, box)
                per["nme"].append(landmark_errors(judge.landmarks68(output, box), driver_marks))
                per["masked_nme"].append(landmark_errors(judge.landmarks68(masked, box), driver_marks))
            driver_descriptor = judge.descriptor(driver, driver_points)
            for key, picture in (("identity", output), ("masked_identity", masked)):
                descriptor = judge.descriptor(picture, output_points)
                per[key].append(float(np.linalg.norm(descriptor - identity_descriptor)
                                      < np.linalg.norm(descriptor - driver_descriptor)))
            per["foreign_colour"].append(foreign_colour(output, region, driver_range, identity_range))
            per["seam"].append(seam_ratio(output, driver, chain.paste_alpha(outputs, driver.shape)))
            per["detail"].append(detail_ratio(output, output_points, identity, identity_points))
            if index % COLOUR_EVERY == 0:
                for mode in others:
                    other = output if mode == chain_mode else chain.other_mode(mode, driver, outputs)
                    modes[mode].append(foreign_colour(other, region, driver_range, identity_range))
            shots.append((driver, output, driver_points))
    finally:
        chain.close()
    widest = max(range(len(shots)), key=lambda i: _mouth_opening(shots[i][2]))
    figures = {"how": pair.how, "frames": len(pair.frames), "measured": len(per["identity"]) + missed,
               "faces_missed": missed, "colour_mode": chain_mode,
               **nme_figures(per["nme"]),
               "identity_share": _mean(per["identity"]), "foreign_colour": _mean(per["foreign_colour"]),
               "seam": _mean(per["seam"]), "detail": _mean(per["detail"]),
               "foreign_colour_by_mode": {mode: _mean(values) for mode, values in modes.items()},
               "masked": {"landmark_regions": MASK_REGIONS, **nme_figures(per["masked_nme"]),
                          "identity_share": _mean(per["masked_identity"])}}
    return figures, [(pair.name, identity, identity_points, *shots[i][:3]) for i in (widest, len(shots) - 1)]


def nme_figures(errors: list[np.ndarray]) -> dict:
    """NME mean, median and max over the frames, and the mean by region of dlib's points; all nan when no
    frame was measured (no face found in any output)."""
    if not errors:
        return {"nme": float("nan"), "nme_median": float("nan"), "nme_max": float("nan"),
                "nme_by_region": {name: float("nan") for name in REGIONS68}}
    errors = np.array(errors)
    per_frame = errors.mean(axis=1)
    return {"nme": _mean(per_frame), "nme_median": round(float(np.median(per_frame)), 4),
            "nme_max": round(float(per_frame.max()), 4),
            "nme_by_region": {name: _mean(errors[:, list(points)]) for name, points in REGIONS68.items()}}


def _mean(values) -> float:
    return round(float(np.nanmean(values)), 4)


def _mouth_opening(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[14] - points[13]))  # inner lips, middle: lower - upper


def _tile(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A SHEET_TILE square around the face."""
    centre = points.mean(axis=0)
    side = 1.6 * float(np.ptp(points, axis=0).max())
    scale = SHEET_TILE / side
    matrix = np.array([[scale, 0, SHEET_TILE / 2 - scale * centre[0]], [0, scale, SHEET_TILE / 2 - scale * centre[1]]])
    return cv2.warpAffine(image, matrix, (SHEET_TILE, SHEET_TILE), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT)


def picture_sheet(rows: list, path: Path) -> None:
    lines = []
    for name, identity, identity_points, driver, output, points in rows:
        line = np.hstack([_tile(driver, points), _tile(output, points), _tile(identity, identity_points)])
        cv2.putText(line, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        lines.append(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, cv2.imencode(".png", np.vstack(lines))[1])  # a symlink there is replaced


def run(frames: int | None = None) -> dict:
    """`nodegraph bench quality [--frames N]`: N frames per pair (FRAMES when None), a third measured."""
    judge, looker = IdentityJudge(), LandmarkPass()
    result, rows = {"preset": PRESET, "targets": TARGETS, "pairs": {}}, []
    with tempfile.TemporaryDirectory(prefix="nodegraph-quality-") as folder:
        for pair in make_pairs(Path(folder), frames or FRAMES):
            figures, pair_rows = measure_pair(pair, looker, judge)
            result["pairs"][pair.name] = figures
            rows += pair_rows
    picture_sheet(rows, SHEET_PATH)
    result["sheet"] = str(SHEET_PATH.resolve())
    return result


def _verdict(name: str, value: float) -> str:
    target = TARGETS[name]
    met = value >= target if name in ("identity_share", "detail") else value <= target
    return f"{value:.3f} ({'ok' if met else 'MISSED'})"


def _regions(figures: dict) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in figures.items())


def summary(result: dict) -> str:
    lines = [f"swap quality of {result['preset']}; targets: " + ", ".join(f"{k} {v}" for k, v in TARGETS.items())]
    for name, pair in result["pairs"].items():
        lines.append(f"{name}: {pair['how']} ({pair['frames']} frames, {pair['measured']} measured, "
                     f"{pair['faces_missed']} without a face)")
        lines.append("  " + ", ".join(f"{key} {_verdict(key, pair[key])}" for key in TARGETS)
                     + f"; nme median {pair['nme_median']:.3f}, max {pair['nme_max']:.3f}")
        lines.append("  nme by region: " + _regions(pair["nme_by_region"]))
        masked = pair["masked"]
        lines.append(f"  with FaceMask '{masked['landmark_regions']}': nme {_verdict('nme', masked['nme'])} ("
                     + _regions(masked["nme_by_region"]) + "), identity_share "
                     + _verdict("identity_share", masked["identity_share"]))
        lines.append("  foreign colour by mode: " + ", ".join(f"{mode} {value:.3f}" for mode, value
                                                             in pair["foreign_colour_by_mode"].items()))
    lines.append(f"picture sheet: {result['sheet']}")
    return "\n".join(lines)
