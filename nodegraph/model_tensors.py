"""A model file's input and output tensors, read without a session to run it: what the nodes' checks look at
before a run (a model that does not fit its node is said then, not on the first frame)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from nodegraph.onnx_errors import load_error

ERRORS_ONLY = 3  # onnxruntime's log severity that keeps its warnings about a model out of the user's terminal


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple  # ints, and names or None for the dimensions the model leaves open
    type: str = "tensor(float)"  # onnxruntime's name of its element type


@dataclass(frozen=True)
class ModelTensors:
    """A model file's input and output tensors. The methods are named like InferenceSession's, so
    one check of a model's tensors serves a loaded session and these alike."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    def get_inputs(self) -> list[Tensor]:
        return list(self.inputs)

    def get_outputs(self) -> list[Tensor]:
        return list(self.outputs)


def model_tensors(path: str | os.PathLike) -> ModelTensors:
    """The tensors of a model file, read once per version of the file (path, mtime, size), so that
    validating a graph again, as the editor does after each edit, costs a stat per model."""
    path = Path(path)
    stat = path.stat()
    return _read_tensors(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _read_tensors(path: Path, mtime_ns: int, size: int) -> ModelTensors:
    import onnxruntime as ort  # here: a stage whose nodes check no model never loads it
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # only the tensors are read
    options.intra_op_num_threads = 1
    options.log_severity_level = ERRORS_ONLY
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise load_error(f"model file {path}", exc) from exc
    return ModelTensors(tuple(Tensor(t.name, tuple(t.shape), t.type) for t in session.get_inputs()),
                        tuple(Tensor(t.name, tuple(t.shape), t.type) for t in session.get_outputs()))
