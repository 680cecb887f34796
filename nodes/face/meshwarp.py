"""Piecewise-affine warping of a face along FaceMesh's triangles, computed in one vectorised pass.

FaceMesh's tessellation leaves the mouth opening and the eye openings as holes; `MESH_TRIANGLES`
closes them (strips joining each opening's upper and lower arcs), so a face can be warped whole.

`warp_maps` builds the dense (map_x, map_y) that cv2.remap needs: for every output pixel, where in the
source picture it comes from. No Python loop per triangle: the triangles are sorted into classes by
the size of their box, and each class tests all its triangles' candidate pixels at once with
barycentric coordinates; where triangles overlap (a turned head folds the mesh), a depth test keeps
the nearest. Triangles turned away from the viewer (their winding flipped) are skipped. Pixels outside
the mesh follow a fallback affine. The map is continuous, so it is computed on a grid `step` px apart
and upsampled: far fewer candidates, with an error only where the mesh bends inside one grid cell.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import umeyama
from .landmarks_data import LEFT_EYE_CONTOUR, LIPS_INNER, RIGHT_EYE_CONTOUR, TRIANGLES, mean_face


def strip_triangles(loop: tuple[int, ...]) -> np.ndarray:
    """Triangles (K x 3) closing a contour that starts at one corner and reaches the opposite corner
    halfway along: the two arcs between the corners are joined rung by rung, like a ladder."""
    half = len(loop) // 2
    if len(loop) != 2 * half or half < 2:
        raise ValueError(f"strip_triangles needs a loop of an even length >= 4, got {len(loop)}")
    first = list(loop[: half + 1])  # corner, one arc, opposite corner
    second = [loop[0], *reversed(loop[half:])]  # corner, the other arc, opposite corner
    triangles = []
    for i in range(half):
        a, b, c, d = first[i], first[i + 1], second[i], second[i + 1]
        if a == c:
            triangles.append((a, b, d))
        elif b == d:
            triangles.append((a, b, c))
        else:
            triangles += [(a, b, d), (a, d, c)]
    return np.asarray(triangles, np.int32)


MOUTH_TRIANGLES = strip_triangles(LIPS_INNER)
EYE_TRIANGLES = np.vstack([strip_triangles(RIGHT_EYE_CONTOUR), strip_triangles(LEFT_EYE_CONTOUR)])
MESH_TRIANGLES = np.vstack([TRIANGLES, MOUTH_TRIANGLES, EYE_TRIANGLES])


def _signed_area2(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, k]] for k in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


# The winding of every skin triangle on the frontal mean face (image axes, y down): seen from behind,
# a triangle has the other sign. The hole fillers are never culled; they lie behind the skin instead,
# so lips and lids that close over them win.
_FRONT_SIGN = np.sign(_signed_area2(mean_face()[:, :2].astype(np.float64), TRIANGLES))
_SKIN = len(TRIANGLES)
_MIN_AREA2 = 1e-6  # twice the area, in grid px, below which a triangle covers no pixel centre


def _spans(corners: np.ndarray, grid_h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scan-line spans of triangles (T x 3 x 2 corners, grid px), for the pixel centres inside them or on
    their edges: (rows, y, first x, last x), `rows` per triangle the rows it covers, the others per such
    row, triangle after triangle."""
    by_y = np.take_along_axis(corners, np.argsort(corners[:, :, 1], axis=1)[:, :, None], axis=1)
    top, mid, bottom = by_y[:, 0], by_y[:, 1], by_y[:, 2]
    y_low = np.maximum(np.ceil(top[:, 1]), 0).astype(np.int64)
    y_high = np.minimum(np.floor(bottom[:, 1]), grid_h - 1).astype(np.int64)
    rows = np.maximum(y_high - y_low + 1, 0)

    def slope(start, end):
        rise = end[:, 1] - start[:, 1]
        return (end[:, 0] - start[:, 0]) / np.where(rise == 0, 1.0, rise)

    # one side of a span is on the long edge top -> bottom, the other on top -> mid above mid's row,
    # on mid -> bottom from there; each triangle's values repeated for its rows (copies, not a gather)
    per_triangle = np.stack([top[:, 0], top[:, 1], slope(top, bottom), mid[:, 0], mid[:, 1], slope(top, mid),
                             slope(mid, bottom)])
    top_x, top_y, long_slope, mid_x, mid_y, upper_slope, lower_slope = np.repeat(per_triangle, rows, axis=1)
    y = np.repeat(y_low - np.cumsum(rows) + rows, rows) + np.arange(rows.sum())
    yf = y.astype(np.float64)
    x_long = top_x + (yf - top_y) * long_slope
    x_short = np.where(yf < mid_y, top_x + (yf - top_y) * upper_slope, mid_x + (yf - mid_y) * lower_slope)
    # a pixel centre on an edge shared by two triangles is kept by both (the depth test picks one)
    return (rows, y, np.ceil(np.minimum(x_long, x_short) - 1e-7),
            np.floor(np.maximum(x_long, x_short) + 1e-7))


