"""Colour transfer between face crops: recolour one image so its colours inside a mask match another's.

Everything runs in float32 CIE L*a*b* (cv2's float conversion: L 0..100, a/b about -127..127). Statistics
come only from pixels whose mask value is above 0.5, in both images; the fitted colour map is then applied
to every pixel of the source, so the soft mask edge the merger blends with has recoloured pixels under it.
"""

import functools

import cv2
import numpy as np

MODES = ("none", "rct", "lct", "mkl", "idt", "sot")

# Fewer masked pixels than this and the statistics mean nothing: the source comes back unchanged.
MIN_PIXELS = 16
# Largest gain a linear map may apply along any axis, so a near-constant source cannot blow its noise up.
MAX_GAIN = 5.0
# Smallest variance (Lab units squared) an axis of a covariance is treated as having.
MIN_VARIANCE = 1e-4
# idt and sot fit their 1-D maps on at most this many masked pixels of each image.
SAMPLE_PIXELS = 4096
# Quantiles matched per 1-D map; each map is then resampled into a 256-entry table for cv2.LUT.
QUANTILES = 64
TABLE_SIZE = 256
# A source spread (Lab units) along a direction below this counts as constant there.
MIN_SPREAD = 0.01
IDT_ITERATIONS = 4
IDT_RELAXATION = 0.9
SOT_ITERATIONS = 6
SOT_STEP = 0.7
# Smallest |determinant| (1 for an orthonormal basis) of a sot iteration's three unit directions.
SOT_MIN_VOLUME = 0.7
# How far the slope of each 1-D map of an idt or sot iteration may stray from the map's overall gain, as a
# factor either way. Matched exactly, a driver whose highlights are clipped (overexposed) gives maps flat
# where its pixels pile up and steep beside them: the face came out in flat blotches with the source's
# noise blown up into coloured speckles. The iterations still match the distribution's shape.
MAX_SLOPE = 1.25
# A target whose a* and b* spread (standard deviation, Lab units) is below this has no colour to match (a
# grayscale or infrared frame): idt and sot then give the source the target's a*b* mean. Their 1-D matches
# along random directions do not collapse the other axes in a few iterations (green hair, red patches).
GRAY_CHROMA_SPREAD = 1.5
# The fine lightness detail `detail` keeps: L* less its Gaussian blur of this sigma per 256 px of the crop
# (pores, wrinkles, the brows' hairs; not the face's shading).
DETAIL_SIGMA = 4.0

_TABLE_STEPS = np.linspace(0.0, 1.0, TABLE_SIZE)


