"""FaceDetector between detections, with the real BlazeFace model on the demo clip: optical flow follows
the face as it moves, and gives it up when it is gone (a scene cut, a fast exit, a hand over it), so that
the model runs on that frame rather than a stale box going on to the swap."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from clips import read_frames
from portraits import FACES, MEDIA, portrait

from nodes.detect import FaceDetector
from nodes.face.blazeface import iou_one_to_many

FACE_FRAME = 40  # a frame of the demo clip with the face upright, mid-frame


@pytest.fixture(scope="module")
def clip():
    return read_frames(MEDIA / "demo.mp4")


def detector(every: int) -> FaceDetector:
    node = FaceDetector(f"every_{every}", {"detect_every": every, "smoothing": False})
    node.setup()
    return node


def hand_over(frame: np.ndarray, x: int, y: int = 40) -> np.ndarray:
    """The frame with a skin-coloured, textured oval (a hand held up) whose left edge is at `x`."""
    texture = cv2.GaussianBlur(np.random.default_rng(1).normal(0, 1, (400, 260)).astype(np.float32), (0, 0), 4)
    hand = np.clip(texture[..., None] / texture.std() * 25 + np.float32([110, 140, 190]), 0, 255).astype(np.uint8)
    oval = np.zeros((400, 260), np.uint8)
    cv2.ellipse(oval, (130, 200), (125, 195), 0, 0, 360, 255, -1)
    out = frame.copy()
    left, right = max(x, 0), min(x + 260, frame.shape[1])
    if right > left:
        inside = oval[:, left - x:right - x] > 0
        out[y:y + 400, left:right][inside] = hand[:, left - x:right - x][inside]
    return out


CUTS = {
    "to another part of the scene": lambda frame: cv2.resize(frame[:240, :320], (640, 480)),
    "to the face 200 px aside (a fast exit)": lambda frame: np.roll(frame, 200, axis=1),
    "to the face upside down": lambda frame: cv2.rotate(frame, cv2.ROTATE_180),
    "to a hand over the face": lambda frame: hand_over(frame, 220),
    # the same face, 0.7 x as large about its centre: the followed box would be a wrong size
    "to a wider shot of the same face": lambda frame: cv2.warpAffine(
        frame, cv2.getRotationMatrix2D((353, 170), 0, 0.7), frame.shape[1::-1]),
}


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_a_cut_on_a_tracking_frame_makes_the_model_run(clip, cut):
    """detect_every 2: the model finds the face, the next frame is another shot. The old face must not be
    followed onto it: the model runs there and its faces (none, or one elsewhere) go out."""
    tracked, model = detector(2), detector(1)
    before = clip[FACE_FRAME]
    assert len(tracked.process(before)["faces"]) == 1
    after = CUTS[cut](before)
    faces = tracked.process(after)["faces"]
    assert tracked._countdown == 1  # the model ran on the cut, so the next frame is a tracking frame again
    expected = model.process(after)["faces"]
    assert [f["box"].tolist() for f in faces] == [f["box"].tolist() for f in expected]


def test_a_hand_sliding_over_the_face_is_not_followed(clip):
    """detect_every 30, a still face: a hand slides over it, 16 px a frame. Once the hand covers most of
    the face the flow follows the hand, but the box then no longer looks like the face the model found:
    the model runs instead. The box never leaves the face, and none goes out while the face is hidden."""
    tracked = detector(30)
    [found] = tracked.process(clip[FACE_FRAME])["faces"]
    centre = (found["box"][:2] + found["box"][2:]) / 2
    for step in range(19):
        x = -20 + 16 * step
        faces = tracked.process(hand_over(clip[FACE_FRAME], x))["faces"]
        for face in faces:
            moved = (face["box"][:2] + face["box"][2:]) / 2 - centre
            assert np.abs(moved).max() < 3, f"hand at x {x}: the box moved {moved} with the hand, off the face"
        if x <= found["box"][0] and x + 260 >= found["box"][2]:  # the hand covers the face from side to side
            assert faces == [], f"hand at x {x}: a box on a hidden face"


def test_the_demo_clip_is_followed_between_detections(clip):
    """On normal motion nothing changes: the model runs on every second frame only, and the followed
    boxes stay on the face the model finds in each frame."""
    tracked, model = detector(2), detector(1)
    for i, frame in enumerate(clip[:60]):
        [face], [expected] = tracked.process(frame)["faces"], model.process(frame)["faces"]
        assert tracked._countdown == 1 - i % 2, f"frame {i}: the model ran on a tracking frame"
        assert iou_one_to_many(face["box"], expected["box"][None])[0] > 0.9, i


def filling(name: str, face_x: float, face_side: float) -> np.ndarray:
    """A 640x480 frame filled by the portrait (its edges stretched where it ends), its face `face_side` px
    wide, centred at (face_x, 200)."""
    centre_x, centre_y, side = FACES[name]
    scale = face_side / side
    matrix = np.float32([[scale, 0, face_x - scale * centre_x], [0, scale, 200 - scale * centre_y]])
    return cv2.warpAffine(portrait(name), matrix, (640, 480), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def cross_fade(first: np.ndarray, second: np.ndarray, length: int) -> list[np.ndarray]:
    """10 frames of the first shot, `length` frames fading into the second, 20 of the second; each with a
    camera's noise, so that no two frames are alike."""
    weights = [0.0] * 10 + [i / (length + 1) for i in range(1, length + 1)] + [1.0] * 20
    noise = np.random.default_rng(0)
    return [np.clip(cv2.addWeighted(first, 1 - w, second, w, 0) + noise.normal(0, 2, first.shape), 0, 255)
            .astype(np.uint8) for w in weights]


FADES = {  # (first shot, second shot, frames of the fade): they kept a box on the fading face 7 and 10 frames
    "astronaut to Hopper over 60 frames": (("astronaut.png", 180, 170), ("grace_hopper.jpg", 460, 170), 60),
    "Hopper to astronaut over 30 frames": (("grace_hopper.jpg", 460, 170), ("astronaut.png", 180, 170), 30),
}


@pytest.mark.parametrize("fade", sorted(FADES))
def test_no_box_is_carried_through_a_cross_fade(fade):
    """detect_every 12 through a slow cross-fade between two shots: each frame changes little, so the
    fading face's box came back when followed back and still looked enough like the face the model last
    found, and went on to the swap for up to 11 frames after the model had lost the face. Every box must
    be on a face the model finds on that frame."""
    first, second, length = FADES[fade]
    tracked, model = detector(12), detector(1)
    for i, frame in enumerate(cross_fade(filling(*first), filling(*second), length)):
        found = np.array([f["box"] for f in model.process(frame)["faces"]], np.float32).reshape(-1, 4)
        for face in tracked.process(frame)["faces"]:
            overlap = iou_one_to_many(face["box"], found).max(initial=0.0)
            assert overlap >= 0.3, f"frame {i}: a box at {face['box'].round()} where the model finds {found.round()}"


def test_steady_footage_runs_the_model_no_more_often(clip):
    """The demo clip, the face moving across the frame, with detect_every 12: the model runs on every 12th
    frame only, as its picture never changes as a fade's does."""
    tracked = detector(12)
    runs = 0
    for frame in clip:
        tracked.process(frame)
        runs += tracked._countdown == 11
    assert runs == -(-len(clip) // 12)
