"""The shortcuts the face-swap chain takes for speed give what the long way gives: colour statistics from
every second pixel, the aligner's hull taken instead of drawn again, blurs of a mask's box only, the
detector's model on every second frame."""

import cv2
import numpy as np
import pytest
from portraits import MEDIA, ellipse_mask, face_crop
from swap_models import portrait_faces

from nodes.align import FaceAligner
from nodes.color import STATS_STEP, ColorTransfer, transfer_mask
from nodes.face.blend import landmark_hull
from nodes.face.color_transfer import transfer
from nodes.meshwarp import MeshWarpSwapper, _polygon_mask, _soften
from nodes.swap_common import crop_geometry

SIZE = 256


@pytest.fixture(scope="module")
def crops():
    """(swapped-face stand-in, driver crop, mask) at the portraits' crop size."""
    return face_crop("grace_hopper.jpg")[0], face_crop("astronaut.png", angle_deg=5)[0], ellipse_mask()


@pytest.fixture(scope="module")
def swapped():
    """(frame, the portrait's face after FaceAligner and MeshWarpSwapper at the same geometry)."""
    frame, faces = portrait_faces()
    aligner = FaceAligner("aligner", {"resolution": SIZE})
    swapper = MeshWarpSwapper("swapper", {"identity": str(MEDIA / "astronaut.png"), "resolution": SIZE})
    aligner.setup()
    swapper.setup()
    faces = aligner.process(frame=frame, faces=faces)["faces"]
    return frame, swapper.process(frame=frame, faces=faces)["faces"][0]


def lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab).astype(np.float64)


def test_a_sampled_target_is_the_whole_targets_every_second_pixel(crops):
    source, target, mask = crops
    whole = transfer(source, target, mask, "rct", step=2)
    sampled = transfer(source, target[::2, ::2].copy(), mask, "rct", step=2)
    np.testing.assert_array_equal(whole, sampled)


def test_rct_with_step_2_is_reinhard_over_the_sampled_masked_pixels(crops):
    source, target, mask = crops
    inside = mask[::2, ::2] > 0.5
    source_lab, target_lab = lab(source), lab(target)
    source_in, target_in = source_lab[::2, ::2][inside], target_lab[::2, ::2][inside]
    expected_lab = ((source_lab - source_in.mean(axis=0)) * (target_in.std(axis=0) / source_in.std(axis=0))
                    + target_in.mean(axis=0))
    expected = np.clip(np.rint(cv2.cvtColor(expected_lab.astype(np.float32), cv2.COLOR_Lab2BGR) * 255), 0, 255)
    difference = np.abs(transfer(source, target, mask, "rct", step=2).astype(int) - expected)
    assert difference.max() <= 1 and (difference == 0).mean() > 0.99


@pytest.mark.parametrize("mode", ["rct", "lct", "mkl"])
def test_every_second_pixel_gives_nearly_the_colours_of_all_of_them(crops, mode):
    source, target, mask = crops
    full, sampled = (transfer(source, target, mask, mode, step=step).astype(float) for step in (1, 2))
    change = np.abs(full - source).mean()
    assert change > 10  # the transfer does something worth comparing
    assert np.abs(full - sampled).mean() < 0.02 * change


@pytest.mark.parametrize(("kwargs", "message"), [({"step": 0}, "step must be a whole number >= 1"),
                                                 ({"step": 1.5}, "step must be a whole number >= 1"),
                                                 ({"step": 3}, "with step 3 the target must be")])
def test_bad_steps_are_named(crops, kwargs, message):
    source, target, mask = crops
    with pytest.raises(ValueError, match=message):
        transfer(source, target[::2, ::2], mask, "rct", **kwargs)


def test_the_colour_node_samples_the_driver_exactly_where_the_whole_crop_would(swapped):
    frame, face = swapped
    whole = crop_geometry(frame, face["swap_matrix"], SIZE)
    half = crop_geometry(frame, np.asarray(face["swap_matrix"], np.float64) / STATS_STEP, SIZE // STATS_STEP)
    np.testing.assert_array_equal(half, whole[::STATS_STEP, ::STATS_STEP])
    out = ColorTransfer("colour", {"mode": "rct"}).process(frame=frame, faces=[face])["faces"][0]
    expected = transfer(face["swap"], whole, transfer_mask(face, SIZE), "rct", step=STATS_STEP)
    np.testing.assert_array_equal(out["swap"], expected)


def test_the_aligners_hull_is_taken_only_for_the_same_geometry(swapped):
    _, face = swapped
    assert np.array_equal(face["matrix"], face["swap_matrix"])  # aligner and swapper cut one geometry
    assert landmark_hull(face, (SIZE, SIZE)) is face["crop_mask"]
    moved = {**face, "matrix": face["matrix"] + np.float32([[0, 0, 1], [0, 0, 0]])}
    own = landmark_hull(moved, (SIZE, SIZE))
    assert own is not moved["crop_mask"]
    # the hull drawn anew is the aligner's, up to float rounding of 1/255 steps
    np.testing.assert_allclose(own, face["crop_mask"], atol=1e-6)
    smaller = landmark_hull(face, (SIZE // 2, SIZE // 2))
    assert smaller.shape == (SIZE // 2, SIZE // 2)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("where", ["inside", "at_the_edge"])
def test_blurring_a_masks_box_only_is_the_whole_blur(sigma, where):
    points = np.array([[100, 90], [150, 95], [140, 160], [95, 150]], np.float64)
    if where == "at_the_edge":
        points += [-96, 90]  # the polygon touches the left and bottom edges
    mask = _polygon_mask(points, SIZE)
    whole = cv2.GaussianBlur(mask.astype(np.float32) * np.float32(1 / 255), (0, 0), sigmaX=sigma)
    np.testing.assert_allclose(_soften(mask, sigma), whole, rtol=1e-6, atol=1e-9)  # float rounding at most
    assert not _soften(np.zeros((SIZE, SIZE), np.uint8), sigma).any()



def test_the_detector_runs_its_model_on_every_second_frame_by_default_and_at_once_after_an_edit():
    from nodes.detect import FaceDetector

    frame, _ = portrait_faces()
    detector = FaceDetector("detector", {})
    detector.setup()
    calls = []
    detect = detector._detect
    detector._detect = lambda image: calls.append(len(calls)) or detect(image)
    for i in range(4):
        detector.frame_id, detector.capture_time = i, i / 30
        assert len(detector.process(frame)["faces"]) == 1
    assert len(calls) == 2  # frames 0 and 2; 1 and 3 followed the face by optical flow
    detector.set_param("threshold", 0.6)
    detector.process(frame)
    assert len(calls) == 3  # a changed param shows on the next frame, not a tracking frame later
