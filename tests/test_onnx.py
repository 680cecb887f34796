"""The onnxruntime session factory on the built-in models: CPU runs, provider choice, verification."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from conftest import AUTO_CHOICE, repo_env

from nodegraph import modelhub, threads
from nodegraph import onnx as ng_onnx
from nodegraph.errors import InvalidInput
from nodegraph.modelhub import ModelError

REPO = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((REPO / "models" / "manifest.json").read_text())


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NODEGRAPH_USER_MODELS", str(tmp_path / "user"))
    monkeypatch.delenv("NODEGRAPH_MODELS", raising=False)
    monkeypatch.delenv("NODEGRAPH_MANIFEST", raising=False)


@pytest.mark.parametrize("name", sorted(MANIFEST["models"]))
def test_builtin_model_runs_on_cpu_with_the_manifest_shapes(name):
    entry = MANIFEST["models"][name]
    session = ng_onnx.create_session(modelhub.resolve(name), provider="cpu", threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    feeds = {spec["name"]: np.zeros(spec["shape"], np.float32) for spec in entry["inputs"]}
    outputs = session.run([spec["name"] for spec in entry["outputs"]], feeds)
    assert [o.shape for o in outputs] == [tuple(spec["shape"]) for spec in entry["outputs"]]
    assert all(np.isfinite(o).all() for o in outputs)


def test_provider_is_said_once_per_process_without_onnxruntime_noise():
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(name)s: %(message)s')\n"
        "from nodegraph import modelhub, onnx\n"
        "for name in ('blazeface_short', 'blazeface_full', 'facemesh', 'blazeface_short'):\n"
        "    onnx.create_session(modelhub.resolve(name))\n"
    )
    env = repo_env()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("nodegraph: onnxruntime: ")]
    if ng_onnx.gpu_providers():  # auto times each session on each provider that loads and says its choice
        chosen = [AUTO_CHOICE.fullmatch(line) for line in said]
        assert [m and m["label"] for m in chosen] == ["blazeface_short.onnx", "blazeface_full.onnx",
                                                      "facemesh.onnx", "blazeface_short.onnx"], lines
    else:
        assert said == ["nodegraph: onnxruntime: running on the CPU (no CUDA GPU found)"] or said == [
            "nodegraph: onnxruntime: running on the CPU (this onnxruntime build has no GPU provider)"], lines
    assert lines == said, f"unexpected output besides the provider line: {lines}"


def test_why_no_gpu_provider_loaded_is_said_only_with_debug(caplog, monkeypatch):
    if not any(key in ng_onnx.available_providers() for key in ("cuda", "tensorrt")):
        pytest.skip("this onnxruntime build lists no CUDA provider")
    if ng_onnx._load_problem("cuda") is None:
        pytest.skip("CUDA loads here: auto times it instead")
    caplog.set_level(logging.DEBUG, logger="nodegraph")
    monkeypatch.setattr(ng_onnx, "_announced", False)
    ng_onnx.create_session(modelhub.resolve("blazeface_short"))
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info == ["onnxruntime: running on the CPU (no CUDA GPU found)"]
    assert any("CUDA not available (" in line for line in debug), debug


def test_every_session_is_warmed_up_with_the_inputs_it_will_get(caplog):
    caplog.set_level(logging.DEBUG, logger="nodegraph")
    path = modelhub.resolve("blazeface_short")
    good = {"input": np.zeros((1, 3, 128, 128), np.float32)}
    session = ng_onnx.create_session(path, provider="cpu", warmup=[good])
    assert not [r for r in caplog.records if "warm-up" in r.getMessage()]
    assert session.run(None, good)[0].shape == (1, 896, 16)
    # a shape the model refuses: the session is still made, and -v says why its warm-up failed
    ng_onnx.create_session(path, provider="auto", warmup=[{"input": np.zeros((1, 3, 64, 64), np.float32)}])
    failed = [r.getMessage() for r in caplog.records if "warm-up" in r.getMessage()]
    assert failed and failed[0].startswith("onnxruntime: warm-up of blazeface_short.onnx on CPUExecutionProvider "
                                           "failed: "), failed


def test_cudnn_search_mode_is_a_setting_with_a_checked_value(monkeypatch):
    monkeypatch.delenv(ng_onnx.CUDNN_SEARCH_ENV, raising=False)
    assert ng_onnx.cudnn_search() == "HEURISTIC"
    assert ng_onnx._provider_options("cuda") == {"cudnn_conv_algo_search": "HEURISTIC"}
    monkeypatch.setenv(ng_onnx.CUDNN_SEARCH_ENV, "Exhaustive")
    assert ng_onnx.cudnn_search() == "EXHAUSTIVE"
    monkeypatch.setenv(ng_onnx.CUDNN_SEARCH_ENV, "fastest")
    with pytest.raises(InvalidInput, match="NODEGRAPH_CUDNN_SEARCH='fastest' is not a cuDNN search mode; "
                                           "use one of heuristic, exhaustive, default"):
        ng_onnx.cudnn_search()


def test_corrupt_model_refused_with_the_message_verify_prints(tmp_path, monkeypatch):
    monkeypatch.setenv("NODEGRAPH_MODELS", str(tmp_path))
    bad = Path(shutil.copy(REPO / "models" / "blazeface_full.onnx", tmp_path / "blazeface_full.onnx"))
    data = bytearray(bad.read_bytes())
    data[len(data) // 3] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError) as caught:
        ng_onnx.create_session(bad, provider="cpu")
    verified = next(r for r in modelhub.verify() if r.name == "blazeface_full")
    assert verified.status == "bad" and str(caught.value) == verified.message
    assert str(bad) in verified.message


def test_a_file_that_is_no_onnx_model_is_refused_naming_it(tmp_path):
    junk = tmp_path / "swapper.onnx"
    junk.write_bytes(b"this is not a protobuf" * 50)
    with pytest.raises(ModelError) as caught:
        ng_onnx.create_session(junk, provider="cpu")
    message = str(caught.value)
    assert str(junk) in message and "not a valid ONNX model" in message
    # it said the path twice ("... swapper.onnx: Load model from ... swapper.onnx failed:Protobuf parsing failed..")
    # and not what to do
    assert message.count(str(junk)) == 1 and ".." not in message and message.endswith("replace it with a good copy")


def test_a_model_whose_weights_file_is_missing_says_to_put_it_back(tmp_path):
    # it said "not a valid ONNX model (a truncated download, or another format?): replace it with a good copy"
    import onnx
    model = tmp_path / "big.onnx"
    onnx.save_model(onnx.load(REPO / "models" / "blazeface_short.onnx"), model, save_as_external_data=True,
                    location="big.onnx.data", size_threshold=1024)
    (tmp_path / "big.onnx.data").rename(tmp_path / "elsewhere.data")
    with pytest.raises(ModelError) as caught:
        ng_onnx.create_session(model, provider="cpu")
    message = str(caught.value)
    assert str(model) in message and str(tmp_path / "big.onnx.data") in message
    assert message.endswith("The model keeps its weights in that separate file: put it back beside the model file")
    assert "not a valid ONNX model" not in message


@pytest.mark.parametrize("field, value, said", [("ir_version", 99, "Unsupported model IR version: 99"),
                                                ("opset", 40, "Opset 40 is under development")])
def test_a_model_made_for_a_newer_onnxruntime_says_so_and_to_upgrade(tmp_path, field, value, said):
    # the reason was cut off inside onnxruntime's C++ signature, and the fix said to replace the file
    import onnx
    model = onnx.load(REPO / "models" / "blazeface_short.onnx")
    if field == "opset":
        model.opset_import[0].version = value
    else:
        model.ir_version = value
    path = tmp_path / "new.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelError) as caught:
        ng_onnx.create_session(path, provider="cpu")
    message = str(caught.value)
    assert message.startswith(f"onnxruntime cannot load model file {path}: ") and said in message, message
    assert "onnxruntime::" not in message and "replace it with a good copy" not in message
    assert message.endswith(f"The model was made for a newer onnxruntime than this one ({onnxruntime.__version__}): "
                            "upgrade it (pip install -U onnxruntime, or onnxruntime-gpu), or export the model for "
                            "an older opset")


def reshaped_at_run_time(path: Path, declared: list) -> Path:
    """A model whose input x (declared `declared`) is reshaped to [1, 3, 5, 5], a shape worked out only at run
    time (from x), so it loads, its declared shapes look right, and every run fails."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
             helper.make_node("Mul", ["total", "zero"], ["nothing"]),
             helper.make_node("Cast", ["nothing"], ["offset"], to=TensorProto.INT64),
             helper.make_node("Add", ["shape", "offset"], ["run_shape"]),
             helper.make_node("Reshape", ["x", "run_shape"], ["y"])]
    weights = [numpy_helper.from_array(np.float32(0), "zero"), numpy_helper.from_array(np.int64([1, 3, 5, 5]), "shape")]
    graph = helper.make_graph(nodes, "broken", [helper.make_tensor_value_info("x", TensorProto.FLOAT, declared)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("provider", ["cpu", "auto"])
def test_a_model_that_cannot_run_the_shapes_it_declares_is_refused_when_its_session_is_made(tmp_path, capfd,
                                                                                          provider):
    # its warm-up failure was kept for -v: the run started, every frame failed, and each printed onnxruntime's error
    path = reshaped_at_run_time(tmp_path / "broken.onnx", [1, 3, 8, 8])
    with pytest.raises(ModelError) as caught:
        ng_onnx.create_session(path, provider=provider)
    message = str(caught.value)
    assert f"onnxruntime cannot run model file {path} on inputs of the shapes it declares (x [1, 3, 8, 8]): " in message
    assert "cannot be reshaped to the requested shape" in message and "replace it with a good copy" in message
    assert "onnxruntime_src" not in message  # its source location and C++ signature are no help
    assert "reshape" not in capfd.readouterr().err.lower()


def first_above_half(path: Path) -> Path:
    """A model that gives the position of the first of its 8 inputs above 0.5 (a detection's score threshold,
    then its first detection): on zeros there is none, and its Gather fails; real inputs run."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("Greater", ["x", "half"], ["above"]),
             helper.make_node("NonZero", ["above"], ["where"]),
             helper.make_node("Gather", ["where", "first"], ["y"], axis=1)]
    weights = [numpy_helper.from_array(np.float32(0.5), "half"), numpy_helper.from_array(np.int64(0), "first")]
    graph = helper.make_graph(nodes, "threshold", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("provider", ["cpu", "auto"])
def test_a_model_that_refuses_only_a_blank_input_is_not_taken_for_a_broken_one(tmp_path, provider):
    # refused at set-up as "damaged" (its warm-up ran zeros only), where every real input ran
    session = ng_onnx.create_session(first_above_half(tmp_path / "threshold.onnx"), provider=provider)
    scores = np.float32([[0.1, 0.2, 0.9, 0.3, 0.7, 0.0, 0.1, 0.2]])
    assert session.run(None, {"x": scores})[0].tolist() == [0, 2]


def test_a_model_run_that_fails_is_raised_not_printed_too(tmp_path, capfd):
    # sizes the model leaves open are fed 1 at warm-up, which may be a real input problem: no refusal then
    session = ng_onnx.create_session(reshaped_at_run_time(tmp_path / "open.onnx", ["N", 3, 8, 8]), provider="cpu")
    with pytest.raises(Exception, match="cannot be reshaped"):
        session.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})
    assert "reshape" not in capfd.readouterr().err.lower()  # the node says it once, in its own words


def test_a_forced_provider_that_cannot_load_names_it_and_the_listed_ones():
    missing = next(key for key in ("coreml", "directml") if key not in ng_onnx.available_providers())
    with pytest.raises(InvalidInput) as caught:
        ng_onnx.create_session(modelhub.resolve("blazeface_short"), provider=missing)
    message = str(caught.value)
    assert f"'{missing}'" in message and "not in this onnxruntime build" in message
    assert "lists: " + ", ".join(ng_onnx.available_providers()) in message
    with pytest.raises(InvalidInput, match="unknown onnxruntime provider 'gpu'"):
        ng_onnx.create_session(modelhub.resolve("blazeface_short"), provider="gpu")


def test_thread_budget_sets_intra_op_threads(monkeypatch):
    monkeypatch.setattr(threads, "_budget", None)
    path = modelhub.resolve("blazeface_short")
    threads.set_budget(1)
    options = ng_onnx.create_session(path, provider="cpu").get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    assert ng_onnx.create_session(path, provider="cpu", threads=2).get_session_options().intra_op_num_threads == 2
    with pytest.raises(InvalidInput, match="thread budget"):
        threads.set_budget(0)
