"""Reading pictures of any kind into the BGR uint8 frames every node expects."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from nodegraph.errors import InvalidInput
from nodegraph.file_checks import input_problem
from nodegraph.output_checks import NOT_UTF8, not_utf8

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# what a file dialog shows for a video input (FFmpeg reads others too, typed into the field): camera and TV
# recordings (MPEG-TS, AVCHD), MPEG program streams and Flash video besides the usual containers
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv")


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Grayscale, BGRA and 16-bit or float pictures become 3-channel uint8 BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


def limit_size(image: np.ndarray, max_side: int) -> np.ndarray:
    """Scale down so the longest side is at most `max_side` (0: no limit)."""
    h, w = image.shape[:2]
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
        return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    return image


def check_readable_file(path: str) -> None:
    """Raise InvalidInput naming the file when it is missing, a folder, a device or a pipe, empty or unreadable."""
    problem = input_problem(path)
    if problem:
        raise InvalidInput(problem)


def check_utf8_path(path: str) -> None:
    """Refuse a path with bytes that are not UTF-8 (FFmpeg and OpenCV take UTF-8 names only)."""
    if not_utf8(path):
        raise InvalidInput(f"{not_utf8(path)}: {NOT_UTF8}")


def read_image(path: str, max_side: int = 0) -> np.ndarray:
    check_readable_file(path)
    data = np.fromfile(path, dtype=np.uint8)  # imdecode handles non-ASCII paths on Windows too
    # any depth and colours, without alpha (dropped anyway), and turned as the EXIF orientation says (a
    # phone's photos are stored sideways): IMREAD_UNCHANGED would skip the orientation
    image = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if image is None:
        raise InvalidInput(f"{path}: not a picture OpenCV can decode (supported: "
                           f"{', '.join(IMAGE_EXTENSIONS)})")
    try:
        image = to_bgr8(image)
    except ValueError as e:
        raise InvalidInput(f"{path}: {e}") from None
    return limit_size(image, max_side)


def natural_key(name: str):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: str) -> list[Path]:
    problem = input_problem(folder, folder=True)
    if problem:
        raise InvalidInput(problem)
    # hidden files are left out: macOS writes `._NAME.jpg` beside each picture on a USB stick (not a picture)
    files = [p for p in Path(folder).iterdir()
             if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")]
    if not files:
        raise InvalidInput(f"{folder}: no pictures in this folder (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(files, key=lambda p: natural_key(p.name))
