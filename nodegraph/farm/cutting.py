"""The chunk plan: an input cut at frame-exact positions into chunks of about the same length."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Chunk:
    """Frames [first, first + frames) of input number `input`, run after `warmup` frames that are dropped."""

    input: int
    index: int
    first: int
    frames: int
    warmup: int

    @property
    def key(self) -> str:
        return f"{self.input}:{self.index}"


def plan_chunks(input_index: int, total: int, fps: float, chunk_seconds: float, warmup: int) -> list[Chunk]:
    """Cut `total` frames into chunks of about `chunk_seconds` (evenly, so no tiny last chunk); each chunk but
    the first runs up to `warmup` frames before its range (the first has none before it)."""
    target = max(1, min(total, chunk_seconds * fps))  # min first: 1e308 s a chunk would overflow round()
    count = max(1, round(total / target))
    bounds = [round(i * total / count) for i in range(count + 1)]
    return [Chunk(input_index, i, first, end - first, min(warmup, first))
            for i, (first, end) in enumerate(pairwise(bounds))]
