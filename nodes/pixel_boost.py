"""Pixel boost: a swap model made for S px run on a crop of k*S px (FaceFusion's and VisoMaster's way).

The k*S crop is cut into k*k sub-sampled tiles (space-to-depth: tile (i, j) holds every k-th pixel from
row i, column j), each tile is a whole S px face the model can take, and the swapped tiles are interleaved
back. The model sees k*k slightly shifted views of the face, and the pasted swap has k*S px of detail
instead of an S px swap stretched k times.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nodegraph.errors import InvalidInput
from nodegraph.params import Choice

BOOST_SIZES = ("256", "384", "512", "768", "1024")


def boost_param() -> Choice:
    return Choice(["native", *BOOST_SIZES], default="native",
                  help="run the model on a crop this many px wide, cut into sub-sampled tiles of the model's "
                       "size (a multiple of it); native: the model's own size")


def boost_size(choice: str, model_size: int, where: str) -> int:
    """The crop side for the `pixel_boost` choice; InvalidInput naming `where` when it is no multiple of
    the model's size."""
    if choice == "native":
        return model_size
    size = int(choice)
    if size % model_size:
        fitting = ", ".join(["native", *(s for s in BOOST_SIZES if int(s) % model_size == 0)])
        raise InvalidInput(f"{where}: pixel_boost {size} is not a multiple of the model's {model_size} px; "
                           f"choose one of {fitting}")
    return size


def implode(crop: np.ndarray, factor: int) -> np.ndarray:
    """(factor², S, S, C) tiles of a (factor*S, factor*S[, C]) crop; tile i*factor + j holds the pixels
    at rows i, i + factor, ... and columns j, j + factor, ..."""
    side = crop.shape[0] // factor
    channels = crop.reshape(crop.shape[0], crop.shape[1], -1).shape[2]
    tiles = crop.reshape(side, factor, side, factor, channels).transpose(1, 3, 0, 2, 4)
    return tiles.reshape(factor * factor, side, side, channels)


def explode(tiles: np.ndarray, factor: int) -> np.ndarray:
    """The (factor*S, factor*S, C) crop whose implode() gives `tiles` (factor², S, S, C)."""
    _, side, _, channels = tiles.shape
    crop = tiles.reshape(factor, factor, side, side, channels).transpose(2, 0, 3, 1, 4)
    return crop.reshape(factor * side, factor * side, channels)


def run_boosted(crop: np.ndarray, model_size: int, run_tile: Callable[[np.ndarray], tuple]) -> tuple:
    """Run `run_tile` (an S x S x 3 tile -> a tuple of S x S x C float arrays) on every tile of `crop` and
    put each of its outputs back together at the crop's size."""
    factor = crop.shape[0] // model_size
    if factor == 1:
        return tuple(np.asarray(o).reshape(model_size, model_size, -1) for o in run_tile(crop))
    results = [run_tile(tile) for tile in implode(crop, factor)]
    return tuple(explode(np.stack([np.asarray(r[k]).reshape(model_size, model_size, -1) for r in results]),
                         factor) for k in range(len(results[0])))
