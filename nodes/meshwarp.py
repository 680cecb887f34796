"""The built-in swapper: a portrait's face warped along FaceMesh's triangles onto each driving face.

No model to download: the identity's 468 landmarks are found once (built-in BlazeFace and FaceMesh),
and every frame the portrait is warped triangle by triangle onto the driver's landmarks in the
driver's aligned crop (sampled once, cubic, straight from the portrait).

What comes from where:

- from the driver: the geometry (head pose, expression: where all 468 landmarks are, so the mouth's
  opening, the lids and the brows move with the driver's), the inside of the mouth (teeth, tongue,
  the dark cavity; `mouth` driver, the default) and, with `eyes` driver, the eyes inside the lids
  (whites, iris, gaze, blinks; off by default, as the portrait's eyes carry much of its identity);
  everything outside the mask: the forehead above `forehead` (and above where the portrait's own skin
  ends, with `hairline` on), hair, ears, neck, the background; and, through ColorTransfer after it, the
  skin's colour and overall light.
- from the portrait: the skin's texture and every feature inside the face oval (brows, lids, nose,
  lips, and the eyes by default), with their look but the driver's placement; and, with `brows`
  identity (the default), how high the brows sit above the eyes, moving up and down as the driver's
  do (face.brow_height: FaceMesh puts the brows of a driver with glasses on the glasses' top rim).
- the driver's occluders (glasses, a hand) inside the mask are replaced by the portrait's face here; a
  FaceMask into the FaceMerger's `mask` keeps them (a parser's regions without `glasses`, an occluder,
  or landmark regions such as `face, -brows`); the portrait's own glasses come along with its face.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np

from nodegraph.errors import InvalidInput
from nodegraph.node import Node
from nodegraph.params import Bool, Choice, Float, Int, Path
from nodegraph.types import Frame

from .face.align import face_frame_matrix, transform_points
from .face.blazeface import BlazeFace
from .face.brow_height import BROWS, BrowHeight, brow_heights
from .face.facemesh import FaceMesh, head_pose
from .face.landmarks_data import (
    FACE_OVAL,
    LEFT_EYE_CONTOUR,
    LEFT_EYE_OUTER,
    LIPS_INNER,
    RIGHT_EYE_CONTOUR,
    RIGHT_EYE_OUTER,
)
from .face.meshwarp import similarity_fit, warp_maps
from .face.records import Faces, updated
from .image_work import ImageGraphs, chosen_graphs, image_work_param
from .media import IMAGE_EXTENSIONS, list_images, read_image
from .swap_common import chosen_faces, portrait_face, swap_preview

log = logging.getLogger("nodegraph")
HAIR_DISTANCE = 25.0  # L*a*b* (8-bit) distance from the lower forehead's colour where the skin ends
HAIR_MARGIN = 0.15  # of the brow-to-hairline height, kept clear below where the portrait's skin ends
FOREHEAD_TOP = 10  # FaceMesh's point at the top of the forehead
FOREHEAD_FADE = 0.2  # of the brow-to-hairline height, each side of the swap's top edge
MAP_TILE = 256  # the warp map is computed every resolution // MAP_TILE px and upsampled above this size


@dataclass(frozen=True)
class Identity:
    """One portrait, ready to warp: its aligned face, the landmarks in that crop, its head pose."""

    name: str
    texture: np.ndarray  # uint8 BGR: the portrait, shrunk when its face is much larger than the swap's
    points: np.ndarray  # 468 x 2 float64, in the texture's pixels
    pose: np.ndarray  # yaw, pitch in degrees
    skin_reach: float  # how far up its forehead the portrait shows skin, as the forehead param counts
    brow_heights: np.ndarray  # its brow points' heights above the eyes (face.brow_height)


def _sampled(image: np.ndarray, landmarks: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(picture, landmarks in it) to warp from when the swap has `scale` of the portrait's px per px: the
    portrait itself, or shrunk with area averaging when its face is over twice the swap's size, so the
    warp does not alias. Warping from the portrait itself, not from an aligned copy, resamples it once."""
    if scale >= 0.5:
        return image, landmarks
    factor = 2.0 * scale
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), landmarks * factor


