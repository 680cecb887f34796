"""Acceptance of the built-in face swap: presets/video_swap.json on presets/media/demo.mp4, run by the real
`nodegraph` command (default multiprocess runtime), the identity being presets/media/astronaut.png.

Measures, each on every frame unless said:
- frame count and order of the written video (each output frame is nearest its own input frame);
- pixels outside the face's box grown by BOX_MARGIN of its size on each side equal the input's exactly
  (a lossless run: the same preset writing PNGs), and inside the landmark hull the face changed;
- pose and expression: FaceMesh on the output lands within 0.05 inter-ocular distance (mean over the
  468 points) of FaceMesh on the input, and the mouth opens and closes with the driver's;
- identity: the output face, warped to the mean face's shape (so pose and expression drop out) and
  compared in grey levels by normalised correlation over the face oval without the mouth, correlates
  better with the identity portrait than with the driver;
- colour: every ColorTransfer mode brings the swapped face's mean L*a*b* over the transfer mask
  closer (CIE76 distance) to the driver's than mode none;
- seams: the mean gradient magnitude along the merge mask's border (a band around its alpha = 0.5
  line) is at most that of the same band in the input (the brief asked 1.5 x; see the test).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import read_frames
from conftest import AUTO_CHOICE, run_cli

from nodegraph import preset
from nodegraph.onnx import gpu_providers
from nodegraph.registry import default_registry
from nodes.color import transfer_mask
from nodes.face.blazeface import BlazeFace
from nodes.face.blend import refine_mask
from nodes.face.facemesh import FaceMesh
from nodes.face.landmarks_data import FACE_OVAL, LEFT_EYE_CONTOUR, LIPS_OUTER, RIGHT_EYE_CONTOUR, mean_face
from nodes.face.meshwarp import mesh_warp
from nodes.merge import merge_mask
from nodes.swap_common import crop_geometry

REPO = Path(__file__).resolve().parent.parent
PRESET = REPO / "presets" / "video_swap.json"
DEMO = REPO / "presets" / "media" / "demo.mp4"
IDENTITY = REPO / "presets" / "media" / "astronaut.png"
BOX_MARGIN = 0.2
BORDER_BAND = 2  # px either side of the mask's border line
UPPER_LIP, LOWER_LIP = 13, 14  # the inner lips' middle points


def demo_frames() -> list[np.ndarray]:
    return read_frames(DEMO)


def test_video_swap_writes_every_input_frame_in_order(tmp_path, cli):
    result = cli("run", PRESET, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("nodegraph: onnxruntime: ")]
    if gpu_providers():  # auto says its choice for each model and image graph, each once
        labels = [m and m["label"] for m in map(AUTO_CHOICE.fullmatch, said)]
        assert None not in labels and len(set(labels)) == len(labels) and {"detector", "marker"} <= set(labels), \
            result.stderr
    else:
        assert len(said) == 1, result.stderr  # both stage processes load models; the run says it once
    written, inputs = read_frames(tmp_path / "out" / "video_swap.mp4"), demo_frames()
    assert len(inputs) == 150 and len(written) == len(inputs)

    def background(frame):  # the flag and the sky either side of the face, small and grey
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return cv2.resize(np.hstack([grey[:, :180], grey[:, -180:]]), (90, 60), interpolation=cv2.INTER_AREA)

    ins = np.stack([background(f) for f in inputs]).reshape(len(inputs), -1)
    outs = np.stack([background(f) for f in written]).reshape(len(written), -1)
    distance = ((outs[:, None, :] - ins[None, :, :]) ** 2).mean(axis=2)
    assert np.array_equal(distance.argmin(axis=1), np.arange(len(inputs)))


# -- one lossless run, measured several ways --------------------------------------------------------------

@pytest.fixture(scope="module")
def lossless(tmp_path_factory):
    """The video_swap preset with PNG sequences for the input and the output and the merged faces in a
    JSON Lines file, run once: (input frames, output frames, per frame the faces' landmarks)."""
    folder = tmp_path_factory.mktemp("lossless")
    spec = json.loads(PRESET.read_text())
    for node in spec["nodes"]:
        if node["type"] == "VideoSource":
            node["params"]["path"] = str(DEMO)
        elif node["type"] == "MeshWarpSwapper":
            node["params"]["identity"] = str(IDENTITY)
        elif node["type"] == "VideoFileOutput":
            node.update(type="ImageSequenceOutput", params={"path": str(folder / "out")})
    spec["nodes"] += [
        {"id": "input_png", "type": "ImageSequenceOutput", "params": {"path": str(folder / "in")}},
        {"id": "faces_file", "type": "FacesFileOutput", "params": {"path": str(folder / "faces.jsonl")}},
    ]
    spec["links"] += [{"from": "source.frame", "to": "input_png.frame"},
                      {"from": "colour.faces", "to": "faces_file.faces"}]
    variant = folder / "video_swap_png.json"
    variant.write_text(json.dumps(spec))
    result = run_cli("run", variant, cwd=folder, timeout=600)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (folder / "out").iterdir())
    assert names == sorted(p.name for p in (folder / "in").iterdir()) and len(names) == 150
    ins = [cv2.imread(str(folder / "in" / name)) for name in names]
    outs = [cv2.imread(str(folder / "out" / name)) for name in names]
    lines = [json.loads(line) for line in (folder / "faces.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(150))
    assert all(len(line["faces"]) == 1 for line in lines)
    landmarks = [np.asarray(line["faces"][0]["landmarks"], np.float64) for line in lines]
    return ins, outs, landmarks


@pytest.fixture(scope="module")
def meshes(lossless):
    """FaceMesh (built-in BlazeFace + FaceMesh, no smoothing) on every input and output frame."""
    detector, mesh = BlazeFace(), FaceMesh()

    def points(image):
        faces = detector.detect(image)
        assert faces, "no face found"
        landmarks, presence = mesh.landmarks(image, faces[0]["box"], faces[0]["keypoints"])
        assert presence > 0.5
        return landmarks.astype(np.float64)

    ins, outs, _ = lossless
    return [points(f) for f in ins], [points(f) for f in outs]


def eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[list(RIGHT_EYE_CONTOUR), :2].mean(axis=0)
                                - landmarks[list(LEFT_EYE_CONTOUR), :2].mean(axis=0)))