def warp_maps(
    dst_points: np.ndarray,
    src_points: np.ndarray,
    out_size: tuple[int, int],
    fallback: np.ndarray,
    step: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y), float32 arrays of `out_size` (height, width), for cv2.remap: each output pixel
    inside a triangle (MESH_TRIANGLES) of `dst_points` (468 x 2, or x 3 with z where smaller is nearer)
    gets the point with the same barycentric coordinates in the triangle of `src_points` (468 x 2);
    other pixels get `fallback` (2x3 affine, output -> source) applied to them. `step` > 1 samples
    every `step` px and upsamples."""
    dst = np.asarray(dst_points, np.float64)
    src = np.asarray(src_points, np.float64)[:, :2]
    if dst.shape[0] != 468 or src.shape[0] != 468 or not (np.isfinite(dst).all() and np.isfinite(src).all()):
        raise ValueError(f"warp_maps needs 468 finite points on each side, got {dst.shape} and {src.shape}")
    height, width = out_size
    grid_h, grid_w = -(-height // step), -(-width // step)
    # grid cell j is centred on output pixel (j + 0.5) * step - 0.5, the centre cv2.resize uses
    grid = (dst[:, :2] + 0.5) / step - 0.5

    area2 = _signed_area2(grid, MESH_TRIANGLES)
    keep = np.abs(area2) > _MIN_AREA2
    keep[:_SKIN] &= np.sign(area2[:_SKIN]) == _FRONT_SIGN
    kept = np.flatnonzero(keep)
    tri = MESH_TRIANGLES[kept]
    # painter's rank: hole fillers lowest, then skin from far to near (a depth test below keeps the
    # highest rank at each pixel)
    depth = dst[tri, 2].mean(axis=1) if dst.shape[1] >= 3 else np.zeros(len(kept))
    depth[kept >= _SKIN] = np.inf
    rank = np.empty(len(kept), np.int32)
    rank[np.argsort(-depth, kind="stable")] = np.arange(len(kept), dtype=np.int32)

    # per triangle, the affine grid px -> source px: src_c + wa (src_a - src_c) + wb (src_b - src_c)
    a, b, c = grid[tri[:, 0]], grid[tri[:, 1]], grid[tri[:, 2]]
    inv = 1.0 / area2[kept]
    wa_x, wa_y = (b[:, 1] - c[:, 1]) * inv, (c[:, 0] - b[:, 0]) * inv
    wb_x, wb_y = (c[:, 1] - a[:, 1]) * inv, (a[:, 0] - c[:, 0]) * inv
    wa_0 = -(wa_x * c[:, 0] + wa_y * c[:, 1])
    wb_0 = -(wb_x * c[:, 0] + wb_y * c[:, 1])
    wa, wb = np.stack([wa_x, wa_y, wa_0], 1), np.stack([wb_x, wb_y, wb_0], 1)  # T x 3: weights as affines
    sa, sb, sc = src[tri[:, 0]] - src[tri[:, 2]], src[tri[:, 1]] - src[tri[:, 2]], src[tri[:, 2]]
    coef = sa[:, :, None] * wa[:, None, :] + sb[:, :, None] * wb[:, None, :]  # T x 2 x 3
    coef[:, :, 2] += sc
    coef = coef.astype(np.float32)

    fallback = np.asarray(fallback, np.float64)
    gx = ((np.arange(grid_w) + 0.5) * step - 0.5).astype(np.float32)
    gy = ((np.arange(grid_h) + 0.5) * step - 0.5).astype(np.float32)
    maps = []
    for row in fallback:
        f = row.astype(np.float32)
        maps.append(np.add.outer(f[1] * gy + f[2], f[0] * gx))

    rows, y, x_first, x_last = _spans(np.stack([a, b, c], 1), grid_h)
    x_first = np.maximum(x_first, 0).astype(np.int32)
    count = np.maximum(np.minimum(x_last, grid_w - 1).astype(np.int32) - x_first + 1, 0)
    total = int(count.sum())
    if total:
        # per span row, the map is offset + slope * x; ranks decide pixels two triangles share. Per-row and
        # per-triangle values reach the pixels by np.repeat (sequential copies), cheaper than gathers
        starts = np.cumsum(count, dtype=np.int32) - count - x_first
        x = np.arange(total, dtype=np.int32) - np.repeat(starts, count)
        pixel = np.repeat(y.astype(np.int32) * grid_w, count) + x
        rank_of = np.repeat(np.repeat(rank, rows), count)
        nearest = np.full(grid_h * grid_w, -1, np.int32)
        np.maximum.at(nearest, pixel, rank_of)
        won = rank_of == nearest[pixel]  # one winner per pixel: ranks are unique
        pixel, x = pixel[won], x[won].astype(np.float32)
        per_row = np.repeat(coef.reshape(-1, 6).T, rows, axis=1)  # row 3 * axis + j: coef[:, axis, j] per span row
        yf = y.astype(np.float32)
        for axis, map_axis in enumerate(maps):
            slope_x, slope_y, offset = per_row[3 * axis:3 * axis + 3]
            base = np.repeat(slope_y * yf + offset, count)[won]
            map_axis.reshape(-1)[pixel] = base + np.repeat(slope_x, count)[won] * x
    if step > 1:
        size = (grid_w * step, grid_h * step)
        maps = [cv2.resize(m, size, interpolation=cv2.INTER_LINEAR)[:height, :width] for m in maps]
    return np.ascontiguousarray(maps[0]), np.ascontiguousarray(maps[1])


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity taking the points `src` (N x 2) onto `dst` (N x 2)."""
    return umeyama(np.asarray(src, np.float64)[:, :2], np.asarray(dst, np.float64)[:, :2])[:2]


def mesh_warp(
    image: np.ndarray,
    src_points: np.ndarray,
    dst_points: np.ndarray,
    out_size: tuple[int, int],
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """`image` warped so its face, at `src_points` (468 landmarks), lands on `dst_points` (468 x 2 or 3)
    in an output of `out_size` (height, width). Outside the mesh the output follows `fallback` (2x3,
    output -> image), by default the similarity that best takes `dst_points` onto `src_points`."""
    if fallback is None:
        fallback = similarity_fit(dst_points, src_points)
    map_x, map_y = warp_maps(dst_points, src_points, out_size, fallback)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