def _skin_reach(image: np.ndarray, points: np.ndarray) -> float:
    """How far up the forehead the portrait shows skin, from the eyebrows (0) to the face oval's top (1):
    along the line from the brows' top to the oval's top, the first place whose colour is more than
    HAIR_DISTANCE (L*a*b*) from the forehead's just above the brows, less HAIR_MARGIN. A fringe or a
    hat above that would come out as a band across the driver's forehead."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2Lab).astype(np.float32)
    patch = max(2, int(0.05 * np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER])))
    start = np.array([points[BROWS, 0].mean(), points[BROWS, 1].min()])
    steps = np.linspace(0.0, 1.0, 21)
    colours = []
    for t in steps:
        x, y = np.round(start + t * (points[FOREHEAD_TOP] - start)).astype(int)
        x, y = np.clip(x, patch, image.shape[1] - patch - 1), np.clip(y, patch, image.shape[0] - patch - 1)
        colours.append(lab[y - patch:y + patch + 1, x - patch:x + patch + 1].reshape(-1, 3).mean(axis=0))
    skin = np.mean(colours[1:4], axis=0)  # 5-15% of the way up: clear of the brows' hairs
    beyond = np.flatnonzero(np.linalg.norm(np.array(colours) - skin, axis=1) > HAIR_DISTANCE)
    beyond = beyond[beyond > 3]
    return 1.0 if beyond.size == 0 else max(0.0, float(steps[beyond[0]]) - HAIR_MARGIN)


def _polygon_mask(points: np.ndarray, size: int) -> np.ndarray:
    """uint8 size x size: 255 inside the polygon (sub-pixel, anti-aliased edge)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def _soften(mask: np.ndarray, sigma: float) -> np.ndarray:
    """float32 0..1: the uint8 mask blurred with a Gaussian of `sigma`. Only the mask's box and the
    kernel's reach around it are blurred, to the whole-image blur's values (but for float rounding):
    elsewhere that blur gives 0 too, since cv2's float kernel reaches round(4 sigma) px and the reflected
    border inside that reach is 0 as well."""
    soft = np.zeros(mask.shape, np.float32)
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return soft
    reach = int(np.ceil(4 * sigma)) + 1
    rows = slice(max(y - reach, 0), min(y + h + reach, mask.shape[0]))
    cols = slice(max(x - reach, 0), min(x + w + reach, mask.shape[1]))
    soft[rows, cols] = cv2.GaussianBlur(mask[rows, cols].astype(np.float32) * np.float32(1 / 255), (0, 0),
                                        sigmaX=sigma)
    return soft


def _outline(points: np.ndarray, forehead: float) -> np.ndarray:
    """The face oval in an upright crop, its part above the eyebrows pulled down towards them to
    `forehead` of its height (or pushed beyond, above 1)."""
    outline = points[list(FACE_OVAL)].copy()
    brow = points[BROWS, 1].min()
    above = outline[:, 1] < brow
    outline[above, 1] = brow + forehead * (outline[above, 1] - brow)
    return outline


def _forehead_fade(points: np.ndarray, forehead: float, size: int) -> tuple[float, np.ndarray]:
    """(how far the outline reaches, size x 1 float32 weights per row): the swap's top edge, `forehead`
    of the way from the eyebrows to the face oval's top, fades over up to FOREHEAD_FADE of that height on
    either side (weight 0.5 at the edge), so the portrait's forehead thins out into the driver's
    instead of ending in a band."""
    brow = points[BROWS, 1].min()
    height = brow - points[list(FACE_OVAL), 1].min()
    # narrower towards the hairline, where the hair hides the edge: none at forehead 1
    edge, fade = brow - forehead * height, max(FOREHEAD_FADE * height * min(1.0, (1.0 - forehead) / 0.4), 1.0)
    ramp = np.clip((np.arange(size, dtype=np.float32)[:, None] - (edge - fade)) / (2 * fade), 0.0, 1.0)
    return forehead + fade / max(height, 1.0), (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)


def _track(face: dict, index: int):
    """Which face this is from frame to frame: its track id, or its place in the list without one."""
    track = face.get("track_id")
    return ("index", index) if track is None else track


