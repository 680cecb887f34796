"""`nodegraph bench gpu`'s set-up on this machine: which providers it compares and the graphs it runs (the
benchmark itself runs on the GPU machine: scripts/gpu_check.sh)."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime
import pytest

from nodegraph import onnx as ng_onnx
from nodegraph.registry import default_registry
from nodes import gpu_bench
from nodes.standin_models import recogniser_standin


def test_providers_compared_are_the_cpu_auto_and_each_gpu_that_loads():
    choices = gpu_bench.provider_choices()
    assert choices[:2] == ["cpu", "auto"]
    assert choices[2:] == [key for key in ng_onnx.gpu_providers() if key != "tensorrt"]


@pytest.mark.parametrize("case", [c for c in gpu_bench.CASES if not c[0].startswith("inswapper")],
                         ids=lambda c: c[0])
def test_each_case_is_a_valid_graph_with_every_model_on_the_chosen_provider(case, tmp_path):
    name, preset_name, size, mode, _ = case
    graph = gpu_bench.case_graph(preset_name, size, mode, "cpu", tmp_path, None)
    registry = default_registry()
    assert graph.validate(registry) == []
    providers = {spec.params.get("provider") for spec in graph.nodes.values()
                 if "provider" in registry.get(spec.type).params}
    assert providers == {"cpu"}
    sources = [spec.params for spec in graph.nodes.values() if spec.type == "VideoSource"]
    assert all(p["loop"] and p["realtime"] == (mode == "realtime") for p in sources)
    outputs = [spec.params["path"] for spec in graph.nodes.values() if spec.type == "VideoFileOutput"]
    assert outputs and all(path.startswith(str(tmp_path)) for path in outputs)


@pytest.mark.parametrize("provider, image_work, expected", [("cpu", None, "opencv"), ("auto", None, "auto"),
                                                            ("auto", "opencv", "opencv")])
def test_the_image_work_follows_the_provider_choice_unless_told(tmp_path, provider, image_work, expected):
    graph = gpu_bench.case_graph("video_swap.json", None, "lossless", provider, tmp_path, None, image_work)
    chosen = {node_id: spec.params.get("image_work") for node_id, spec in graph.nodes.items()
              if "image_work" in default_registry().get(spec.type).params}
    assert chosen == {"swapper": expected, "merger": expected}


def test_the_scaled_clip_has_the_asked_size(tmp_path):
    graph = gpu_bench.case_graph("video_swap.json", gpu_bench.FULL_HD, "lossless", "cpu", tmp_path, None)
    clip = next(spec.params["path"] for spec in graph.nodes.values() if spec.type == "VideoSource")
    reader = cv2.VideoCapture(clip)
    ok, frame = reader.read()
    reader.release()
    assert ok and frame.shape == (1080, 1920, 3)


def test_the_recogniser_stand_in_has_w600k_r50s_tensors(tmp_path):
    session = onnxruntime.InferenceSession(str(recogniser_standin(tmp_path / "r.onnx")),
                                           providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1:]) for i in session.get_inputs()] == [("input.1", [3, 112, 112])]
    embedding = session.run(["683"], {"input.1": np.ones((1, 3, 112, 112), np.float32)})[0]
    assert embedding.shape == (1, 512) and np.isfinite(embedding).all()
