"""onnxruntime's error texts as a user reads them: without its source location and C++ signature, and a model
it cannot load said with what to do about it."""

from __future__ import annotations

import re

from nodegraph.model_manifest import ModelError

# what onnxruntime says of a model whose format (IR) or operator set is newer than it knows
_TOO_NEW = re.compile(r"Unsupported model IR version|Opset \d+ is under development|support for models stamped with")


def short(exc: Exception) -> str:
    """The first line of onnxruntime's message, without its error-code prefix, source location and signature."""
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", str(exc).strip())
    text = re.sub(r"(^|Status Message: |failed:)/\S+:\d+ .*?\) ", r"\1", text)  # source location, C++ signature
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def load_error(what: str, exc: Exception) -> ModelError:
    """The error for a model file (`what` names it) that onnxruntime cannot load."""
    reason = re.sub(r"^Load model from .* failed: ?", "", short(exc)).rstrip(".")  # it named the file again
    if "External data path does not exist" in reason:
        fix = "The model keeps its weights in that separate file: put it back beside the model file"
    elif _TOO_NEW.search(reason):
        import onnxruntime  # here, as in onnx.py: a stage without models never loads it
        fix = (f"The model was made for a newer onnxruntime than this one ({onnxruntime.__version__}): upgrade it "
               "(pip install -U onnxruntime, or onnxruntime-gpu), or export the model for an older opset")
    else:
        fix = ("The file is not a valid ONNX model for this onnxruntime (a truncated download, or another format?): "
               "replace it with a good copy")
    return ModelError(f"onnxruntime cannot load {what}: {reason}. {fix}")