@pytest.mark.slow
def test_outside_the_face_box_every_pixel_is_the_input_and_inside_the_face_changed(lossless):
    ins, outs, landmarks = lossless
    for i, (before, after, points) in enumerate(zip(ins, outs, landmarks, strict=True)):
        low, high = points.min(axis=0), points.max(axis=0)
        margin = BOX_MARGIN * (high - low)
        (x0, y0), (x1, y1) = np.floor(low - margin).astype(int), np.ceil(high + margin).astype(int)
        outside = np.ones(before.shape[:2], bool)
        outside[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = False
        assert np.array_equal(after[outside], before[outside]), f"frame {i}: changed outside the face box"
        hull = np.zeros(before.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(points).astype(np.int32)), 1)
        inside = cv2.erode(hull, np.ones((15, 15), np.uint8)).astype(bool)
        change = np.abs(after.astype(np.float64) - before.astype(np.float64))[inside].mean()
        assert change > 15, f"frame {i}: the face changed by only {change:.1f} grey levels"


@pytest.mark.slow
def test_the_output_face_keeps_the_drivers_pose_and_expression(meshes):
    ins, outs = meshes
    errors = [np.linalg.norm(after[:, :2] - before[:, :2], axis=1).mean() / eye_distance(before)
              for before, after in zip(ins, outs, strict=True)]
    print(f"landmark error / inter-ocular distance: mean {np.mean(errors):.3f}, worst {max(errors):.3f}")
    assert max(errors) < 0.05
    opening_in = np.array([np.linalg.norm(p[UPPER_LIP] - p[LOWER_LIP]) / eye_distance(p) for p in ins])
    opening_out = np.array([np.linalg.norm(p[UPPER_LIP] - p[LOWER_LIP]) / eye_distance(p) for p in outs])
    assert opening_in.max() > 0.2  # the demo's mouth does open
    assert np.corrcoef(opening_in, opening_out)[0, 1] > 0.9


