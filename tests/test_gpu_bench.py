"""`nodegraph bench gpu`'s set-up on this machine: which providers it compares and the graphs it runs (the
benchmark itself runs on the GPU machine: scripts/gpu_check.sh)."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime
import pytest

from nodegraph import onnx as ng_onnx
from nodegraph.errors import InvalidInput
from nodegraph.registry import default_registry
from nodes import gpu_bench
from nodes.standin_models import inswapper_standin, recogniser_standin


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


def test_the_stand_in_on_the_cpu_runs_a_few_frames_also_where_a_gpu_loads():
    # 120 frames of the stand-in on the CPU, at seconds a frame, took minutes of the GPU machine's time
    standin, demo = "inswapper_standin_1080_lossless", "demo_640_lossless"
    assert gpu_bench.case_frames(standin, "cpu", True, None, 120) == gpu_bench.CPU_STANDIN_FRAMES
    assert gpu_bench.case_frames(standin, "cuda", True, None, 120) == 120
    assert gpu_bench.case_frames(standin, "auto", False, None, 120) == gpu_bench.CPU_STANDIN_FRAMES
    assert gpu_bench.case_frames(demo, "cpu", True, None, 300) == 300
    assert gpu_bench.case_frames(demo, "auto", False, None, 300) == gpu_bench.CPU_FRAMES
    assert gpu_bench.case_frames(standin, "cpu", True, 7, 120) == 7  # --frames


def test_out_of_its_time_the_benchmark_starts_no_run_and_lists_each_as_skipped(monkeypatch):
    monkeypatch.setenv(gpu_bench.SECONDS_ENV, "0")
    result = gpu_bench.run()
    assert result["cases"] == {}
    expected = [f"{case[0]} {provider}" for case in gpu_bench.CASES for provider in result["providers"]]
    if result["gpu"]:
        expected += [f"{case[0]} {provider}" for case in gpu_bench.OPENCV_IMAGE_CASES
                     for provider in result["providers"] if provider != "cpu"]
    assert result["skipped"] == expected
    assert "skipped (out of time): demo_640_lossless cpu, demo_640_lossless auto" in gpu_bench.summary(result)


@pytest.mark.parametrize("value", ["soon", "-5", "nan"])
def test_a_time_budget_that_is_no_number_of_seconds_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(gpu_bench.SECONDS_ENV, value)
    with pytest.raises(InvalidInput, match=rf"{gpu_bench.SECONDS_ENV}='{value}' is not a number of seconds"):
        gpu_bench.run()


@pytest.mark.slow
def test_a_run_gives_its_rates_latencies_first_frame_and_each_nodes_set_up_and_time(tmp_path):
    graph = gpu_bench.case_graph("video_swap.json", None, "lossless", "cpu", tmp_path, None)
    row = gpu_bench.run_case(graph, "lossless", 4)
    assert row["frames"] == 4 and row["fps"] > 0 and not row["node_errors"]
    assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"] <= row["latency_max_ms"]
    assert row["first_frame_ms"] >= row["first_frame_latency_ms"] > 0  # from the run's start: set-up too
    assert set(row["nodes"]) == set(graph.nodes)
    assert all(n["ms_mean"] > 0 and n["startup_ms"] >= 0 for n in row["nodes"].values())
    assert row["nodes"]["detector"]["startup_ms"] > 0  # a model loaded and warmed up


# inswapper_128's layers as its public PyTorch reimplementation loads them from the real file's weights
# (output side, in channels, out channels, kernel): encoder, six style blocks of two convolutions, decoder
INSWAPPER_128_CONVS = ([(128, 3, 128, 7), (128, 128, 256, 3), (64, 256, 512, 3), (32, 512, 1024, 3)]
                       + [(32, 1024, 1024, 3)] * 12
                       + [(64, 1024, 512, 3), (128, 512, 256, 3), (128, 256, 128, 3), (128, 128, 3, 7)])
INSWAPPER_128_MACS = sum(side * side * c_in * c_out * k * k for side, c_in, c_out, k in INSWAPPER_128_CONVS) \
    + 12 * 512 * 2048  # each style block's two maps of the source embedding


@pytest.mark.slow
def test_the_inswapper_stand_in_has_its_tensors_and_its_multiply_adds_within_30_percent(tmp_path):
    import onnx

    path = inswapper_standin(tmp_path / "inswapper_standin.onnx")
    model = onnx.load(str(path))
    for weight in model.graph.initializer:  # shape inference needs the small ones' values (pads, scales) only
        if np.prod(weight.dims) > 64:
            weight.raw_data = b""
    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (*graph.input, *graph.value_info, *graph.output)}
    assert [(v.name, dims[v.name]) for v in graph.input] == [("target", [1, 3, 128, 128]), ("source", [1, 512])]
    assert [(v.name, dims[v.name]) for v in graph.output] == [("output", [1, 3, 128, 128])]
    assert graph.initializer[-1].name == "emap" and list(graph.initializer[-1].dims) == [512, 512]
    weights = {w.name: list(w.dims) for w in graph.initializer}
    macs = sum(int(np.prod(weights[n.input[1]])) * (np.prod(dims[n.output[0]][2:]) if n.op_type == "Conv" else 1)
               for n in graph.node if n.op_type in ("Conv", "Gemm"))
    assert abs(macs - INSWAPPER_128_MACS) <= 0.3 * INSWAPPER_128_MACS, (macs / 1e9, INSWAPPER_128_MACS / 1e9)


def test_each_provider_is_given_as_a_ratio_to_the_cpu_in_the_same_run():
    # the rows gave fps side by side and no ratio, where the house rule asks for ratios measured in the same run
    row = {"fps": 30.0, "latency_p50_ms": 20.0, "latency_p95_ms": 25.0, "latency_max_ms": 30.0,
           "startup_and_close_s": 1.0, "drops": 0, "nodes": {"swapper": {"ms_mean": 5.0}}}
    rows = {"cpu": dict(row), "auto": {**row, "fps": 45.0}}
    gpu_bench.add_ratios_to_cpu(rows)
    assert rows["auto"]["fps_vs_cpu"] == 1.5 and "fps_vs_cpu" not in rows["cpu"]
    text = gpu_bench.summary({"gpu_providers": [], "note": None, "skipped": [], "cases": {"demo_640_lossless": rows}})
    assert "auto     45.0 fps (1.50x cpu's), latency" in text and "cpu      30.0 fps, latency" in text
