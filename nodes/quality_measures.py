"""The figures of the swap quality benchmark, each for one output frame against its driver frame and the
identity portrait: expression (landmark NME), identity (dlib's face recogniser), colour beyond both
inputs, the seam at the mask's border and the identity's detail kept.

The NME's landmarks come from a pass independent of the chain: dlib's HOG face detector and its 68-point
shape predictor (not FaceMesh, whose points the swap was warped onto). The face regions use FaceMesh's
468 points, found afresh on each picture (BlazeFace + FaceMesh, no tracking or smoothing)."""

from __future__ import annotations

import cv2
import numpy as np

from .face.blazeface import BlazeFace
from .face.blend import hull_mask
from .face.facemesh import FaceMesh
from .face.landmarks_data import (
    FACE_OVAL,
    LEFT_EYE_CONTOUR,
    LEFT_EYE_OUTER,
    LIPS_INNER,
    LIPS_OUTER,
    RIGHT_EYE_CONTOUR,
    RIGHT_EYE_OUTER,
)
from .swap_common import portrait_face

CHROMA_HELD = 0.995  # the share of a face's own a*b* colours its colour range holds
INNER_FACE = 0.15  # the detail measure keeps this many inter-ocular distances clear of the face oval


class LandmarkPass:
    """468 landmarks of the largest face of a picture, found afresh each time."""

    def __init__(self):
        self.detector, self.mesh = BlazeFace(), FaceMesh()

    def __call__(self, image: np.ndarray, what: str = "bench quality: a picture") -> tuple[dict, np.ndarray] | None:
        found = portrait_face(image, self.detector, self.mesh, what)
        if found is None or found[1] is None:
            return None
        return found[0], np.asarray(found[1], np.float64)[:, :2]


def inter_ocular(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]))


