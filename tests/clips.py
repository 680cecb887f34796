"""Small test clips whose frames carry their own index, readable back after lossy encoding."""

from __future__ import annotations

from fractions import Fraction

import av
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


ENCODERS = {"mp4v": ("mpeg4", "yuv420p"), "MJPG": ("mjpeg", "yuvj420p"), "h264": ("libx264", "yuv420p"),
            "ffv1": ("ffv1", "bgr0")}


def write_clip(path, frames: int = 300, width: int = 160, height: int = 120, fps: float = 30.0,
               codec: str = "mp4v", gop: int | None = None, options: dict | None = None) -> str:
    """A clip of indexed frames, written by PyAV (plain, not fragmented: as most cameras and tools write), in
    the container its extension names; `gop`: a keyframe every that many frames; `options`: the muxer's."""
    encoder, pix_fmt = ENCODERS[codec]
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(encoder, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
        if encoder in ("mpeg4", "mjpeg"):
            stream.options = {"qmin": "2", "qmax": "3"}
        for i in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(indexed_frame(i, width, height), "bgr24")))
        container.mux(stream.encode(None))
    return str(path)


def read_frames(path) -> list[np.ndarray]:
    """Every frame PyAV decodes from the file, in order, skipping damaged packets as players do (none when
    the file cannot be opened)."""
    frames = []
    try:
        container = av.open(str(path))
    except av.FFmpegError:
        return frames
    with container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames += [frame.to_ndarray(format="bgr24") for frame in packet.decode()]
            except av.FFmpegError:
                continue
    return frames


def flat_then_noise(path, flat, noisy, width=1920, height=1080):
    """A lossless 25 fps clip: `flat` grey frames, then `noisy` frames of noise (no encoder compresses them)."""
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(flat + noisy):
            image = np.full((height, width, 3), 90, np.uint8) if i < flat else \
                rng.integers(0, 256, (height, width, 3), np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, "bgr24")))
        container.mux(stream.encode(None))
    return path


def size_changing_clip(path, sizes: list[tuple[int, int]], frames: int) -> str:
    """An MPEG-TS clip of `frames` indexed frames at each (width, height) in turn, in one H.264 stream whose times
    go on across the change (one recording whose size changes, as a screen capture's or a stream's can)."""
    rate = Fraction(30)
    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = sizes[0]
        for part, (width, height) in enumerate(sizes):
            encoder = av.CodecContext.create("libx264", "w")  # one encoder a size: its pictures carry their own
            encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = width, height, "yuv420p", 1 / rate
            pictures = [av.VideoFrame.from_ndarray(indexed_frame(part * frames + i, width, height), "bgr24")
                        .reformat(format="yuv420p") for i in range(frames)]
            for i, picture in enumerate(pictures):
                picture.pts, picture.time_base = i, 1 / rate
            for picture in [*pictures, None]:
                for packet in encoder.encode(picture):
                    packet.pts += part * frames
                    packet.dts += part * frames
                    packet.time_base, packet.stream = 1 / rate, stream
                    container.mux(packet)
    return str(path)
