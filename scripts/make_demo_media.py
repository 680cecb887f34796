"""Make the demo clips in presets/media from the two public-domain portraits there.

    python scripts/make_demo_media.py            # writes presets/media/demo.mp4 and two_faces.mp4
    python scripts/make_demo_media.py --out DIR  # somewhere else

demo.mp4 (5 s, 30 fps, 640x480, mp4v): Grace Hopper's portrait with head motion (the view moves,
turns a little and zooms) and the mouth opening and closing: her FaceMesh landmarks of the lower lip
and jaw are moved down, the portrait is warped along the mesh (nodes.face.meshwarp), and the opened
mouth is filled dark. two_faces.mp4 (2 s, 640x480): both portraits side by side, small, each moving a
little on its own. Everything is a function of the frame number: the same files on every run with the
same OpenCV and onnxruntime builds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nodes.face.align import umeyama  # noqa: E402
from nodes.face.blazeface import BlazeFace  # noqa: E402
from nodes.face.facemesh import FaceMesh  # noqa: E402
from nodes.face.landmarks_data import LIPS_INNER, LIPS_OUTER, mean_face  # noqa: E402
from nodes.face.meshwarp import mesh_warp  # noqa: E402

MEDIA = REPO / "presets" / "media"
SIZE = (640, 480)  # width, height
FPS = 30.0
DEMO_FRAMES = 150
TWO_FACES_FRAMES = 60
MOUTH_PERIOD = 37  # frames per open-and-close
MOUTH_OPENING = 0.11  # the widest opening, in mean-face units (outer brow to outer brow = 1)
MOUTH_FILL = np.array([38, 36, 96], np.float32)  # BGR: the dark red of an open mouth


def portrait_landmarks(image: np.ndarray) -> np.ndarray:
    """468 x 3 FaceMesh landmarks of the largest face in the picture."""
    faces = BlazeFace().detect(image, threshold=0.5)
    if not faces:
        raise SystemExit("no face found in the portrait")
    best = max(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
    landmarks, _ = FaceMesh().landmarks(image, best["box"], best["keypoints"])
    return landmarks.astype(np.float64)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def jaw_weights() -> np.ndarray:
    """How much each landmark follows the jaw when the mouth opens (0..1), from the mean face: points
    below the line between the lips move fully, the lower lip less towards the mouth corners (so the
    opening is rounded); beside the mouth the weight grows more slowly downward, so the cheeks stretch
    rather than shear."""
    face = mean_face()[:, :2].astype(np.float64)
    inner = list(LIPS_INNER)  # from one corner along the lower lip to the other, back along the upper
    corner = len(inner) // 2
    lower, upper = face[inner[: corner + 1]], face[[inner[0], *reversed(inner[corner:])]]
    # the line between the lips, as y of x, and level with the corners beyond them
    order = np.argsort(lower[:, 0])
    xs = lower[order, 0]
    mid = (lower[order, 1] + np.interp(xs, *upper[np.argsort(upper[:, 0])].T)) / 2
    x, y = face[:, 0], face[:, 1]
    line = np.interp(x, xs, mid)
    beside = np.maximum(0.0, np.abs(x - 0.5) - (xs[-1] - xs[0]) / 2)
    ramp = 0.02 + 0.5 * beside
    jaw = _smoothstep((y - line) / ramp)
    half_width = face[list(LIPS_OUTER), 0].max() - 0.5
    rounded = np.sqrt(np.clip(1.0 - ((x - 0.5) / half_width) ** 2, 0.0, 1.0))
    in_lips = 1.0 - _smoothstep((y - face[list(LIPS_OUTER), 1].max()) / 0.08)
    return jaw * (in_lips * rounded + 1.0 - in_lips)


def open_mouth(image: np.ndarray, landmarks: np.ndarray, opening: float, weights: np.ndarray) -> np.ndarray:
    """The portrait with its mouth opened by `opening` (0..1 of MOUTH_OPENING)."""
    to_face = umeyama(mean_face()[:, :2], landmarks[:, :2])  # mean-face units -> portrait px
    down = to_face[:2, :2] @ np.array([0.0, 1.0])
    moved = landmarks.copy()
    moved[:, :2] += (opening * MOUTH_OPENING * weights)[:, None] * down[None, :]
    height, width = image.shape[:2]
    warped = mesh_warp(image, landmarks, moved, (height, width), fallback=np.eye(3)[:2])
    inside = np.zeros((height, width), np.uint8)
    cv2.fillPoly(inside, [np.round(moved[list(LIPS_INNER), :2] * 16).astype(np.int32)], 255,
                 lineType=cv2.LINE_AA, shift=4)
    alpha = cv2.GaussianBlur(inside, (0, 0), 1.2).astype(np.float32)[..., None] / 255.0
    # darker towards the middle of the opening, as the inside of a mouth is
    shade = cv2.GaussianBlur(inside, (0, 0), 6).astype(np.float32)[..., None] / 255.0
    fill = MOUTH_FILL * (1.0 - 0.5 * shade)
    return np.clip(warped * (1.0 - alpha) + fill * alpha + 0.5, 0, 255).astype(np.uint8)


def view_matrix(frame: int, centre: np.ndarray) -> np.ndarray:
    """The moving view, scene -> frame: a small pan, turn and zoom about the face centre."""
    phase = 2 * np.pi * frame / DEMO_FRAMES
    angle = 6.0 * np.sin(2 * phase)
    scale = 1.0 + 0.06 * np.sin(3 * phase + 0.5)
    shift = np.array([28.0 * np.sin(phase), 12.0 * np.sin(2 * phase + 1.0)])
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += shift
    return matrix


def scene_background(portrait: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
    """A SIZE canvas: the portrait scaled by `scale` in the middle, its edges stretched and blurred to
    the sides; and the x where the portrait starts."""
    width, height = SIZE
    small = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:height]
    left = (width - small.shape[1]) // 2
    canvas = cv2.copyMakeBorder(small, 0, height - small.shape[0], left, width - small.shape[1] - left,
                                cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(canvas, (0, 0), 8), left


def make_demo(path: Path) -> None:
    portrait = cv2.imread(str(MEDIA / "grace_hopper.jpg"))
    landmarks = portrait_landmarks(portrait)
    weights = jaw_weights()
    scale = SIZE[1] / portrait.shape[0]
    background, left = scene_background(portrait, scale)
    centre = landmarks[:, :2].mean(axis=0) * scale + [left, 0]
    writer = _writer(path)
    for i in range(DEMO_FRAMES):
        opening = 0.5 - 0.5 * np.cos(2 * np.pi * i / MOUTH_PERIOD)
        talking = cv2.resize(open_mouth(portrait, landmarks, opening, weights), None, fx=scale, fy=scale,
                             interpolation=cv2.INTER_AREA)[: SIZE[1]]
        scene = background.copy()
        scene[: talking.shape[0], left:left + talking.shape[1]] = talking
        writer.write(cv2.warpAffine(scene, view_matrix(i, centre), SIZE, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT))
    writer.release()


def make_two_faces(path: Path) -> None:
    """Two tiles side by side, like a video call, each portrait drifting a little on its own."""
    width, height = SIZE
    tile_w, tile_h = 300, 360
    top = (height - tile_h) // 2
    tiles = [(cv2.imread(str(MEDIA / name)), x)
             for name, x in (("grace_hopper.jpg", 12), ("astronaut.png", 328))]
    writer = _writer(path)
    for i in range(TWO_FACES_FRAMES):
        frame = np.full((height, width, 3), (58, 52, 48), np.uint8)
        for k, (image, x) in enumerate(tiles):
            phase = 2 * np.pi * i / TWO_FACES_FRAMES + k * 1.3
            # the picture covers the tile with room to drift: no border shows
            scale = 1.2 * max(tile_w / image.shape[1], tile_h / image.shape[0]) * (1.0 + 0.03 * np.sin(phase))
            centre = (image.shape[1] / 2, image.shape[0] / 2)
            matrix = cv2.getRotationMatrix2D(centre, 3.0 * np.sin(2 * phase), scale)
            matrix[:, 2] += np.array([tile_w / 2 + 10 * np.sin(phase), tile_h / 2]) - centre
            frame[top:top + tile_h, x:x + tile_w] = cv2.warpAffine(image, matrix, (tile_w, tile_h),
                                                                   flags=cv2.INTER_AREA,
                                                                   borderMode=cv2.BORDER_REPLICATE)
        writer.write(frame)
    writer.release()


def _writer(path: Path) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot write mp4v video here")
    return writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MEDIA, help="the folder to write into")
    args = parser.parse_args()
    make_demo(args.out / "demo.mp4")
    make_two_faces(args.out / "two_faces.mp4")
    for name in ("demo.mp4", "two_faces.mp4"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
