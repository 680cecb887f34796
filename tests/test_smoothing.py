"""One-Euro landmark smoothing, on landmarks the real models give for short clips."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from nodes.face.blazeface import BlazeFace
from nodes.face.facemesh import FaceMesh
from nodes.face.smoothing import OneEuroFilter

MEDIA = Path(__file__).resolve().parents[1] / "presets" / "media"
FPS = 30.0


@pytest.fixture(scope="module")
def landmarks_of_clip():
    detector, mesh = BlazeFace(model="full"), FaceMesh()

    def run(frames):
        out = []
        for frame in frames:
            face = detector.detect(frame)[0]
            points, _ = mesh.landmarks(frame, face["box"], face["keypoints"])
            out.append(points[:, :2])
        return np.array(out)

    return run


@pytest.fixture(scope="module")
def astronaut():
    return cv2.imread(str(MEDIA / "astronaut.png"))


def smooth(clip, smoother):
    return np.array([smoother(points, i / FPS) for i, points in enumerate(clip)])


def test_still_face_in_sensor_noise_stops_jittering(landmarks_of_clip, astronaut):
    rng = np.random.default_rng(11)
    frames = [
        np.clip(astronaut + rng.normal(0, 4, astronaut.shape), 0, 255).astype(np.uint8) for _ in range(30)
    ]
    raw = landmarks_of_clip(frames)
    smoothed = smooth(raw, OneEuroFilter())
    raw_jitter = raw.std(axis=0).mean()
    smoothed_jitter = smoothed.std(axis=0).mean()
    assert smoothed_jitter < 0.3
    assert smoothed_jitter < raw_jitter / 2


def test_moving_face_lags_by_less_than_one_frame_of_motion(landmarks_of_clip, astronaut):
    step = np.array([3.0, 1.5])  # pixels per frame
    frames = [
        cv2.warpAffine(
            astronaut,
            np.float32([[1, 0, step[0] * i], [0, 1, step[1] * i]]),
            (512, 512),
            borderMode=cv2.BORDER_REPLICATE,
        )
        for i in range(30)
    ]
    raw = landmarks_of_clip(frames)
    smoothed = smooth(raw, OneEuroFilter())
    direction = step / np.linalg.norm(step)
    lag = ((raw - smoothed)[10:] @ direction).mean(axis=1)  # after the filter has picked up the speed
    assert np.all(lag < np.linalg.norm(step))
    assert np.all(lag > 0)  # it is a filter: it trails, it does not lead


def test_constant_input_is_left_alone_and_a_step_is_followed():
    smoother = OneEuroFilter()
    points = np.random.default_rng(0).uniform(0, 100, (468, 3))
    for i in range(5):
        np.testing.assert_allclose(smoother(points, i / FPS), points, atol=1e-4)
    moved = points + [5.0, 0.0, 0.0]
    out = [smoother(moved, (5 + i) / FPS) for i in range(60)]
    assert 0 < out[0][0, 0] - points[0, 0] < 5  # partly there at once...
    np.testing.assert_allclose(out[-1], moved, atol=0.05)  # ...all the way after two seconds


def test_filter_starts_over_when_time_goes_back_or_the_shape_changes():
    smoother = OneEuroFilter()
    a = np.zeros((468, 2))
    smoother(a, 1.0)
    b = np.full((468, 2), 50.0)
    np.testing.assert_allclose(smoother(b, 0.5), b)  # a looping video: no smear across the loop
    np.testing.assert_allclose(smoother(np.ones((5, 2)), 0.6), np.ones((5, 2)))


def test_higher_beta_lags_less_and_lower_min_cutoff_smooths_more():
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 100, (468, 2))
    noisy = [base + rng.normal(0, 0.5, base.shape) for _ in range(60)]
    moving = [base + [3.0 * i, 0.0] for i in range(30)]

    def jitter(smoother):
        return smooth(np.array(noisy), smoother)[10:].std(axis=0).mean()

    def lag(smoother):
        return (np.array(moving) - smooth(np.array(moving), smoother))[10:, :, 0].mean()

    assert jitter(OneEuroFilter(min_cutoff=0.3)) < jitter(OneEuroFilter(min_cutoff=3.0))
    assert lag(OneEuroFilter(beta=20)) < lag(OneEuroFilter(beta=2))
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuroFilter(min_cutoff=0)