@pytest.mark.slow
def test_the_output_face_is_the_identitys_not_the_drivers(lossless, meshes):
    """Normalised correlation of shape-free grey textures over the face oval without the mouth."""
    size = 128
    canonical = mean_face().astype(np.float64)
    canonical[:, :2] = (canonical[:, :2] - 0.5) * size / 1.6 + size / 2
    oval = np.zeros((size, size), np.uint8)
    cv2.fillPoly(oval, [np.round(canonical[list(FACE_OVAL), :2]).astype(np.int32)], 1)
    mouth = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mouth, [np.round(canonical[list(LIPS_OUTER), :2]).astype(np.int32)], 1)
    region = cv2.erode(oval, np.ones((5, 5), np.uint8)).astype(bool) & ~cv2.dilate(
        mouth, np.ones((5, 5), np.uint8)).astype(bool)

    def texture(image, landmarks):
        grey = cv2.cvtColor(mesh_warp(image, landmarks, canonical, (size, size)), cv2.COLOR_BGR2GRAY)
        values = grey[region].astype(np.float64)
        values -= values.mean()
        return values / np.linalg.norm(values)

    portrait = cv2.imread(str(IDENTITY))
    found = BlazeFace().detect(portrait)[0]
    identity = texture(portrait, FaceMesh().landmarks(portrait, found["box"], found["keypoints"])[0])
    ins, outs, _ = lossless
    in_marks, out_marks = meshes
    to_identity, to_driver = [], []
    for before, after, before_marks, after_marks in zip(ins, outs, in_marks, out_marks, strict=True):
        swapped = texture(after, after_marks)
        to_identity.append(float(swapped @ identity))
        to_driver.append(float(swapped @ texture(before, before_marks)))
    print(f"correlation with the identity: mean {np.mean(to_identity):.2f} (lowest {min(to_identity):.2f}); "
          f"with the driver: mean {np.mean(to_driver):.2f} (highest {max(to_driver):.2f})")
    assert all(a > b for a, b in zip(to_identity, to_driver, strict=True))
    assert np.mean(to_identity) - np.mean(to_driver) > 0.2


def gradient_in(image: np.ndarray, band: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))[band].mean())


@pytest.mark.slow
def test_the_mask_edge_does_not_show(lossless):
    """The merge mask of each frame, rebuilt from the run's own landmarks with the preset's swapper and
    merger settings; the band of BORDER_BAND px either side of its alpha = 0.5 line, the output's mean
    gradient there against the input's. Measured on this clip: 0.73 to 0.8 for the preset's soft edge;
    a hard-edged paste of the same swap scores 1.1 to 1.3, so the brief's 1.5 would let it through and
    the test asks for at most 1.0."""
    graph, registry = preset.load(PRESET), default_registry()
    swapper, merger = graph.instantiate("swapper", registry), graph.instantiate("merger", registry)
    swapper.setup()
    ins, outs, landmarks = lossless
    ratios = []
    for before, after, points in zip(ins, outs, landmarks, strict=True):
        record = {"landmarks": np.column_stack([points, np.zeros(len(points))]).astype(np.float32)}
        face = swapper.process(frame=before, faces=[record])["faces"][0]
        mask = refine_mask(merge_mask(face, merger.mask), merger.erode, merger.blur)
        height, width = before.shape[:2]
        alpha = cv2.warpAffine(mask, np.asarray(face["swap_matrix"], np.float64), (width, height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        line = cv2.morphologyEx((alpha > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        band = cv2.dilate(line, np.ones((2 * BORDER_BAND + 1,) * 2, np.uint8)).astype(bool)
        ratios.append(gradient_in(after, band) / gradient_in(before, band))
    print(f"gradient along the mask border, output / input: mean {np.mean(ratios):.2f}, "
          f"worst {max(ratios):.2f}")
    assert max(ratios) <= 1.0


@pytest.mark.slow
def test_every_colour_mode_brings_the_face_closer_to_the_drivers_skin(lossless):
    graph, registry = preset.load(PRESET), default_registry()
    chain = [graph.instantiate(name, registry) for name in ("detector", "marker", "aligner", "swapper")]
    for node in chain:
        node.setup()
    colour_type = registry.get("ColorTransfer")
    modes = colour_type.params["mode"].options
    assert "none" in modes and len(modes) >= 2

    def lab_mean(image, mask):
        lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float64)
        lab[..., 0] *= 100 / 255
        lab[..., 1:] -= 128
        return lab[mask].mean(axis=0)

    ins, _, _ = lossless
    for index in (0, 18, 75, 120):  # closed, open, half-open mouth; different head poses
        frame, faces = ins[index], None
        for node in chain:
            node.frame_id, node.capture_time = index, index / 30
            faces = node.process(frame=frame) if faces is None else node.process(frame=frame, faces=faces)
            faces = faces["faces"]
        face = faces[0]
        size = face["swap"].shape[0]
        mask = transfer_mask(face, size) > 0.5
        driver = lab_mean(crop_geometry(frame, face["swap_matrix"], size), mask)
        distance = {}
        for mode in modes:
            node = colour_type(f"colour_{mode}", {"mode": mode})
            node.setup()
            swap = node.process(frame=frame, faces=faces)["faces"][0]["swap"]
            distance[mode] = float(np.linalg.norm(lab_mean(swap, mask) - driver))
        print(f"frame {index}: L*a*b* distance of the face's mean to the driver's: "
              + ", ".join(f"{mode} {value:.2f}" for mode, value in distance.items()))
        for mode in modes:
            if mode != "none":
                assert distance[mode] < distance["none"] / 2, (mode, distance)
