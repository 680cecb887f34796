"""The five-point warp templates the one-shot swappers were trained on, as FaceFusion names and ships them
(facefusion/face_helper.py, WARP_TEMPLATE_SET): the subject's right eye (image left), left eye, nose tip,
right and left mouth corners, as fractions of the crop's side. A crop of any size scales them.

`arcface_112_v2` is InsightFace's 112 px ArcFace template (face.align.ARCFACE_TEMPLATE_112 / 112);
`arcface_128` is inswapper's: that template at 128 px shifted 8 px right (face.align.arcface_template)."""

from __future__ import annotations

import numpy as np

WARP_TEMPLATES = {
    "arcface_112_v1": np.array([[0.35473214, 0.45658929], [0.64526786, 0.45658929], [0.50000000, 0.61154464],
                                [0.37913393, 0.77687500], [0.62086607, 0.77687500]]),
    "arcface_112_v2": np.array([[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
                                [0.37097589, 0.82469196], [0.63151696, 0.82325089]]),
    "arcface_128": np.array([[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
                             [0.38710391, 0.72160547], [0.61507734, 0.72034453]]),
    "ffhq_512": np.array([[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
                          [0.39308822, 0.72541100], [0.61150205, 0.72490465]]),
    "mtcnn_512": np.array([[0.36562865, 0.46733799], [0.63305391, 0.46585885], [0.50019127, 0.61942959],
                           [0.39032951, 0.77598822], [0.61178945, 0.77476328]]),
}


def template_points(name: str, size: int) -> np.ndarray:
    """The template `name` in pixels of a size x size crop (5 x 2)."""
    return WARP_TEMPLATES[name] * size