def transfer(
    source_bgr: np.ndarray,
    target_bgr: np.ndarray,
    mask: np.ndarray | None = None,
    mode: str = "rct",
    strength: float = 1.0,
    rng_seed: int = 0,
    step: int = 1,
    detail: float = 0.0,
) -> np.ndarray:
    """Return a copy of ``source_bgr`` recoloured so its colours inside ``mask`` match ``target_bgr``'s.

    ``source_bgr`` is the image that changes (typically the swapped face crop); ``target_bgr`` only
    supplies the colour statistics to reach (typically the driver's aligned crop). Both are uint8 BGR;
    ``mask`` is float HxW in [0, 1] (None = every pixel) and selects, in both images, the pixels whose
    statistics count: those with mask > 0.5. With a mask, both images must have its HxW.

    Modes, for an L*a*b* pixel ``x``, with ``_s`` = statistics of the source and ``_t`` = of the target:

    - ``none``: the source, unchanged.
    - ``rct`` (Reinhard): per channel ``(x - mean_s) * std_t / std_s + mean_t``.
    - ``lct``: ``mean_t + cov_t^(1/2) cov_s^(-1/2) (x - mean_s)``: matches mean and covariance.
    - ``mkl``: ``mean_t + A (x - mean_s)`` with the Monge-Kantorovich map ``A``, the symmetric positive
      matrix with ``A cov_s A = cov_t`` (the least-moving linear map that matches the covariance).
    - ``idt``: iterative distribution transfer: per iteration a random orthonormal basis, quantile matching
      along each of its axes, and a relaxed step (IDT_RELAXATION) of that displacement.
    - ``sot``: sliced optimal transport: per iteration three random unit directions (not orthogonal, not
      nearly coplanar), quantile matching along each, and a step (SOT_STEP) along their summed displacement.
      For both, a target without colour (a*b* spread below GRAY_CHROMA_SPREAD) gives its a*b* mean, and
      each 1-D map's slope stays within MAX_SLOPE of its overall gain (smooth under a clipped driver).

    ``strength`` in [0, 1] blends the result with the source (0 = source). ``rng_seed`` seeds the random
    directions and pixel sampling of idt and sot: equal inputs give equal outputs. Degenerate inputs give
    finite results: the source back when fewer than MIN_PIXELS pixels are masked, gains capped at MAX_GAIN
    and a constant channel only shifted otherwise.

    ``detail`` in [0, 1], for the linear modes (rct, lct, mkl): where the map shrinks the lightness
    spread (gain g < 1 on L*), give back that share of what it takes from the source's fine detail (L*
    less its blur of DETAIL_SIGMA): ``L += detail (1 - g) fine``. A driver in shade has a lower spread,
    and matching it flattens the portrait's skin texture as well as its shading.

    ``step`` > 1 takes the statistics from every ``step``-th row and column only (a quarter of the pixels
    for 2, enough for a face crop's colour statistics, and faster); the map is still applied to every
    pixel. ``target_bgr`` may then come at that sampling already, ceil(H/step) x ceil(W/step) (cheaper to
    make than the whole crop); ``mask`` has the source's HxW either way.
    """
    inside = _check_inputs(source_bgr, target_bgr, mask, mode, strength, step, detail)
    if mode == "none" or strength == 0.0:
        return source_bgr.copy()
    if inside is not None and inside.size < MIN_PIXELS:
        return source_bgr.copy()

    if step > 1 and target_bgr.shape[:2] == source_bgr.shape[:2]:
        target_bgr = target_bgr[::step, ::step]
    rng = np.random.default_rng(rng_seed) if mode in ("idt", "sot") else None  # the others draw nothing
    source_index, target_index = inside, inside
    lab = cv2.cvtColor(np.multiply(source_bgr, 1 / 255, dtype=np.float32), cv2.COLOR_BGR2Lab)
    sampled = lab[::step, ::step]
    if mode in ("idt", "sot"):
        source_index = _sample(rng, inside, sampled.shape[0] * sampled.shape[1])
        target_index = _sample(rng, inside, target_bgr.shape[0] * target_bgr.shape[1])
    source_sample = _pick(sampled, source_index)
    target_sample = cv2.cvtColor(_pick(target_bgr, target_index), cv2.COLOR_BGR2Lab)

    if mode in ("rct", "lct", "mkl"):
        fit = {"rct": _rct, "lct": _lct, "mkl": _mkl}[mode]
        matrix, source_mean, target_mean = fit(source_sample.reshape(-1, 3).astype(np.float64),
                                               target_sample.reshape(-1, 3).astype(np.float64))
        given_back = detail * (1.0 - matrix[0, 0])  # the L* gain: all three map L* apart from a*b*
        fine = _fine_lightness(lab) if given_back > 0 else None
        lab = _apply_affine(lab, matrix, source_mean, target_mean)
        if fine is not None:
            lab[..., 0] += np.float32(given_back) * fine
    else:
        (_idt if mode == "idt" else _sot)(lab, source_sample, target_sample, rng)
        chroma = target_sample.reshape(-1, 3)[:, 1:]
        if chroma.std(axis=0).max() < GRAY_CHROMA_SPREAD:
            lab[..., 1:] = chroma.mean(axis=0)

    # cv2's float Lab -> BGR clips to [0, 1], so a scale by 255 and a saturating cast finish the job.
    result_bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
    if strength == 1.0:
        return cv2.convertScaleAbs(result_bgr, alpha=255.0)
    return cv2.addWeighted(result_bgr, 255.0 * strength, source_bgr.astype(np.float32), 1.0 - strength, 0.0,
                           dtype=cv2.CV_8U)


def _fine_lightness(lab: np.ndarray) -> np.ndarray:
    """L* less its Gaussian blur of DETAIL_SIGMA per 256 px."""
    lightness = np.ascontiguousarray(lab[..., 0])
    return lightness - cv2.GaussianBlur(lightness, (0, 0), DETAIL_SIGMA * lab.shape[0] / 256)


