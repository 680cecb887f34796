"""`nodegraph bench video`: decoding and encoding through PyAV against OpenCV, at 640x480 and 1080p, and the
size of the output at equal quality (PSNR against the lossless frames). One entry point: run(frames)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from nodegraph.paths import data_dir

from .video_io import VideoWriter
from .video_read import VideoReader

SIZES = {"640x480": (640, 480), "1080p": (1920, 1080)}
FRAMES = 90
CRFS = tuple(range(8, 36, 3))
SPEEDS = ("ultrafast", "veryfast")
REPEATS = 3


def source_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """A slow pan and zoom over a photograph (the Grace Hopper portrait) at `size`: camera-like motion, with
    no earlier codec's blocks in it (frames taken from a compressed clip would favour that codec)."""
    photo = cv2.imread(str(data_dir("presets") / "media" / "grace_hopper.jpg"))
    w, h = size
    frames = []
    for i in range(count):
        zoom = max(w / photo.shape[1], h / photo.shape[0]) * (1.15 + 0.1 * i / count)
        dx, dy = (photo.shape[1] * zoom - w) * (0.2 + 0.6 * i / count), (photo.shape[0] * zoom - h) * 0.3
        matrix = np.float32([[zoom, 0, -dx], [0, zoom, -dy]])
        frames.append(cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


def lossless_reference(frames, folder: Path) -> list[np.ndarray]:
    """The frames through a lossless 4:2:0 file (FFV1), converted as VideoWriter converts them: what every
    4:2:0 codec starts from, so PSNR measures the codec, not the colour subsampling they all share."""
    path = folder / "reference.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")))
        container.mux(stream.encode(None))
    return decode_pyav(path)[1]


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
    """OpenCV's mp4v against libx264 (at each speed) at the CRF whose PSNR first reaches mp4v's, and at the
    default CRF 23: bytes and PSNR of each."""
    opencv = folder / "q_opencv.mp4"
    encode_opencv(frames, opencv)
    reference = lossless_reference(frames, folder)
    target = psnr(decode_pyav(opencv)[1], reference)
    result = {"opencv_mp4v": {"bytes": opencv.stat().st_size, "psnr_db": target}}
    for speed in SPEEDS:
        for crf in (23, *reversed(CRFS)):  # the default first, then the smallest file first
            path = folder / f"q_{speed}_{crf}.mp4"
            encode_pyav(frames, path, quality=crf, speed=speed)
            measured = {"crf": crf, "bytes": path.stat().st_size, "psnr_db": psnr(decode_pyav(path)[1], reference)}
            if crf == 23 and f"pyav_h264_{speed}_crf23" not in result:
                result[f"pyav_h264_{speed}_crf23"] = measured
            elif measured["psnr_db"] >= target or crf == CRFS[0]:
                measured["size_vs_mp4v"] = round(measured["bytes"] / result["opencv_mp4v"]["bytes"], 3)
                result[f"pyav_h264_{speed}_equal"] = measured
                break
    return result


def best(measure, *args) -> float:
    """The highest of a few measurements: on a shared machine the others are the neighbours' noise."""
    return max(measure(*args) for _ in range(REPEATS))


def run(frames: int | None = None) -> dict:
    count = frames or FRAMES
    result = {"frames": count, "repeats": REPEATS, "h264": "libx264 ultrafast crf 23 (the VideoFileOutput default)",
              "opencv": "cv2.VideoWriter mp4v (the writer before PyAV), cv2.VideoCapture"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, size in SIZES.items():
            clip = source_frames(size, count)
            h264, mp4v = folder / f"{name}.mp4", folder / f"{name}_mp4v.mp4"
            encode = {"pyav_h264_fps": best(encode_pyav, clip, h264),
                      "opencv_mp4v_fps": best(encode_opencv, clip, mp4v)}
            decode = {"pyav_fps": best(lambda path: decode_pyav(path)[0], h264),
                      "opencv_fps": best(decode_opencv, h264)}
            result[name] = {"encode": {k: round(v, 1) for k, v in encode.items()},
                            "decode_h264": {k: round(v, 1) for k, v in decode.items()}}
        result["equal_quality_640x480"] = equal_quality(source_frames(SIZES["640x480"], count), folder)
    return result


def summary(result: dict) -> str:
    lines = [f"video, {result['frames']} frames panning over a photograph (best of {REPEATS}); h264 = {result['h264']}"]
    for name in SIZES:
        enc, dec = result[name]["encode"], result[name]["decode_h264"]
        lines.append(f"  {name:8} encode: PyAV h264 {enc['pyav_h264_fps']:.0f} fps, OpenCV mp4v "
                     f"{enc['opencv_mp4v_fps']:.0f} fps; decode h264: PyAV {dec['pyav_fps']:.0f} fps, "
                     f"OpenCV {dec['opencv_fps']:.0f} fps")
    q = result["equal_quality_640x480"]
    lines.append(f"  640x480, OpenCV mp4v: {q['opencv_mp4v']['bytes']} bytes at {q['opencv_mp4v']['psnr_db']} dB")
    for speed in SPEEDS:
        default, equal = q[f"pyav_h264_{speed}_crf23"], q[f"pyav_h264_{speed}_equal"]
        lines.append(f"  640x480, h264 {speed}: crf 23 {default['bytes']} bytes at {default['psnr_db']} dB; "
                     f"crf {equal['crf']} {equal['bytes']} bytes at {equal['psnr_db']} dB "
                     f"({equal['size_vs_mp4v']:.2f}x mp4v's size at its PSNR)")
    return "\n".join(lines)
