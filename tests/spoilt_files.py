"""Video files spoilt as a kill, a full disk, a copy that stopped or bad storage leaves them: cut short, or
with bytes overwritten; and what a reader of one says at its end."""

from pathlib import Path

import av
import numpy as np
from clips import indexed_frame

from nodes.video_io import VideoWriter
from nodes.video_read import VideoReader


def read_through(path) -> str | None:
    """What a reader of the whole file says at its end."""
    reader = VideoReader(str(path))
    try:
        while reader.read(picture=False) is not None:
            pass
        return reader.said_at_end()
    finally:
        reader.close()


def cut(clip, fraction=0.6):
    """The first `fraction` of the file's bytes, as `head -c` leaves them."""
    data = open(clip, "rb").read()
    end = int(len(data) * fraction)
    assert not clip.endswith(".ts") or end % 188, "a cut between transport packets leaves a whole file"
    path = f"{clip}.cut{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data[:end])
    return path


def damaged(clip, fraction=0.5):
    """The file with 2000 bytes in the middle overwritten."""
    data = bytearray(open(clip, "rb").read())
    middle = int(len(data) * fraction)
    data[middle:middle + 2000] = bytes(range(256)) * 7 + bytes(208)
    path = f"{clip}.damaged{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path


def block_damaged(clip, frame):
    """The file with the first bytes of `frame`'s block (its track, time and flags) zeroed: Matroska's demuxer
    fails no packet there, it passes over the rest of the cluster to the next one."""
    with av.open(clip) as container:
        where = [packet.pos for packet in container.demux(container.streams.video[0]) if packet.size][frame]
    data = bytearray(open(clip, "rb").read())
    data[where:where + 4] = bytes(4)
    path = f"{clip}.damaged.mkv"
    open(path, "wb").write(data)
    return path


def ffv1_clip(path: Path) -> str:
    """40 numbered 160x120 frames in FFV1 as the writer makes it (slice checksums on), in `path` (.mkv or .avi)."""
    clip = str(path)
    writer = VideoWriter(clip, path.suffix, "ffv1", 30.0, 23, "ultrafast", False, None, None, clip)
    for index in range(40):
        writer.write(indexed_frame(index, 160, 120), index)
    writer.close()
    return clip


def flipped_in_packet(clip, index):
    """The file with bytes in the middle of packet `index` (the frame's data) inverted."""
    with av.open(clip) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    position, size = packets[index]
    data = bytearray(open(clip, "rb").read())
    for at in range(position + size // 2, position + size // 2 + 8):
        data[at] ^= 0xFF
    path = f"{clip}.damaged{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path


def detailed_first_keyframe_webm(path) -> str:
    """100 VP9 frames whose still corner of noise makes the first keyframe ten times the size of the pictures
    after it, as a camera's still background does."""
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(100):
            image = indexed_frame(i)
            image[-32:, -32:] = noise
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, "bgr24")))
        container.mux(stream.encode(None))
    return str(path)


def first_picture_spoilt(clip, how) -> str:
    """The file cut halfway through its first picture's data (`how` "cut"), or with that data overwritten."""
    with av.open(clip) as container:
        first = next(packet for packet in container.demux(video=0) if packet.size)
        start, size = first.pos, first.size
    data = bytearray(open(clip, "rb").read())
    if how == "cut":
        data = data[:start + size // 2]
    else:
        data[start:start + size] = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = f"{clip}.{how}{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path


def damaged_near_end(clip, back):
    """The file with 300 bytes overwritten `back` bytes before its end, its length kept: as a bad sector or a
    copy's bit errors leave it, where a cut would shorten it."""
    data = bytearray(open(clip, "rb").read())
    at = len(data) - back
    data[at:at + 300] = bytes(range(256)) + bytes(44)
    path = f"{clip}.damaged{clip[clip.rindex('.'):]}"
    open(path, "wb").write(data)
    return path
