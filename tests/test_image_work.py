"""image_work onnxruntime: the paste-back and the mesh warp's remap as small ONNX graphs (nodes/image_graphs.py),
run on onnxruntime's CPU provider (and on each GPU provider that loads, where one does), give OpenCV's pixels
within one level; the demo chain runs with them; what the graphs cannot do is refused naming the node and
the param."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_models import enhancer_model
from portraits import CROP, MEDIA, crop_matrix, ellipse_mask, face_crop, portrait
from swap_models import portrait_faces

from nodegraph import preset as presets
from nodegraph.errors import InvalidInput
from nodegraph.modelhub import ModelError
from nodegraph.onnx import create_session, gpu_providers
from nodegraph.registry import default_registry
from nodes import image_work_bench
from nodes.enhance import FaceEnhancer
from nodes.face.blazeface import BlazeFace
from nodes.face.blend import paste_back
from nodes.face.facemesh import FaceMesh
from nodes.image_work import ImageGraphs, chosen_graphs
from nodes.merge import FaceMerger
from nodes.meshwarp import MeshWarpSwapper

REPO = Path(__file__).resolve().parent.parent
PRESET = REPO / "presets" / "video_swap.json"


# onnxruntime's CPU provider here; on a GPU machine (scripts/gpu_check.sh runs this suite) each GPU provider
# that loads too, TensorRT aside (its engines take minutes to build)
PROVIDERS = ["cpu", *[key for key in gpu_providers() if key != "tensorrt"]]


@pytest.fixture(scope="module", params=PROVIDERS)
def graphs(request):
    return ImageGraphs("test", provider=request.param)


@pytest.fixture(scope="module")
def pasting():
    """(frame, face crop, soft face mask) as the merger gets them."""
    mask = cv2.GaussianBlur(ellipse_mask(), (0, 0), 6.0)
    return portrait("astronaut.png"), face_crop("grace_hopper.jpg")[0], mask


PASTES = {  # name: (frame -> crop matrix, paste_back keywords)
    "rotated": (crop_matrix(222, 120, 170, angle_deg=10), {}),
    "scaled_and_moved": (crop_matrix(230, 140, 120, angle_deg=-4), {"scale": 1.3, "offset_x": 0.05,
                                                                    "offset_y": -0.04}),
    "partly_out_of_frame": (crop_matrix(25, 30, 190, angle_deg=-25), {}),
    "half_opacity": (crop_matrix(222, 120, 170, angle_deg=3), {"opacity": 0.6}),
}


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
@pytest.mark.parametrize("case", PASTES)
@pytest.mark.parametrize("full_mask", [False, True], ids=["soft_mask", "full_mask"])
def test_paste_back_on_onnxruntime_is_within_one_level_of_opencv(graphs, pasting, case, interpolation, full_mask):
    frame, face, mask = pasting
    if full_mask:  # alpha 1 up to the crop's edge: the replicated border shows there
        mask = np.ones((CROP, CROP), np.float32)
    matrix, keywords = PASTES[case]
    by_opencv = paste_back(frame, face, mask, matrix, interpolation=interpolation, **keywords)
    by_onnxruntime = paste_back(frame, face, mask, matrix, interpolation=interpolation, graphs=graphs, **keywords)
    assert np.abs(by_onnxruntime.astype(int) - by_opencv).max() <= 1
    assert (np.abs(by_opencv.astype(int) - frame).max(axis=2) > 10).sum() > 2000  # a face was pasted


@pytest.mark.parametrize("interpolation, flag", [("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC)])
def test_remap_on_onnxruntime_is_within_one_level_of_opencv_also_beyond_the_picture(graphs, interpolation, flag):
    noise = np.random.default_rng(0).integers(0, 256, (90, 110, 3), np.uint8)  # the worst case: no smoothness
    ys, xs = np.mgrid[0:128, 0:160].astype(np.float32)
    turn = 0.4
    map_x = np.cos(turn) * xs - np.sin(turn) * ys + 4 * np.sin(ys / 7) - 10  # a quarter lands outside
    map_y = np.sin(turn) * xs + np.cos(turn) * ys - 30
    map_x, map_y = (m.astype(np.float32) for m in (map_x, map_y))
    by_opencv = cv2.remap(noise, map_x, map_y, flag, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(graphs.remap(noise, map_x, map_y, interpolation).astype(int) - by_opencv).max() <= 1


def test_the_mesh_warp_swapper_on_onnxruntime_is_within_one_level_of_opencv():
    frame = portrait("grace_hopper.jpg")
    found = BlazeFace().detect(frame)[0]
    face = {"box": found["box"], "landmarks": FaceMesh().landmarks(frame, found["box"], found["keypoints"])[0]}
    swaps = []
    for image_work in ("opencv", "onnxruntime"):
        node = MeshWarpSwapper("swapper", {"identity": str(MEDIA / "astronaut.png"), "image_work": image_work})
        node.setup()
        swaps.append(node.process(frame=frame, faces=[face])["faces"][0]["swap"])
    assert swaps[0].shape == (256, 256, 3) and swaps[0].std() > 20
    assert np.abs(swaps[1].astype(int) - swaps[0]).max() <= 1


def test_the_enhancers_paste_back_on_onnxruntime_is_within_one_level_of_opencv(tmp_path):
    model, (frame, faces) = enhancer_model(tmp_path / "enhancer.onnx", size=256), portrait_faces()
    merged = []
    for image_work in ("opencv", "onnxruntime"):
        node = FaceEnhancer("enhance", {"model": str(model), "image_work": image_work})
        node.setup()
        merged.append(node.process(frame=frame, faces=faces[:1])["frame"])
    assert (np.abs(merged[0].astype(int) - frame).max(axis=2) > 10).sum() > 2000  # a face was restored
    assert np.abs(merged[1].astype(int) - merged[0]).max() <= 1


def png_variant(folder: Path, image_work: str) -> Path:
    """video_swap.json writing PNGs into `folder`, its swapper and merger on `image_work`."""
    spec = json.loads(PRESET.read_text())
    for node in spec["nodes"]:
        if node["type"] == "VideoSource":
            node["params"]["path"] = str(MEDIA / "demo.mp4")
        elif node["type"] == "MeshWarpSwapper":
            node["params"]["identity"] = str(MEDIA / "astronaut.png")
        if node["type"] in ("MeshWarpSwapper", "FaceMerger"):
            node["params"]["image_work"] = image_work
        elif node["type"] == "VideoFileOutput":
            node.update(type="ImageSequenceOutput", params={"path": str(folder / image_work)})
    variant = folder / f"video_swap_{image_work}.json"
    variant.write_text(json.dumps(spec))
    return variant


def test_the_demo_chain_runs_with_its_image_work_on_onnxruntime(tmp_path, cli):
    frames = {}
    for image_work in ("opencv", "onnxruntime"):
        result = cli("run", png_variant(tmp_path, image_work), "--frames", "6", cwd=tmp_path, timeout=240)
        assert result.returncode == 0, result.stderr
        frames[image_work] = [cv2.imread(str(p)) for p in sorted((tmp_path / image_work).glob("*.png"))]
    assert len(frames["onnxruntime"]) == len(frames["opencv"]) == 6
    for by_onnxruntime, by_opencv in zip(frames["onnxruntime"], frames["opencv"], strict=True):
        difference = np.abs(by_onnxruntime.astype(int) - by_opencv)
        # one level from the swap's warp, through the colour transfer's statistics, and one from the merge
        assert difference.max() <= 2 and (difference > 1).mean() < 1e-4, (difference.max(), (difference > 1).mean())


def test_onnxruntime_refuses_what_only_opencv_does_naming_the_node_and_param(cli):
    graph = presets.load(str(PRESET))
    graph.set_param("merger", "image_work", "onnxruntime")
    graph.set_param("merger", "interpolation", "lanczos")
    problems = [str(p) for p in graph.validate(default_registry())]
    assert len(problems) == 1 and "node 'merger' (FaceMerger)" in problems[0] and "image_work" in problems[0] \
        and "lanczos" in problems[0], problems

    result = cli("run", PRESET, "--set", "merger.image_work=onnxruntime", "--set", "merger.blend=poisson")
    assert result.returncode == 2 and "image_work" in result.stderr and "poisson" in result.stderr, result.stderr

    merger = FaceMerger("merger", {"image_work": "onnxruntime"})
    merger.setup()
    merger.set_param("interpolation", "nearest")  # a live edit
    frame, face, mask = portrait("astronaut.png"), face_crop("grace_hopper.jpg")[0], ellipse_mask()
    faces = [{"swap": face, "swap_mask": mask, "swap_matrix": crop_matrix(222, 120, 170)}]
    with pytest.raises(InvalidInput, match=r"node 'merger' \(FaceMerger\), param 'image_work'.*nearest"):
        merger.process(frame=frame, faces=faces)
    auto = FaceMerger("merger", {"image_work": "auto", "interpolation": "nearest"})  # auto: OpenCV does it
    assert auto.process(frame=frame, faces=faces)["frame"].shape == frame.shape


@pytest.mark.skipif(bool(gpu_providers()), reason="a GPU provider loads here: auto times the graph on it")
def test_auto_keeps_the_image_work_on_opencv_without_a_gpu_and_makes_no_session():
    graphs = ImageGraphs("merger")
    assert chosen_graphs("auto", graphs, "paste", "cubic", "node 'merger' (FaceMerger)") is None
    assert chosen_graphs("onnxruntime", graphs, "paste", "cubic", "node 'merger' (FaceMerger)") is graphs
    assert list(graphs._sessions) == [("paste", "cubic")]  # made (and warmed up) for onnxruntime only


def test_auto_measures_the_graph_against_opencv_and_says_so(caplog):
    graphs = ImageGraphs("merger", provider="cpu")
    with caplog.at_level(logging.INFO, logger="nodegraph"):
        verdict = graphs.faster_than_opencv("paste", "cubic")
        assert graphs.faster_than_opencv("paste", "cubic") is verdict  # measured once
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("image work: ")]
    assert len(said) == 1, said
    line = re.fullmatch(r"image work: merger paste \(cubic\): OpenCV ([\d.]+) ms, "
                        r"onnxruntime CPU ([\d.]+) ms -> (OpenCV|onnxruntime)", said[0])
    assert line, said
    opencv_ms, graph_ms, winner = float(line[1]), float(line[2]), line[3]
    assert winner == ("onnxruntime" if verdict else "OpenCV")
    assert graph_ms == opencv_ms or verdict is (graph_ms < opencv_ms)  # equal only as printed, to 0.01 ms


def test_a_graph_onnxruntime_cannot_load_is_named_by_its_label():
    with pytest.raises(ModelError, match="built-in graph broken paste"):
        create_session(b"not an onnx graph", provider="cpu", label="broken paste")


def test_the_image_work_benchmark_times_every_way_against_opencv():
    result = image_work_bench.run(1)
    assert result["ways"][:2] == ["opencv", "cpu"] and len(result["cases"]) == 4
    for by_way in result["cases"].values():
        assert set(by_way) == set(result["ways"]) and by_way["opencv"]["vs_opencv"] == 1.0
        assert all(r["ms_median"] > 0 for r in by_way.values())
