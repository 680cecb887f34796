"""ONNX models as node params: a name or path resolved to a verified file, the provider choices, the
error for a model whose tensors are not the ones a node runs, and a weight read from the file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from nodegraph import modelhub
from nodegraph.errors import InvalidInput, UnusableProvider
from nodegraph.onnx import PROVIDERS

PROVIDER_CHOICES = ["auto", *PROVIDERS]
# ImageNet's per-channel RGB mean and spread, for models that take 0..1 pixels normalised by them
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def resolve_model(value: str, base_dir, what: str) -> Path:
    """A verified model file for a name or path; the error names the node and param."""
    with loading(what):
        return modelhub.resolve(value, base_dir=base_dir)


@contextmanager
def loading(what: str) -> Iterator[None]:
    """Where a node loads a model at set-up: a model that does not resolve, load, run or fit is said with the
    node and param it is for (`what`), as validate says it; without them the run's error named only the file."""
    try:
        yield
    except UnusableProvider as e:  # not the model's fault: the param to change is the provider
        raise InvalidInput(f"{what.split(', param ')[0]}, param 'provider': {e}") from None
    except InvalidInput as e:
        raise InvalidInput(f"{what}: {e}") from None


def tensor_dims(shape) -> list:
    """A tensor shape with symbolic or unknown dimensions as None."""
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def _shape_text(shape) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in tensor_dims(shape)) + "]"


def shape_fits(found, expected) -> bool:
    """True when a found shape can be the expected one (None in either: any size)."""
    found = tensor_dims(found)
    if len(found) != len(expected):
        return False
    return all(e is None or f is None or f == e for f, e in zip(found, expected, strict=True))


def tensors_text(tensors) -> str:
    return ", ".join(f"{t.name} {_shape_text(t.shape)}" for t in tensors) or "none"


def model_mismatch(path, kind: str, expected: str, session, extra: str = "") -> InvalidInput:
    # "Found inputs: target [1, 3, N, N]" against "[1, 3, S, S]" did not say why: its size is left open
    open_size = any(None in tensor_dims(t.shape)[1:] for t in session.get_inputs())
    why = (". N beyond the first axis is a size the file leaves open (exported with dynamic axes): the node takes "
           "its crop size from the file, so export the model at a fixed size") if open_size else ""
    return InvalidInput(
        f"{path}: not {kind} this node can run. Expected {expected}. Found inputs: "
        f"{tensors_text(session.get_inputs())}; outputs: {tensors_text(session.get_outputs())}{extra}{why}")


def _load_graph(path: str | Path, what: str):
    """The ONNX model at `path` with its weights (InvalidInput naming the file when it is no ONNX model)."""
    try:
        return onnx.load(str(path), load_external_data=False)
    except DecodeError as exc:
        raise InvalidInput(f"{path}: cannot read its {what} as an ONNX model: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc.strerror or exc}") from None


def last_initializer(path: str | Path) -> np.ndarray:
    """The last initializer (weight tensor) of the ONNX model at `path`, which onnxruntime does not show
    (InvalidInput naming the file when it has none or is not an ONNX model)."""
    model = _load_graph(path, "weights")
    if not model.graph.initializer:
        raise InvalidInput(f"{path}: the ONNX graph has no initializers (weights); is it the right model?")
    tensor = model.graph.initializer[-1]
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise InvalidInput(f"{path}: initializer '{tensor.name}' keeps its data in an external file, which is "
                           "not supported; save the model as one file")
    return numpy_helper.to_array(tensor)


def first_op_types(path: str | Path, count: int) -> list[str]:
    """The operator types (Conv, Sub, ...) of the first `count` nodes of the ONNX model at `path`."""
    return [node.op_type for node in _load_graph(path, "graph").graph.node[:count]]