class IdentityJudge:
    """dlib's ResNet face recogniser (128-d descriptors; same person below about 0.6), and dlib's own
    68-point landmarks for the NME."""

    def __init__(self):
        try:
            import dlib
            import face_recognition_models as models
        except ImportError as e:
            raise RuntimeError(f"bench quality: the identity judge needs dlib and its models ({e.name} is "
                               "missing); install them with: pip install 'nodegraph[dev]' (dlib-bin, "
                               "face-recognition-models)") from None
        self._dlib = dlib
        self._shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self._detector = dlib.get_frontal_face_detector()
        self._marks68 = dlib.shape_predictor(models.pose_predictor_model_location())

    def face_box(self, image: np.ndarray, centre: np.ndarray):
        """dlib's HOG detection (upsampled once) nearest `centre` (x, y), or None."""
        boxes = self._detector(np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), 1)
        if not boxes:
            return None
        return min(boxes, key=lambda b: np.hypot(b.center().x - centre[0], b.center().y - centre[1]))

    def landmarks68(self, image: np.ndarray, box) -> np.ndarray:
        """dlib's 68 landmarks of the face in `box` (a face_box)."""
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return np.array([(p.x, p.y) for p in self._marks68(rgb, box).parts()], np.float64)

    def descriptor(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The descriptor of the face whose 468 landmarks are `points` (their box places dlib's 5 points)."""
        left, top = points.min(axis=0)
        right, bottom = points.max(axis=0)
        box = self._dlib.rectangle(int(left), int(top), int(right), int(bottom))
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return np.asarray(self._net.compute_face_descriptor(rgb, self._shape(rgb, box)))


# dlib's 68 points by region, to say where an NME comes from
REGIONS68 = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
             "mouth": range(48, 68)}


def landmark_errors(output_points: np.ndarray, driver_points: np.ndarray) -> np.ndarray:
    """68 distances of dlib's landmarks, in the driver's outer-eye-corner distances (points 36, 45)."""
    distances = np.linalg.norm(output_points - driver_points, axis=1)
    return distances / np.linalg.norm(driver_points[36] - driver_points[45])


def landmark_nme(output_points: np.ndarray, driver_points: np.ndarray) -> float:
    """The mean of `landmark_errors`."""
    return float(landmark_errors(output_points, driver_points).mean())


def face_region(points: np.ndarray, shape: tuple[int, ...], inset: float = 0.0) -> np.ndarray:
    """bool mask of the face oval, shrunk by `inset` inter-ocular distances."""
    region = hull_mask(points[list(FACE_OVAL)], shape) > 0.5
    pixels = int(round(inset * inter_ocular(points)))
    if pixels > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
        region = cv2.erode(region.view(np.uint8), kernel).astype(bool)
    return region


def _chroma(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """N x 2 float64: the a*b* of the region's pixels (8-bit L*a*b*)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2Lab)[region][:, 1:].astype(np.float64)


class ChromaRange:
    """The a*b* colours of a face: a Gaussian fit, and the Mahalanobis radius that holds CHROMA_HELD of
    the face's own pixels."""

    def __init__(self, image: np.ndarray, region: np.ndarray):
        chroma = _chroma(image, region)
        self.mean = chroma.mean(axis=0)
        self.inverse = np.linalg.inv(np.cov(chroma.T) + np.eye(2))  # + 1: 8-bit steps
        self.radius = np.quantile(self.distance(chroma), CHROMA_HELD)

    def distance(self, chroma: np.ndarray) -> np.ndarray:
        centred = chroma - self.mean
        return np.sqrt(np.einsum("ni,ij,nj->n", centred, self.inverse, centred))

    def outside(self, chroma: np.ndarray) -> np.ndarray:
        return self.distance(chroma) > self.radius


def colour_region(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """bool: the skin and lips, where the colour measure looks: the face oval nearly to its edge (where
    the swap blends), less the eyes and the mouth's opening (whites, teeth and shadows)."""
    return skin_region(points, shape, (LIPS_INNER, RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR), inset=0.03)


def foreign_colour(output: np.ndarray, region: np.ndarray, driver: ChromaRange, identity: ChromaRange) -> float:
    """Share of the output's skin and lips (`region`, the driver's `colour_region`) whose a*b* colour is
    outside both the driver's and the identity's range (a spot, a cast or oversaturated lips)."""
    chroma = _chroma(output, region)
    return float(np.mean(driver.outside(chroma) & identity.outside(chroma)))


def seam_ratio(output: np.ndarray, driver: np.ndarray, alpha: np.ndarray) -> float:
    """Mean gradient across the paste mask's border (where 0.1 < alpha < 0.9, along alpha's gradient) in
    the output, over the same in the driver frame: 1 is a seam no sharper than the picture itself."""
    ring = (alpha > 0.1) & (alpha < 0.9)
    if not ring.any():
        return float("nan")
    ax, ay = cv2.Sobel(alpha, cv2.CV_32F, 1, 0), cv2.Sobel(alpha, cv2.CV_32F, 0, 1)
    norm = np.hypot(ax, ay)[ring] + 1e-9
    across = []
    for image in (output, driver):
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        across.append(float(np.mean(np.abs(gx[ring] * ax[ring] + gy[ring] * ay[ring]) / norm)))
    return across[0] / max(across[1], 1e-6)


def skin_region(points: np.ndarray, shape: tuple[int, ...], loops=(LIPS_OUTER, RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR),
                inset: float = INNER_FACE) -> np.ndarray:
    """bool: the face oval inset by `inset`, less the `loops` (by default the mouth and the eyes, which
    the swap may take from the driver), each grown by a tenth of the inter-ocular distance."""
    openings = np.zeros(shape[:2], np.uint8)
    for loop in loops:
        openings |= (hull_mask(points[list(loop)], shape) > 0.5).view(np.uint8)
    grow = int(round(0.1 * inter_ocular(points))) * 2 + 1
    openings = cv2.dilate(openings, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    return face_region(points, shape, inset) & (openings == 0)


def laplacian_variance(image: np.ndarray, region: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F)[region].var())


def detail_ratio(output: np.ndarray, output_points: np.ndarray, identity: np.ndarray,
                 identity_points: np.ndarray) -> float:
    """Laplacian variance of the output's skin over the identity's (`skin_region`), the identity resized
    first so its inter-ocular distance is the output face's (the same scale): area averaging to shrink,
    cubic to enlarge (area averaging enlarges in blocks, whose edges would count as detail)."""
    scale = inter_ocular(output_points) / inter_ocular(identity_points)
    resized = cv2.resize(identity, None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    identity_detail = laplacian_variance(resized, skin_region(identity_points * scale, resized.shape))
    return laplacian_variance(output, skin_region(output_points, output.shape)) / identity_detail
