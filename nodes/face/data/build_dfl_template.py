"""Rebuild dfl_mean_face.json: the mean face and points DeepFaceLive fits FaceMesh landmarks to.

    python -m nodes.face.data.build_dfl_template --uv-coords uv_coords.ts --deepfacelive FLandmarks2D.py

DeepFaceLive (GPL-3.0) aligns a face for its .dfm models by fitting 152 of FaceMesh's 468 landmarks
(those not in its `landmarks_468_moving_parts_indexes`) to its `uni_landmarks_468` (xlib/face/FLandmarks2D.py).
That mean face is MediaPipe's canonical face mesh texture coordinates, the UV_COORDS list TensorFlow.js
ships under Apache-2.0 (tensorflow/tfjs-models, face-landmarks-detection/src/mediapipe-facemesh/uv_coords.ts,
commit 8f70b0160fd8dddab79f8a3b8503eed09981106c), moved by one similarity: scale about 1.772, a turn of
about 0.1 degree and a shift. This script reads the UV coordinates (the data), fits that similarity to
DeepFaceLive's numbers (Umeyama; it checks the fit is exact to float32 precision), and writes
- `points`: the UV coordinates through the fitted similarity, 468 x 2 (x right, y down, DeepFaceLive's
  face units: the crop's unit square);
- `fit_indices`: the 152 landmarks DeepFaceLive fits (its default, "exclude moving parts");
- `uv_to_dfl`: the similarity's scale, angle and shift, so the derivation can be checked by hand.
Only numbers are read from DeepFaceLive's file; none of its code is run or kept.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from nodes.face.align import umeyama

DATA_DIR = Path(__file__).resolve().parent
OUTPUT = DATA_DIR / "dfl_mean_face.json"
_NUMBER = r"[-+]?\d+\.\d+(?:e[-+]?\d+)?"


def read_uv_coords(path: Path) -> np.ndarray:
    text = path.read_text()
    body = text[text.index("UV_COORDS"):]
    return np.array([float(v) for v in re.findall(_NUMBER, body)], np.float64).reshape(468, 2)


def read_deepfacelive(path: Path) -> tuple[np.ndarray, list[int]]:
    """(DeepFaceLive's effective uni_landmarks_468, its moving-parts indices): the file assigns
    uni_landmarks_468 twice; the later assignment is the one its code uses."""
    text = path.read_text()
    moving = re.search(r"landmarks_468_moving_parts_indexes = \[([\d,\s]+)\]", text).group(1)
    last = text.rindex("uni_landmarks_468 = np.array(")
    body = text[last:text.index("dtype", last)]
    mean = np.array([float(v) for v in re.findall(_NUMBER, body)], np.float64).reshape(468, 2)
    return mean, [int(i) for i in moving.split(",")]


def build(uv_path: Path, dfl_path: Path) -> dict:
    uv = read_uv_coords(uv_path)
    dfl_mean, moving = read_deepfacelive(dfl_path)
    fit = umeyama(uv, dfl_mean)
    points = uv @ fit[:2, :2].T + fit[:2, 2]
    error = np.abs(points - dfl_mean).max()
    if error > 1e-6:
        raise SystemExit(f"{dfl_path}: its mean face is not a similarity of the UV coordinates (off by {error})")
    return {
        "uv_to_dfl": {"scale": float(np.hypot(*fit[:2, 0])), "angle_deg": float(np.degrees(np.arctan2(fit[1, 0],
                      fit[0, 0]))), "shift": [float(v) for v in fit[:2, 2]]},
        "fit_indices": [i for i in range(468) if i not in set(moving)],
        "points": [[round(float(x), 7), round(float(y), 7)] for x, y in points],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv-coords", type=Path, required=True, help="tfjs-models' uv_coords.ts")
    parser.add_argument("--deepfacelive", type=Path, required=True, help="DeepFaceLive's xlib/face/FLandmarks2D.py")
    args = parser.parse_args(argv)
    data = build(args.uv_coords, args.deepfacelive)
    rows = ",\n  ".join(json.dumps(p) for p in data.pop("points"))
    head = json.dumps(data)[:-1]
    OUTPUT.write_text(f'{head},\n "points": [\n  {rows}\n ]}}\n')
    print(f"wrote {OUTPUT}: {len(data['fit_indices'])} fitted points; UV -> DeepFaceLive: {data['uv_to_dfl']}")


if __name__ == "__main__":
    main()