def _check_inputs(source_bgr, target_bgr, mask, mode, strength, step, detail) -> np.ndarray | None:
    """Validate the arguments; return the flat indices of the masked pixels in the sampled grid (every
    ``step``-th row and column), None for every pixel."""
    for name, image in (("source_bgr", source_bgr), ("target_bgr", target_bgr)):
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                and image.shape[2] == 3 and image.size > 0):
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"colour transfer: {name} must be a uint8 HxWx3 BGR image, got {got}")
    if mode not in MODES:
        raise ValueError(f"colour transfer: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not (np.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"colour transfer: strength must be between 0 and 1, got {strength}")
    if not (np.isfinite(detail) and 0.0 <= detail <= 1.0):
        raise ValueError(f"colour transfer: detail must be between 0 and 1, got {detail}")
    if not (isinstance(step, int | np.integer) and step >= 1):
        raise ValueError(f"colour transfer: step must be a whole number >= 1, got {step!r}")
    height, width = source_bgr.shape[:2]
    sampled = (-(-height // step), -(-width // step))
    if step > 1 and target_bgr.shape[:2] not in (source_bgr.shape[:2], sampled):
        raise ValueError(f"colour transfer: with step {step} the target must be {height}x{width} like the "
                         f"source or {sampled[0]}x{sampled[1]} (every {step}th pixel), got "
                         f"{target_bgr.shape[0]}x{target_bgr.shape[1]}")
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != source_bgr.shape[:2] or (step == 1 and mask.shape != target_bgr.shape[:2]):
        raise ValueError(
            f"colour transfer: mask shape {mask.shape} must equal the HxW of source {source_bgr.shape[:2]} "
            f"and target {target_bgr.shape[:2]}; resize the mask or pass mask=None"
        )
    return np.flatnonzero(mask[::step, ::step] > 0.5)


def _sample(rng: np.random.Generator, index: np.ndarray | None, total: int) -> np.ndarray | None:
    """At most SAMPLE_PIXELS of ``index`` (None: of all ``total`` pixels), drawn without replacement."""
    count = total if index is None else index.size
    if count <= SAMPLE_PIXELS:
        return index
    picks = np.sort(rng.choice(count, SAMPLE_PIXELS, replace=False))
    return picks if index is None else index[picks]


def _pick(image: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """A new 1 x N x 3 float32 array of the pixels of ``image`` at flat ``index`` (None: all), uint8 scaled
    to [0, 1]. One row: cv2 converts 1 x N colours several times faster than N x 1."""
    pixels = image.reshape(-1, 3) if index is None else np.take(image.reshape(-1, 3), index, axis=0)
    if pixels.dtype == np.uint8:
        return np.multiply(pixels, 1 / 255, dtype=np.float32).reshape(1, -1, 3)
    return pixels.reshape(1, -1, 3).copy() if index is None else pixels.reshape(1, -1, 3)


def _apply_affine(lab: np.ndarray, matrix: np.ndarray, source_mean: np.ndarray, target_mean: np.ndarray):
    """``target_mean + matrix @ (x - source_mean)`` for every pixel."""
    offset = target_mean - matrix @ source_mean
    return cv2.transform(lab, np.hstack([matrix, offset[:, None]]))


def _moments(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (biased) covariance of N x 3 float64 samples, by matrix products (several times faster
    than numpy's axis reductions on N x 3)."""
    mean = np.ones(len(samples)) @ samples / len(samples)
    return mean, samples.T @ samples / len(samples) - np.outer(mean, mean)


def _rct(source: np.ndarray, target: np.ndarray):
    source_mean, source_cov = _moments(source)
    target_mean, target_cov = _moments(target)
    source_std = np.sqrt(np.maximum(np.diag(source_cov), 0.0))
    target_std = np.sqrt(np.maximum(np.diag(target_cov), 0.0))
    gain = np.divide(target_std, source_std, out=np.ones(3), where=source_std > np.sqrt(MIN_VARIANCE))
    return np.diag(np.minimum(gain, MAX_GAIN)), source_mean, target_mean


def _lct(source: np.ndarray, target: np.ndarray):
    return _lightness_apart(source, target, lambda s, t: _psd_power(t, 0.5) @ _psd_power(s, -0.5))


def _mkl(source: np.ndarray, target: np.ndarray):
    def monge_kantorovich(source_cov, target_cov):
        root, inverse_root = _psd_power(source_cov, 0.5), _psd_power(source_cov, -0.5)
        return inverse_root @ _psd_power(root @ target_cov @ root, 0.5) @ inverse_root

    return _lightness_apart(source, target, monge_kantorovich)


def _lightness_apart(source: np.ndarray, target: np.ndarray, chroma_map):
    """A linear map that matches L* by mean and spread (as rct) and a*b* by ``chroma_map`` of their 2 x 2
    covariances. Kept apart, lightness never moves colour: with the full 3 x 3 map, the portrait's
    highlights and shadows (lightness far from the face's mean) came out as a bluish or reddish spot."""
    source_mean, source_cov = _moments(source)
    target_mean, target_cov = _moments(target)
    matrix = np.zeros((3, 3))
    matrix[0, 0] = np.sqrt(max(target_cov[0, 0], MIN_VARIANCE) / max(source_cov[0, 0], MIN_VARIANCE))
    matrix[1:, 1:] = chroma_map(source_cov[1:, 1:], target_cov[1:, 1:])
    return _cap_gain(matrix), source_mean, target_mean


def _psd_power(matrix: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(values, MIN_VARIANCE) ** power) @ vectors.T


def _cap_gain(matrix: np.ndarray) -> np.ndarray:
    u, singular, vt = np.linalg.svd(matrix)
    return (u * np.minimum(singular, MAX_GAIN)) @ vt


def _idt(lab: np.ndarray, moving: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> None:
    """Move ``lab`` in place; ``moving`` (1 x N x 3 source samples) moves with it; ``target`` is 1 x M x 3."""
    for _ in range(IDT_ITERATIONS):
        q, r = np.linalg.qr(rng.standard_normal((3, 3)))
        basis = (q * np.sign(np.diag(r))).T  # rows: a random orthonormal basis
        _move_along(lab, moving, target, basis, IDT_RELAXATION)


def _sot(lab: np.ndarray, moving: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> None:
    """Move ``lab`` in place; ``moving`` (1 x N x 3 source samples) moves with it; ``target`` is 1 x M x 3."""
    for _ in range(SOT_ITERATIONS):
        _move_along(lab, moving, target, _spread_directions(rng), SOT_STEP)


def _spread_directions(rng: np.random.Generator) -> np.ndarray:
    """Three random unit directions (rows), not orthogonal, but spanning a volume of at least
    SOT_MIN_VOLUME: a summed step along a nearly coplanar triple over- and undershoots."""
    while True:
        candidates = rng.standard_normal((16, 3, 3))
        candidates /= np.linalg.norm(candidates, axis=2, keepdims=True)
        spread = np.flatnonzero(np.abs(np.linalg.det(candidates)) >= SOT_MIN_VOLUME)
        if spread.size:
            return candidates[spread[0]]


def _quantiles(projected: np.ndarray) -> np.ndarray:
    """3 x QUANTILES float64: evenly spaced quantiles, minimum to maximum, of each channel of 1 x N x 3
    ``projected``."""
    ordered = np.sort(np.ascontiguousarray(projected.reshape(-1, 3).T), axis=1)
    below, above, weight = _quantile_positions(ordered.shape[1])
    return ordered[:, below] * (1.0 - weight) + ordered[:, above] * weight


@functools.lru_cache(maxsize=8)
def _quantile_positions(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    position = np.linspace(0.0, count - 1, QUANTILES)
    below = position.astype(np.intp)
    return below, np.minimum(below + 1, count - 1), position - below


def _slope_limited(knots: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Per row, the 1-D map from ``knots`` to ``goals`` with each segment's slope held within MAX_SLOPE times
    the map's overall gain (the goals' range over the knots'), shifted to keep the goals' mean."""
    steps = np.diff(knots, axis=1)
    gain = (goals[:, -1:] - goals[:, :1]) / steps.sum(axis=1, keepdims=True)
    slopes = np.clip(np.diff(goals, axis=1) / steps, gain / MAX_SLOPE, gain * MAX_SLOPE)
    mapped = np.cumsum(np.hstack([np.zeros((len(knots), 1)), slopes * steps]), axis=1)
    return mapped + (goals.mean(axis=1) - mapped.mean(axis=1))[:, None]


def _move_along(lab, moving, target, directions: np.ndarray, step: float) -> None:
    """Move ``lab`` and ``moving`` in place by ``step`` times the summed displacements that match the
    quantiles of ``moving`` to those of ``target`` along each of the three rows of ``directions``."""
    # A small ramp keeps the knots strictly increasing where the source has ties.
    knots = _quantiles(cv2.transform(moving, directions)) + np.arange(QUANTILES) * 1e-4
    shifts = _slope_limited(knots, _quantiles(cv2.transform(target, directions))) - knots
    lows, highs = knots[:, :1], knots[:, -1:]
    grid = lows + _TABLE_STEPS * (highs - lows)
    tables = np.stack([np.interp(grid[k], knots[k], shifts[k]) for k in range(3)])
    # Along a direction where the source is (nearly) constant there is no order to match: move it by the
    # mean shift, so a flat source lands on the target's mean rather than on one of its quantiles.
    flat = (highs - lows)[:, 0] < MIN_SPREAD
    tables[flat] = shifts[flat].mean(axis=1, keepdims=True)
    tables = tables.T[None].astype(np.float32)

    # Per point: project on the directions scaled to table indices (one cv2.transform), round and saturate
    # to uint8 (beyond the fitted range the end displacement holds), look the three 1-D maps up (one
    # cv2.LUT) and move back along the directions (one cv2.transform).
    scale = (TABLE_SIZE - 1) / np.maximum(highs - lows, MIN_SPREAD)
    to_table = np.hstack([directions * scale, -lows * scale])
    for points in (moving, lab):
        indices = cv2.add(cv2.transform(points, to_table), 0.0, dtype=cv2.CV_8U)
        points += cv2.transform(cv2.LUT(indices, tables), step * directions.T)
