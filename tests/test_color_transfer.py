import cv2
import numpy as np
import pytest
from portraits import ellipse_mask, face_crop

from nodes.face.color_transfer import DETAIL_SIGMA, MODES, transfer

FITTING_MODES = [mode for mode in MODES if mode != "none"]


def lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def masked_mean_lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return lab(image)[mask > 0.5].astype(np.float64).mean(axis=0)


def textured(seed: int, base_bgr, spread: float) -> np.ndarray:
    """A smooth colour field with grain around ``base_bgr``."""
    rng = np.random.default_rng(seed)
    field = rng.normal(0, spread, (12, 12, 3)).astype(np.float32)
    field = cv2.resize(field, (96, 96), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, spread / 4, (96, 96, 3))
    return np.clip(np.asarray(base_bgr, np.float32) + field + grain, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def crops():
    """(swapped-face stand-in, driver crop, mask): Grace Hopper's face to be recoloured like the astronaut's."""
    return face_crop("grace_hopper.jpg")[0], face_crop("astronaut.png", angle_deg=5)[0], ellipse_mask()


def test_rct_is_reinhard_over_the_masked_pixels():
    source, target = textured(1, (90, 120, 170), 18), textured(2, (60, 140, 120), 30)
    mask = ellipse_mask(96)
    inside = mask > 0.5
    source_lab, target_lab = lab(source).astype(np.float64), lab(target).astype(np.float64)
    source_mean, source_std = source_lab[inside].mean(axis=0), source_lab[inside].std(axis=0)
    target_mean, target_std = target_lab[inside].mean(axis=0), target_lab[inside].std(axis=0)
    expected_lab = (source_lab - source_mean) * (target_std / source_std) + target_mean
    expected_bgr = cv2.cvtColor(expected_lab.astype(np.float32), cv2.COLOR_Lab2BGR)
    expected = np.clip(np.rint(expected_bgr * 255), 0, 255).astype(np.uint8)

    result = transfer(source, target, mask, "rct")

    difference = np.abs(result.astype(int) - expected)
    assert difference.max() <= 1  # float32 rounding on a .5 boundary at most
    assert (difference == 0).mean() > 0.99


@pytest.mark.parametrize("mode", FITTING_MODES)
@pytest.mark.parametrize("direction", ["grace_to_astronaut", "astronaut_to_grace"])
def test_every_mode_moves_the_masked_mean_colour_to_the_target(crops, mode, direction):
    grace, astronaut, mask = crops
    source, target = (grace, astronaut) if direction == "grace_to_astronaut" else (astronaut, grace)
    target_mean = masked_mean_lab(target, mask)
    untouched = np.linalg.norm(masked_mean_lab(transfer(source, target, mask, "none"), mask) - target_mean)
    moved = np.linalg.norm(masked_mean_lab(transfer(source, target, mask, mode), mask) - target_mean)
    assert untouched > 10  # the portraits really differ
    assert moved < 0.25 * untouched, f"{mode}: mean Lab distance {moved:.2f}, untouched {untouched:.2f}"


@pytest.mark.parametrize("mode", FITTING_MODES)
def test_pixels_outside_the_mask_do_not_count(crops, mode):
    source, target, mask = crops
    outside = mask <= 0.5
    rng = np.random.default_rng(7)
    wild_source, wild_target = source.copy(), target.copy()
    wild_source[outside] = rng.integers(0, 256, (outside.sum(), 3), dtype=np.uint8)
    wild_target[outside] = (0, 255, 0)

    plain = transfer(source, target, mask, mode)
    wild = transfer(wild_source, wild_target, mask, mode)

    assert np.array_equal(plain[~outside], wild[~outside])


@pytest.mark.parametrize("mode", FITTING_MODES)
def test_a_flat_source_takes_the_target_mean(mode):
    source = np.full((96, 96, 3), (120, 130, 140), np.uint8)
    target = textured(3, (70, 110, 190), 25)
    mask = ellipse_mask(96)
    result = transfer(source, target, mask, mode)
    assert np.linalg.norm(masked_mean_lab(result, mask) - masked_mean_lab(target, mask)) < 2.0
    assert lab(result)[mask > 0.5].std(axis=0).max() < 1.0  # still flat


@pytest.mark.parametrize("mode", FITTING_MODES)
@pytest.mark.parametrize(
    "case", ["empty_mask", "tiny_mask", "flat_target", "near_flat_source", "black_and_white", "no_mask"]
)
def test_degenerate_inputs_give_sane_images(mode, case):
    textured_source, textured_target = textured(4, (90, 120, 170), 20), textured(5, (60, 140, 120), 30)
    mask = ellipse_mask(96)
    source, target = textured_source, textured_target
    if case == "empty_mask":
        mask = np.zeros_like(mask)
    elif case == "tiny_mask":
        mask = np.zeros_like(mask)
        mask[40:43, 40:43] = 1.0
    elif case == "flat_target":
        target = np.full_like(target, (10, 200, 30))
    elif case == "near_flat_source":
        source = np.full_like(source, 128)
        source[::7, ::5] = 129  # std far below one grey level
    elif case == "black_and_white":
        source = np.zeros_like(source)
        source[:, ::2] = 255
    elif case == "no_mask":
        mask = None

    with np.errstate(all="raise"):  # any division by zero or overflow inside numpy fails the test
        result = transfer(source, target, mask, mode)

    assert result.dtype == np.uint8 and result.shape == source.shape
    if case in ("empty_mask", "tiny_mask"):
        assert np.array_equal(result, source)  # nothing to measure: the source comes back
    if case == "flat_target":  # everything lands on the one colour, sot (gradient steps) within ~1 dE
        inside = ellipse_mask(96) > 0.5
        distance = np.linalg.norm(lab(result)[inside] - lab(target)[inside], axis=1)
        assert distance.mean() < 1.0 and distance.max() < 3.0


@pytest.mark.parametrize("mode", MODES)
def test_strength_zero_returns_the_source_and_half_lies_between(crops, mode):
    source, target, mask = crops
    assert np.array_equal(transfer(source, target, mask, mode, strength=0.0), source)
    full = transfer(source, target, mask, mode).astype(int)
    half = transfer(source, target, mask, mode, strength=0.5).astype(int)
    assert np.abs(half - (full + source) / 2).max() <= 1


@pytest.mark.parametrize("mode", FITTING_MODES)
def test_results_are_seeded(crops, mode):
    source, target, mask = crops
    first = transfer(source, target, mask, mode, rng_seed=3)
    assert np.array_equal(first, transfer(source, target, mask, mode, rng_seed=3))
    if mode in ("idt", "sot"):
        assert not np.array_equal(first, transfer(source, target, mask, mode, rng_seed=4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "reinhard"}, "unknown mode 'reinhard'; choose one of none, rct"),
        ({"strength": 1.5}, "strength must be between 0 and 1"),
        ({"mask": np.ones((10, 10), np.float32)}, "mask shape (10, 10) must equal"),
        ({"source_bgr": np.zeros((96, 96), np.uint8)}, "source_bgr must be a uint8 HxWx3 BGR image"),
        ({"target_bgr": np.zeros((96, 96, 3), np.float32)}, "target_bgr must be a uint8 HxWx3 BGR image"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"source_bgr": textured(1, (90, 120, 170), 18), "target_bgr": textured(2, (60, 140, 120), 30),
                 "mask": ellipse_mask(96), "mode": "rct", **kwargs}
    with pytest.raises(ValueError, match="colour transfer: ") as error:
        transfer(**arguments)
    assert message in str(error.value)


@pytest.mark.parametrize("mode", ["lct", "mkl"])
def test_lightness_never_moves_colour(crops, mode):
    """Two patches of one neutral colour, one light and one dark grey: lct and mkl map lightness apart from
    a*b*, so both come out with the same a*b* (the full 3 x 3 map gave a portrait's highlight a bluish spot)."""
    source, target, mask = crops
    source = source.copy()
    source[10:20, 10:20], source[10:20, 30:40] = 170, 90
    result = lab(transfer(source, target, mask, mode))
    light, dark = result[12:18, 12:18, 1:].mean(axis=(0, 1)), result[12:18, 32:38, 1:].mean(axis=(0, 1))
    assert np.abs(light - dark).max() < 1.0, f"{mode}: a*b* {light} for light grey, {dark} for dark"


@pytest.mark.parametrize("mode", FITTING_MODES)
def test_a_grey_portrait_stays_inside_the_targets_colour_range(crops, mode):
    """No colour neither image has: every a*b* of the result lies within 1.5 x the Mahalanobis radius
    that holds 99.5% of the target's own masked a*b* (the hold transfer ends with)."""
    grace, astronaut, mask = crops
    grey = cv2.cvtColor(cv2.cvtColor(grace, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    inside = mask > 0.5
    target_ab = lab(astronaut)[inside][:, 1:].astype(np.float64)
    mean, inverse = target_ab.mean(axis=0), np.linalg.inv(np.cov(target_ab.T))

    def radius(ab):
        return np.sqrt(np.einsum("ni,ij,nj->n", ab - mean, inverse, ab - mean))

    limit = 1.5 * np.quantile(radius(target_ab), 0.995)
    result_ab = lab(transfer(grey, astronaut, mask, mode))[..., 1:].reshape(-1, 2).astype(np.float64)
    assert radius(result_ab).max() < limit + 0.5  # + 8-bit rounding of the result


@pytest.mark.parametrize("mode", FITTING_MODES)
def test_a_grey_driver_gives_a_grey_face(crops, mode):
    """A grayscale or infrared driver has no colour to match: the recoloured portrait is grey too (idt and
    sot left green hair and red patches, chroma up to 27 Lab units)."""
    grace, astronaut, mask = crops
    grey = cv2.cvtColor(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    result_ab = lab(transfer(grace, grey, mask, mode))[..., 1:]
    assert np.abs(result_ab).max() < 2.5, f"{mode}: a*b* up to {np.abs(result_ab).max():.1f}"

def chroma_grain(image: np.ndarray, inside: np.ndarray) -> float:
    """The mean |Laplacian| of a* or b* (the larger) inside the mask: colour speckle and blotch edges."""
    image_lab = lab(image)
    return max(float(np.abs(cv2.Laplacian(image_lab[..., k], cv2.CV_32F))[inside].mean()) for k in (1, 2))


@pytest.mark.parametrize("mode", ["idt", "sot"])
@pytest.mark.parametrize("direction", ["grace_to_astronaut", "astronaut_to_grace"])
def test_an_overexposed_driver_gives_no_colour_speckle(crops, mode, direction):
    """A driver with clipped highlights: idt and sot come out no grainier in a*b* than rct, which follows
    the same driver smoothly (matched exactly, their 1-D maps gave blotches and speckles, 2.4x rct's)."""
    grace, astronaut, mask = crops
    source, driver = (grace, astronaut) if direction == "grace_to_astronaut" else (astronaut, grace)
    overexposed = cv2.convertScaleAbs(driver, alpha=1.9, beta=30)
    inside = mask > 0.5
    linear = chroma_grain(transfer(source, overexposed, mask, "rct"), inside)
    grain = chroma_grain(transfer(source, overexposed, mask, mode), inside)
    assert grain < 1.5 * linear, f"{mode}: a*b* grain {grain:.1f} against rct's {linear:.1f}"


def fine_spread(image: np.ndarray, inside: np.ndarray) -> float:
    """The spread of L* less its blur (the detail `detail` keeps) inside the mask."""
    lightness = lab(image)[..., 0]
    fine = lightness - cv2.GaussianBlur(lightness, (0, 0), DETAIL_SIGMA * image.shape[0] / 256)
    return float(fine[inside].std())


@pytest.mark.parametrize("mode", ["rct", "lct", "mkl"])
def test_detail_keeps_the_portraits_fine_lightness_under_a_flatter_driver(crops, mode):
    """A driver in shade (half the lightness contrast): detail 0 halves the portrait's wrinkles with its
    shading, detail 1 keeps their contrast; the colour is matched the same either way."""
    grace, _, mask = crops
    shaded = cv2.convertScaleAbs(grace, alpha=0.5, beta=30)
    inside = mask > 0.5
    source = fine_spread(grace, inside)
    flat, kept, half = (transfer(grace, shaded, mask, mode, detail=d) for d in (0.0, 1.0, 0.5))
    assert fine_spread(flat, inside) < 0.6 * source
    # within 10%: a blur is no perfect low-pass, so the band near DETAIL_SIGMA keeps some of the gain
    assert abs(fine_spread(kept, inside) - source) < 0.1 * source
    assert fine_spread(flat, inside) < fine_spread(half, inside) < fine_spread(kept, inside)
    assert np.abs(masked_mean_lab(kept, mask) - masked_mean_lab(flat, mask)).max() < 1.0


def test_detail_leaves_a_transfer_that_raises_the_contrast_alone(crops):
    grace, _, mask = crops
    contrasty = cv2.convertScaleAbs(grace, alpha=1.4, beta=-50)
    np.testing.assert_array_equal(transfer(grace, contrasty, mask, "rct", detail=1.0),
                                  transfer(grace, contrasty, mask, "rct", detail=0.0))
    with pytest.raises(ValueError, match="colour transfer: detail must be between 0 and 1, got 2"):
        transfer(grace, contrasty, mask, "rct", detail=2)
