"""Small test clips whose frames carry their own index, readable back after lossy encoding."""

from __future__ import annotations

import cv2
import numpy as np

BITS = 12


def indexed_frame(index: int, width: int = 160, height: int = 120) -> np.ndarray:
    """A frame whose top band encodes `index` in BITS black/white blocks; the rest is a
    gradient that moves with the index so filters have something to chew on."""
    frame = np.empty((height, width, 3), np.uint8)
    x = np.arange(width, dtype=np.int32)
    y = np.arange(height, dtype=np.int32)[:, None]
    frame[..., 0] = (x + index * 3) % 256
    frame[..., 1] = (y * 2 + index) % 256
    frame[..., 2] = ((x + y) // 2) % 256
    block = width // BITS
    for bit in range(BITS):
        frame[: height // 3, bit * block:(bit + 1) * block] = 255 if (index >> bit) & 1 else 0
    return frame


def frame_index(frame: np.ndarray) -> int:
    height, width = frame.shape[:2]
    block = width // BITS
    band = frame[4: height // 3 - 4].mean(axis=(0, 2))
    return sum(1 << bit for bit in range(BITS) if band[bit * block + 2: (bit + 1) * block - 2].mean() > 127)


def write_clip(path, frames: int = 300, width: int = 160, height: int = 120, fps: float = 30.0,
               codec: str = "mp4v") -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path}"
    for i in range(frames):
        writer.write(indexed_frame(i, width, height))
    writer.release()
    return str(path)


def read_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
