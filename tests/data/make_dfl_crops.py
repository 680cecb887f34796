"""Write dfl_crops.json: DeepFaceLive's own crop matrices for the faces in the two bundled portraits.

    python tests/data/make_dfl_crops.py --deepfacelive PATH/TO/DeepFaceLive

PATH is a checkout of https://github.com/iperov/DeepFaceLive (GPL-3.0). Its code is imported from
there and run, never copied: only the numbers it computes are stored. For each portrait the face's 468
FaceMesh landmarks (our BlazeFace + FaceMesh, as tests/swap_models.portrait_faces finds them) go
through DeepFaceLive's FaceAligner arithmetic (`FLandmarks2D.calc_cut`, align mode "from points",
exclude moving parts on, no head yaw) at 224 px, coverage 2.2, offsets 0, with and without head mode,
adding what its FaceAligner backend adds: y offset -0.08, and for head mode coverage +1 and y offset
-0.5. Its xlib package imports h5py and numexpr, which calc_cut does not use: empty stand-ins let it
load without them.
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import json
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for swap_models

RESOLUTION, COVERAGE = 224, 2.2


def import_deepfacelive(root: Path):
    collections.Iterable = collections.abc.Iterable  # xlib still imports it from its pre-3.10 place
    for name in ("h5py", "numexpr"):
        module = types.ModuleType(name)
        module.__getattr__ = lambda attr: object
        sys.modules.setdefault(name, module)
    sys.path.insert(0, str(root))
    from xlib.face.ELandmarks2D import ELandmarks2D
    from xlib.face.FLandmarks2D import FLandmarks2D
    return FLandmarks2D, ELandmarks2D


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deepfacelive", type=Path, required=True, help="a DeepFaceLive checkout")
    args = parser.parse_args()
    FLandmarks2D, ELandmarks2D = import_deepfacelive(args.deepfacelive)
    from swap_models import OTHER_PORTRAIT, PORTRAIT, portrait_faces

    out = {"resolution": RESOLUTION, "coverage": COVERAGE, "portraits": {}}
    for path in (PORTRAIT, OTHER_PORTRAIT):
        frame, faces = portrait_faces(path)
        height, width = frame.shape[:2]
        uniform = faces[0]["landmarks"][:, :2] / (width, height)
        marks = FLandmarks2D.create(ELandmarks2D.L468, uniform)
        matrices = {}
        for mode, head in (("default", False), ("head", True)):
            matrix, _ = marks.calc_cut((height, width), COVERAGE + (1.0 if head else 0.0), RESOLUTION,
                                       exclude_moving_parts=True, head_yaw=None, x_offset=0.0,
                                       y_offset=-0.08 + (-0.5 if head else 0.0))
            matrices[mode] = [[round(float(v), 6) for v in row] for row in matrix[:2]]
        out["portraits"][path.name] = matrices
    (HERE / "dfl_crops.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
