"""A model file found wrong only at set-up (a file changed after validate, a param edited while the editor runs, a
model that cannot run its own shapes): the error names the node, the param and the file, as validate does."""

import numpy as np
import onnx
import pytest
from mask_models import enhancer_model, occluder_model, parser_model
from onnx import TensorProto, helper, numpy_helper
from swap_models import PORTRAIT, arcface_model, converter_model, hyperswap_model, inswapper_model, simswap_model

from nodegraph.errors import InvalidInput
from nodes.enhance import FaceEnhancer
from nodes.face_mask import FaceMask
from nodes.hyperswap import HyperSwapper
from nodes.simswap import SimSwapper
from nodes.swap import DFMSwapper, InSwapper

CASES = [  # the node type, its params (model files in the test's folder), the param whose file is wrong
    (DFMSwapper, {"model": "inswapper.onnx"}, "model"),
    (InSwapper, {"model": "simswap.onnx", "recogniser": "arcface.onnx"}, "model"),
    (InSwapper, {"model": "inswapper.onnx", "recogniser": "simswap.onnx"}, "recogniser"),
    (HyperSwapper, {"model": "inswapper.onnx", "recogniser": "arcface.onnx"}, "model"),
    (HyperSwapper, {"model": "hyperswap.onnx", "recogniser": "converter.onnx"}, "recogniser"),
    (SimSwapper, {"model": "simswap.onnx", "recogniser": "arcface.onnx", "converter": "arcface.onnx"}, "converter"),
    (FaceMask, {"occluder": "parser.onnx"}, "occluder"),
    (FaceMask, {"parser": "occluder.onnx"}, "parser"),
    (FaceEnhancer, {"model": "occluder.onnx"}, "model"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    inswapper_model(folder / "inswapper.onnx")
    simswap_model(folder / "simswap.onnx")
    hyperswap_model(folder / "hyperswap.onnx")
    arcface_model(folder / "arcface.onnx")
    converter_model(folder / "converter.onnx")
    occluder_model(folder / "occluder.onnx")
    parser_model(folder / "parser.onnx", np.eye(19, 3))
    enhancer_model(folder / "enhancer.onnx")
    return folder


def full_params(node_type, params, folder) -> dict:
    identity = {"identity": str(PORTRAIT)} if node_type in (InSwapper, HyperSwapper, SimSwapper) else {}
    return {**identity, **{name: str(folder / file) for name, file in params.items()}}


@pytest.mark.parametrize(("node_type", "params", "param"), CASES, ids=lambda v: getattr(v, "__name__", None))
def test_a_wrong_model_at_set_up_names_the_node_and_param(folder, node_type, params, param):
    # the file alone was named ("nodegraph: /path/x.onnx: not an inswapper model this node can run ...")
    with pytest.raises(InvalidInput) as caught:
        node_type("n", full_params(node_type, params, folder)).setup()
    assert str(caught.value).startswith(f"node 'n' ({node_type.__name__}), param '{param}': {folder / params[param]}")


def test_a_model_that_cannot_run_passes_validate_and_is_refused_at_set_up_with_its_node(folder):
    # an inswapper whose tensors are right, whose graph reshapes `target` to a size known only at run time
    nodes = [helper.make_node("ReduceSum", ["source"], ["total"], keepdims=0),
             helper.make_node("Mul", ["total", "zero"], ["nothing"]),
             helper.make_node("Cast", ["nothing"], ["offset"], to=TensorProto.INT64),
             helper.make_node("Add", ["wrong_shape", "offset"], ["run_shape"]),
             helper.make_node("Reshape", ["target", "run_shape"], ["output"])]
    weights = [numpy_helper.from_array(np.float32(0), "zero"),
               numpy_helper.from_array(np.int64([1, 3, 100, 100]), "wrong_shape"),
               numpy_helper.from_array(np.eye(512, dtype=np.float32), "emap")]
    tensors = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in
               (("target", [1, 3, 128, 128]), ("source", [1, 512]), ("output", [1, 3, 128, 128]))]
    graph = helper.make_graph(nodes, "inswapper", tensors[:2], tensors[2:], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    broken = folder / "broken_inswapper.onnx"
    onnx.save(model, str(broken))
    params = {"identity": str(PORTRAIT), "model": str(broken), "recogniser": str(folder / "arcface.onnx")}

    assert InSwapper.check(InSwapper("swapper", params).values, folder) == []
    with pytest.raises(InvalidInput) as caught:  # it was every frame, each failing on its own, the run exit 0
        InSwapper("swapper", params).setup()
    assert str(caught.value).startswith(f"node 'swapper' (InSwapper), param 'model': onnxruntime cannot run model "
                                        f"file {broken} on inputs of the shapes it declares")


def test_a_provider_that_cannot_be_used_is_said_of_the_provider_param(folder):
    # said of param 'model', as if the file were wrong, where the user must change the provider
    params = {"occluder": str(folder / "occluder.onnx"), "provider": "coreml"}  # no CoreML on Linux
    with pytest.raises(InvalidInput) as caught:
        FaceMask("mask", params).setup()
    assert str(caught.value).startswith("node 'mask' (FaceMask), param 'provider': onnxruntime provider 'coreml'")
