import cv2
import numpy as np
import pytest
from portraits import CROP, crop_matrix, ellipse_mask, face_crop, portrait

from nodes.face.blend import hull_mask, paste_back, refine_mask
from nodes.face.color_transfer import transfer

FULL = np.ones((CROP, CROP), np.float32)


def warped_to_frame(mask: np.ndarray, matrix: np.ndarray, frame_shape) -> np.ndarray:
    """The crop-space ``mask`` seen in the frame, by cv2 directly (independent of paste_back)."""
    return cv2.warpAffine(mask, matrix, (frame_shape[1], frame_shape[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def border_band(mask_in_frame: np.ndarray, half_width: int = 3) -> np.ndarray:
    """Pixels within ``half_width`` of the mask's 0.5 contour."""
    inside = (mask_in_frame > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * half_width + 1,) * 2)
    return cv2.dilate(inside, kernel) != cv2.erode(inside, kernel)


@pytest.fixture(scope="module")
def astronaut():
    crop, matrix = face_crop("astronaut.png", angle_deg=8)
    return portrait("astronaut.png"), crop, matrix


@pytest.fixture(scope="module")
def grace_like_astronaut(astronaut):
    """Grace Hopper's face crop, colour-transferred to the astronaut's skin: the swapped face stand-in."""
    return transfer(face_crop("grace_hopper.jpg")[0], astronaut[1], ellipse_mask(), "rct")


def test_round_trip_of_an_integer_shift_is_exact():
    frame = portrait("astronaut.png")
    matrix = np.array([[1.0, 0.0, -100.0], [0.0, 1.0, -20.0]])
    crop = cv2.warpAffine(frame, matrix, (CROP, CROP))
    assert np.array_equal(paste_back(frame, crop, FULL, matrix), frame)


@pytest.mark.parametrize("interpolation", ["linear", "cubic", "lanczos"])
def test_round_trip_of_a_rotated_crop_is_within_rounding(interpolation):
    frame = cv2.GaussianBlur(portrait("astronaut.png"), (0, 0), 1.0)  # resampling twice needs a smooth image
    matrix = crop_matrix(222, 120, 170, angle_deg=10)
    crop = cv2.warpAffine(frame, matrix, (CROP, CROP), flags=cv2.INTER_CUBIC)

    result = paste_back(frame, crop, FULL, matrix, interpolation=interpolation)

    interior = np.zeros((CROP, CROP), np.float32)
    interior[4:-4, 4:-4] = 1
    difference = np.abs(result.astype(int) - frame)[warped_to_frame(interior, matrix, frame.shape) > 0.999]
    assert difference.mean() < 0.3
    assert np.percentile(difference, 99) <= 2


@pytest.mark.parametrize("mode", ["alpha", "poisson"])
def test_pixels_outside_the_warped_mask_keep_their_bytes(astronaut, grace_like_astronaut, mode):
    frame, _, matrix = astronaut
    mask = refine_mask(ellipse_mask(), 4, 8)
    result = paste_back(frame, grace_like_astronaut, mask, matrix, mode=mode, interpolation="lanczos")

    support = (warped_to_frame(mask, matrix, frame.shape) > 0).astype(np.uint8)
    near_support = cv2.dilate(support, np.ones((5, 5), np.uint8)) > 0  # 2 px for rounding of the warp
    assert np.array_equal(result[~near_support], frame[~near_support])
    assert (result[support > 0] != frame[support > 0]).any(axis=1).mean() > 0.5


def test_the_mask_edge_is_not_visible(astronaut, grace_like_astronaut):
    frame, _, matrix = astronaut
    frame_gradient = gradient_magnitude(frame)

    def edge_ratio(mask, mode="alpha"):
        band = border_band(warped_to_frame(mask, matrix, frame.shape))
        pasted = paste_back(frame, grace_like_astronaut, mask, matrix, mode=mode)
        return gradient_magnitude(pasted)[band].mean() / frame_gradient[band].mean()

    hard = edge_ratio(ellipse_mask())
    soft = edge_ratio(refine_mask(ellipse_mask(), erode=6, blur=12))
    hard_poisson = edge_ratio(ellipse_mask(), mode="poisson")
    assert hard > 1.7  # the measure does see a hard seam
    assert soft <= 1.5, f"gradient along the refined mask's border is {soft:.2f}x the frame's"
    assert hard_poisson <= 1.5, f"gradient along the poisson-cloned border is {hard_poisson:.2f}x the frame's"


def test_opacity_scales_the_blend(astronaut, grace_like_astronaut):
    frame, _, matrix = astronaut
    mask = ellipse_mask()
    assert np.array_equal(paste_back(frame, grace_like_astronaut, mask, matrix, opacity=0.0), frame)
    full = paste_back(frame, grace_like_astronaut, mask, matrix).astype(int)
    half = paste_back(frame, grace_like_astronaut, mask, matrix, opacity=0.5).astype(int)
    assert np.abs(half - (full + frame) / 2).max() <= 1


@pytest.mark.parametrize("mode", ["alpha", "poisson"])
def test_an_empty_mask_returns_the_frame(astronaut, grace_like_astronaut, mode):
    frame, _, matrix = astronaut
    result = paste_back(frame, grace_like_astronaut, np.zeros((CROP, CROP), np.float32), matrix, mode=mode)
    assert np.array_equal(result, frame) and result is not frame


@pytest.mark.parametrize("corner", ["top_left", "bottom_right"])
def test_poisson_works_across_the_frame_edge(grace_like_astronaut, corner):
    frame = portrait("astronaut.png")
    centre = (20.0, 30.0) if corner == "top_left" else (500.0, 490.0)
    matrix = crop_matrix(*centre, 200.0, angle_deg=-6)
    mask = refine_mask(ellipse_mask(), 4, 8)

    result = paste_back(frame, grace_like_astronaut, mask, matrix, mode="poisson")

    in_frame = warped_to_frame(mask, matrix, frame.shape)
    assert (result[in_frame > 0.9] != frame[in_frame > 0.9]).any()
    assert np.array_equal(result[in_frame == 0], frame[in_frame == 0])
    # Seamless: just inside the support's edge the clone agrees with the frame it was set into.
    rim = (in_frame > 0) & (in_frame < 0.2)
    assert np.abs(result[rim].astype(int) - frame[rim]).mean() < 6


@pytest.mark.parametrize("shape", ["one_pixel", "two_pixel_line", "face_smaller_than_a_pixel"])
def test_poisson_survives_regions_too_thin_to_solve(grace_like_astronaut, shape):
    frame = portrait("astronaut.png")
    mask, side = np.zeros((CROP, CROP), np.float32), 224.0
    if shape == "one_pixel":
        mask[100, 100] = 1.0
    elif shape == "two_pixel_line":
        mask[100:102, 60:160] = 1.0
    else:
        mask, side = ellipse_mask(), 1.0
    matrix = crop_matrix(256.0, 256.0, side)
    result = paste_back(frame, grace_like_astronaut, mask, matrix, mode="poisson")
    assert result.shape == frame.shape
    outside = warped_to_frame(mask, matrix, frame.shape) == 0
    assert np.array_equal(result[outside], frame[outside])


def test_a_face_entirely_off_frame_changes_nothing(grace_like_astronaut):
    frame = portrait("astronaut.png")
    matrix = crop_matrix(-400.0, 200.0, 200.0)
    for mode in ("alpha", "poisson"):
        assert np.array_equal(paste_back(frame, grace_like_astronaut, ellipse_mask(), matrix, mode=mode), frame)


def test_scale_and_offset_move_the_face_in_crop_space():
    frame = np.zeros((400, 400, 3), np.uint8)
    matrix = crop_matrix(200, 200, 112.0)  # crop pixels are half a frame pixel
    face = np.full((CROP, CROP, 3), 255, np.uint8)
    blob = np.zeros((CROP, CROP), np.float32)
    cv2.circle(blob, (CROP // 2, CROP // 2), 20, 1.0, -1)

    def blob_centre_and_area(**placement):
        lit = paste_back(frame, face, blob, matrix, **placement)[..., 0] > 127
        ys, xs = np.nonzero(lit)
        return np.array([xs.mean(), ys.mean()]), lit.sum()

    centre, area = blob_centre_and_area()
    moved, _ = blob_centre_and_area(offset_x=0.25, offset_y=-0.125)
    _, doubled_area = blob_centre_and_area(scale=2.0)
    np.testing.assert_allclose(centre, (200.25, 200.25), atol=0.3)  # crop pixel 112 is 0.5 past the centre
    np.testing.assert_allclose(moved - centre, (0.25 * CROP / 2, -0.125 * CROP / 2), atol=0.3)
    assert doubled_area / area == pytest.approx(4.0, rel=0.05)


def test_refine_mask_erodes_dilates_and_blurs_within_0_and_1():
    mask = ellipse_mask()
    area = mask.sum()
    assert refine_mask(mask, 5, 0).sum() < area < refine_mask(mask, -5, 0).sum()
    eroded = refine_mask(mask, 10, 0)  # 10 // 2 = 5 passes of a 3 x 3 cross: 5 px along a row
    assert eroded[112, 112 - 68 + 3] == 0 and eroded[112, 112 - 68 + 7] == 1
    soft = refine_mask(mask, 0, 16)
    assert soft.dtype == np.float32 and soft.min() >= 0 and soft.max() <= 1
    ramp = soft[112, 112 - 68 - 12: 112 - 68 + 12]
    assert ramp[0] < 0.05 and ramp[-1] > 0.95 and np.all(np.diff(ramp) >= 0)
    assert np.array_equal(refine_mask(mask, 0, 0), mask)


def test_refine_mask_fades_a_full_mask_to_the_crop_edge():
    assert refine_mask(FULL, 6, 0)[:3].max() == 0  # outside the crop counts as empty: erosion eats in
    for erode in (0, 5, -5):
        soft = refine_mask(FULL, erode, 24)
        for edge in (soft[0], soft[-1], soft[:, 0], soft[:, -1]):
            assert edge.max() < 2e-3  # under half a grey level of any difference once pasted
        assert soft[CROP // 2, CROP // 2] == pytest.approx(1.0)


def test_hull_mask_fills_the_convex_hull_of_the_points():
    square = np.array([[20.0, 20.0], [80.0, 20.0], [80.0, 60.0], [20.0, 60.0], [50.0, 40.0], [30.0, 50.0]])
    mask = hull_mask(square, (100, 120, 3))
    assert mask.shape == (100, 120) and mask.dtype == np.float32
    assert mask[25:56, 25:76].min() == 1.0 and mask[:15].max() == 0 and mask[:, 85:].max() == 0
    assert mask.sum() == pytest.approx(61 * 41, rel=0.03)  # pixel centres 20..80 by 20..60
    assert hull_mask(square[:2], (100, 120)).max() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: refine_mask(np.ones((4, 4, 3)), 1, 1), "refine_mask: mask must be a 2-D"),
        (lambda: refine_mask(FULL, 1, -2), "blur an integer >= 0"),
        (lambda: hull_mask(np.ones((5, 3)), (10, 10)), "hull_mask: points must be a finite N x 2"),
        (lambda: paste_back(np.zeros((50, 50, 3), np.uint8), np.zeros((CROP, CROP, 3), np.uint8), FULL,
                            np.zeros((2, 3))), "paste_back: matrix must be a finite, invertible 2x3"),
        (lambda: paste_back(np.zeros((50, 50, 3), np.uint8), np.zeros((CROP, CROP, 3), np.uint8), FULL,
                            np.eye(2, 3), mode="seamless"), "unknown mode 'seamless'; choose one of alpha, poisson"),
        (lambda: paste_back(np.zeros((50, 50, 3), np.uint8), np.zeros((CROP, CROP, 3), np.uint8),
                            np.ones((10, 10), np.float32), np.eye(2, 3)), "mask shape (10, 10) must equal"),
        (lambda: paste_back(np.zeros((50, 50, 3), np.uint8), np.zeros((CROP, CROP, 3), np.uint8), FULL,
                            np.eye(2, 3), interpolation="area"), "unknown interpolation 'area'"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value)