class MeshWarpSwapper(Node):
    """Swaps faces with a portrait's face, warped along FaceMesh's triangles: built in, no model file."""

    category = "Swap"
    inputs = {"frame": Frame, "faces": Faces}
    outputs = {"faces": Faces}
    params = {
        "identity": Path(role="input", extensions=list(IMAGE_EXTENSIONS), also_folder=True,
                         help="a portrait of the face to put in, or a folder of portraits of one person "
                              "(each frame uses the one whose head pose is nearest the driver's)"),
        "resolution": Int(64, 1024, default=256, help="side of the swapped face crop in px"),
        "coverage": Float(1.5, 4.0, default=2.2, step=0.05,
                          help="how much around the face the crop spans, in brow-to-mouth face sizes "
                               "(like the aligner's)"),
        "mouth": Choice(["driver", "identity"], default="driver",
                        help="inside the lips: the driver's own mouth (teeth, tongue) as it opens, or the "
                             "portrait's, stretched"),
        "eyes": Choice(["identity", "driver"], default="identity",
                       help="inside the eyelids: the portrait's eyes, or the driver's (their gaze)"),
        "forehead": Float(0.0, 1.0, default=0.6, step=0.05,
                          help="how far up the forehead the swap reaches, from the eyebrows (0) to FaceMesh's "
                               "face outline at the hairline (1), where a portrait's fringe would show"),
        "hairline": Bool(False, help="stop the forehead where the portrait's skin ends, below its fringe or hat "
                                    "(which would show as a band across the driver's forehead)"),
        "brows": Choice(["identity", "driver"], default="identity",
                        help="how high the brows sit above the eyes: the portrait's own height, moving as the "
                             "driver's brows move, or where the driver's landmarks put them (FaceMesh can put "
                             "them on the top rim of glasses)"),
        "swap": Choice(["all", "one"], default="all", help="swap every face, or only the one at face_index"),
        "face_index": Int(0, 63, default=0, help="which face (in the faces input's order) when swap is one"),
        "image_work": image_work_param("the portrait's warp (a cubic remap)"),
    }
    cost_ms = 4.5

    def setup(self):
        self._load_identity()
        self._brow_height = BrowHeight()
        self._preview_rows: list = []
        self._graphs = ImageGraphs(self.id)
        self._image_graphs()  # its session made and warmed up before the first frame

    def param_changed(self, name):
        if name == "identity":
            self._load_identity()
        elif name in ("resolution", "coverage"):
            self._prepare_identities()

    # -- the identity ----------------------------------------------------------------------------

    def _load_identity(self):
        """Find the face of each portrait (once: changing resolution or coverage keeps them)."""
        where = f"node '{self.id}' (MeshWarpSwapper), param 'identity'"
        try:
            files = list_images(self.identity) if os.path.isdir(self.identity) else [self.identity]
            images = [(str(path), read_image(str(path))) for path in files]
        except InvalidInput as e:
            raise InvalidInput(f"{where}: {e}") from None
        detector, mesh = BlazeFace(), FaceMesh()
        portraits, faceless = [], []
        for name, image in images:
            found = portrait_face(image, detector, mesh, f"{where}: {name}")
            landmarks = found[1] if found is not None else None
            if landmarks is None:
                faceless.append(name)
            else:
                portraits.append((name, image, landmarks))
        if not portraits:
            what = (faceless[0] if len(faceless) == 1
                    else f"{self.identity} (none of its {len(faceless)} pictures)")
            raise InvalidInput(f"{where}: {what}: no face found; use a clear, frontal, well-lit portrait")
        for name in faceless:  # a folder's other pictures have faces: the run goes on without this one
            log.warning("%s: %s: no face found; this picture is skipped", where, name)
        self._portraits = portraits
        self._prepare_identities()

    def _prepare_identities(self):
        """Each portrait to warp from, at no more than twice the px per face unit the swap has."""
        identities = []
        for name, image, landmarks in self._portraits:
            matrix = face_frame_matrix(landmarks, self.coverage, self.resolution)
            texture, points = _sampled(image, np.asarray(landmarks, np.float64)[:, :2],
                                       float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))))
            yaw, pitch, _ = head_pose(landmarks)
            identities.append(Identity(name, texture, points, np.array([yaw, pitch]), _skin_reach(texture, points),
                                       brow_heights(points)))
        self.identities = identities

    def _image_graphs(self) -> ImageGraphs | None:
        """The onnxruntime graphs when the warp runs there, else None (OpenCV)."""
        return chosen_graphs(self.image_work, self._graphs, "remap", "cubic", f"node '{self.id}' (MeshWarpSwapper)")

    def _identity_for(self, face: dict, landmarks: np.ndarray) -> Identity:
        if len(self.identities) == 1:
            return self.identities[0]
        pose = face.get("pose")
        yaw_pitch = np.array(head_pose(landmarks)[:2] if pose is None else np.asarray(pose, np.float64)[:2])
        return min(self.identities, key=lambda identity: float(np.sum((identity.pose - yaw_pitch) ** 2)))

    # -- per frame -------------------------------------------------------------------------------

    def process(self, frame, faces):
        out, rows = [], []
        chosen = chosen_faces(faces, self.swap, self.face_index)
        for i, face in enumerate(faces):
            landmarks = face.get("landmarks")
            usable = landmarks is not None and len(landmarks) == 468 and np.isfinite(landmarks).all()
            if i not in chosen or not usable:
                out.append(face)
                continue
            swap, matrix, mask = self._swap_one(frame, face, np.asarray(landmarks, np.float64), _track(face, i))
            out.append(updated(face, swap=swap, swap_matrix=matrix, swap_mask=mask))
            rows.append((face, matrix, swap, mask))
        self._brow_height.frame_seen([_track(face, i) for i, face in enumerate(faces)])
        self._preview_frame, self._preview_rows = frame, rows
        return {"faces": out}

    def _swap_one(self, frame, face, landmarks, track):
        """(swap, frame -> swap matrix, swap mask) of one driving face."""
        size = self.resolution
        matrix = face_frame_matrix(landmarks, self.coverage, size).astype(np.float32)
        points = transform_points(landmarks, matrix)
        identity = self._identity_for(face, landmarks)
        warped = np.column_stack([points, landmarks[:, 2]])
        if self.brows == "identity":
            warped = self._brow_height.moved(warped, identity.brow_heights, track)
        map_x, map_y = warp_maps(warped, identity.points, (size, size),
                                 similarity_fit(points, identity.points), step=max(1, size // MAP_TILE))
        # cubic: the portrait is resampled once here, and bilinear sampling visibly softens its skin
        graphs = self._image_graphs()
        if graphs is not None:
            swap = graphs.remap(identity.texture, map_x, map_y, "cubic")
        else:
            swap = cv2.remap(identity.texture, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

        sigma = max(0.5, size / 256)
        forehead = min(self.forehead, identity.skin_reach) if self.hairline else self.forehead
        reach, fade = _forehead_fade(points, forehead, size)
        mask = _soften(_polygon_mask(_outline(points, reach), size), 2 * sigma) * fade
        openings = [loop for loop, keep in ((LIPS_INNER, self.mouth), (RIGHT_EYE_CONTOUR, self.eyes),
                                            (LEFT_EYE_CONTOUR, self.eyes)) if keep == "driver"]
        if openings:
            holes = np.zeros((size, size), np.uint8)
            for loop in openings:
                holes |= _polygon_mask(points[list(loop)], size)
            if holes.any():
                holes = _soften(holes, sigma)
                # the driver's pixels only where they are used: the openings' box
                x, y, w, h = cv2.boundingRect((holes > 1 / 255).astype(np.uint8))
                box = (slice(y, y + h), slice(x, x + w))
                driver = self._driver_crop(frame, face, matrix, (x, y, w, h))
                weight = np.ascontiguousarray(holes[box])
                swap[box] = cv2.blendLinear(driver, np.ascontiguousarray(swap[box]), weight, 1.0 - weight)
                mask *= 1.0 - holes
        return swap, matrix, mask

    def _driver_crop(self, frame, face, matrix, rect) -> np.ndarray:
        """The driver's pixels in the rectangle (x, y, w, h) of the swap's geometry: cut from the
        aligner's crop when it has this very geometry, else sampled from the frame."""
        x, y, w, h = rect
        crop, crop_matrix = face.get("crop"), face.get("matrix")
        if (crop is not None and crop_matrix is not None and crop.shape[:2] == (self.resolution,) * 2
                and np.allclose(crop_matrix, matrix, atol=1e-3)):
            return crop[y:y + h, x:x + w]
        shifted = np.asarray(matrix, np.float64) - np.array([[0.0, 0.0, x], [0.0, 0.0, y]])
        return cv2.warpAffine(frame, shifted, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

    def preview(self, outputs):
        """Per swapped face: the driver's crop | the swap | the mask."""
        frame, size = getattr(self, "_preview_frame", None), self.resolution
        return swap_preview([(self._driver_crop(frame, face, matrix, (0, 0, size, size)), swap, mask)
                             for face, matrix, swap, mask in getattr(self, "_preview_rows", [])])
