"""ONNX models as node params: a name or path resolved to a verified file, the provider choices, and
the error for a model whose tensors are not the ones a node runs."""

from __future__ import annotations

from pathlib import Path

from nodegraph import modelhub
from nodegraph.errors import InvalidInput
from nodegraph.onnx import PROVIDERS

PROVIDER_CHOICES = ["auto", *PROVIDERS]


def resolve_model(value: str, base_dir, what: str) -> Path:
    """A verified model file for a name or path; the error names the node and param."""
    try:
        return modelhub.resolve(value, base_dir=base_dir)
    except modelhub.ModelError as e:
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
    return InvalidInput(
        f"{path}: not {kind} this node can run. Expected {expected}. Found inputs: "
        f"{tensors_text(session.get_inputs())}; outputs: {tensors_text(session.get_outputs())}{extra}")
