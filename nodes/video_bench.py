"""`nodegraph bench video`: decoding and encoding through PyAV against OpenCV, at 640x480 and 1080p, and the
size of the output at equal quality (PSNR against the lossless frames). One entry point: run(frames)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from nodegraph.paths import data_dir

from .video_io import VideoReader, VideoWriter

SIZES = {"640x480": (640, 480), "1080p": (1920, 1080)}
FRAMES = 90
CRFS = tuple(range(8, 36, 3))


def source_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """Frames of the demo clip (a real face that moves), scaled to `size`, looped to `count`."""
    reader = VideoReader(str(data_dir("presets") / "media" / "demo.mp4"))
    clip = [image for image, _ in iter(reader.read, None)]
    reader.close()
    return [cv2.resize(clip[i % len(clip)], size, interpolation=cv2.INTER_AREA) for i in range(count)]


def encode_pyav(frames, path: Path, codec="h264", quality=23, speed="ultrafast") -> float:
    start = time.perf_counter()
    writer = VideoWriter(str(path), path.suffix, codec, 30.0, quality, speed, False, None, None, str(path))
    for frame in frames:
        writer.write(frame)
    writer.close()
    return len(frames) / (time.perf_counter() - start)


def encode_opencv(frames, path: Path) -> float:
    """OpenCV's writer as the project used it before PyAV: MPEG-4 part 2 (mp4v), its only portable codec."""
    start = time.perf_counter()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return len(frames) / (time.perf_counter() - start)


def decode_pyav(path: Path) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    reader = VideoReader(str(path))
    frames = [image for image, _ in iter(reader.read, None)]
    reader.close()
    return len(frames) / (time.perf_counter() - start), frames


def decode_opencv(path: Path) -> float:
    start = time.perf_counter()
    capture, count = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count / (time.perf_counter() - start)


def psnr(frames, reference) -> float:
    return round(float(np.mean([cv2.PSNR(a, b) for a, b in zip(frames, reference, strict=True)])), 2)


def equal_quality(frames, folder: Path) -> dict:
    """OpenCV's mp4v against libx264 at the CRF whose PSNR first reaches mp4v's: bytes and PSNR of each."""
    opencv = folder / "q_opencv.mp4"
    encode_opencv(frames, opencv)
    target = psnr(decode_pyav(opencv)[1], frames)
    result = {"opencv_mp4v": {"bytes": opencv.stat().st_size, "psnr_db": target}}
    for crf in reversed(CRFS):  # smallest file first
        path = folder / f"q_{crf}.mp4"
        encode_pyav(frames, path, quality=crf)
        quality = psnr(decode_pyav(path)[1], frames)
        if quality >= target or crf == CRFS[0]:
            result["pyav_h264"] = {"crf": crf, "bytes": path.stat().st_size, "psnr_db": quality}
            break
    result["size_ratio"] = round(result["pyav_h264"]["bytes"] / result["opencv_mp4v"]["bytes"], 3)
    return result


def run(frames: int | None = None) -> dict:
    count = frames or FRAMES
    result = {"frames": count, "h264": "libx264 ultrafast crf 23 (the VideoFileOutput default)",
              "opencv": "cv2.VideoWriter mp4v (the writer before PyAV), cv2.VideoCapture"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, size in SIZES.items():
            clip = source_frames(size, count)
            h264, mp4v = folder / f"{name}.mp4", folder / f"{name}_mp4v.mp4"
            encode = {"pyav_h264_fps": encode_pyav(clip, h264), "opencv_mp4v_fps": encode_opencv(clip, mp4v)}
            decode = {"pyav_fps": decode_pyav(h264)[0], "opencv_fps": decode_opencv(h264)}
            result[name] = {"encode": {k: round(v, 1) for k, v in encode.items()},
                            "decode_h264": {k: round(v, 1) for k, v in decode.items()}}
        result["equal_quality_640x480"] = equal_quality(source_frames(SIZES["640x480"], count), folder)
    return result


def summary(result: dict) -> str:
    lines = [f"video, {result['frames']} frames of the demo clip; h264 = {result['h264']}"]
    for name in SIZES:
        enc, dec = result[name]["encode"], result[name]["decode_h264"]
        lines.append(f"  {name:8} encode: PyAV h264 {enc['pyav_h264_fps']:.0f} fps, OpenCV mp4v "
                     f"{enc['opencv_mp4v_fps']:.0f} fps; decode h264: PyAV {dec['pyav_fps']:.0f} fps, "
                     f"OpenCV {dec['opencv_fps']:.0f} fps")
    q = result["equal_quality_640x480"]
    lines.append(f"  equal quality at 640x480: OpenCV mp4v {q['opencv_mp4v']['bytes']} bytes at "
                 f"{q['opencv_mp4v']['psnr_db']} dB; PyAV h264 crf {q['pyav_h264']['crf']} "
                 f"{q['pyav_h264']['bytes']} bytes at {q['pyav_h264']['psnr_db']} dB ({q['size_ratio']:.2f}x the size)")
    return "\n".join(lines)
