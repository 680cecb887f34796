"""What reading a video file through PyAV needs, whatever reads it (the reader, the frame counts, the source's
times, the audio copy): how to open it, its stream of moving pictures, which packets play, and a seek that
lands before a frame."""

from __future__ import annotations

import contextlib

import av

from .ffv1_slices import SliceChecksums

# A file whose metadata is not UTF-8 must still open: PyAV before 19 fails on it unless told to replace what
# does not decode; PyAV 19 decodes it with surrogateescape itself and refuses the argument (TypeError).
OPEN_OPTIONS = {"metadata_errors": "replace"} if int(av.__version__.split(".")[0]) < 19 else {}
def is_cover(stream) -> bool:
    """A video stream that is one still picture shown with the file (album art, a thumbnail a downloader
    embedded), not moving pictures."""
    return stream.type == "video" and bool(stream.disposition & av.stream.Disposition.attached_pic)


def is_shown(packet: av.Packet) -> bool:
    """A packet of a frame that plays. A clip cut without re-encoding (`ffmpeg -ss 1.3 -c copy`) keeps the
    frames from the keyframe before the cut, hidden by its edit list: the demuxer marks them discard."""
    return packet.pts is not None and packet.size > 0 and not packet.is_discard


def slice_checksums(stream) -> SliceChecksums | None:
    """What refuses an FFV1 stream's damaged frames (see `SliceChecksums`); None for other codecs."""
    return SliceChecksums(stream.codec_context.extradata) if stream.codec_context.name == "ffv1" else None


def moving_pictures(container) -> av.VideoStream | None:
    """The first video stream that is not a cover picture; an MP4 can list its cover first."""
    return next((stream for stream in container.streams.video if not is_cover(stream)), None)


def first_decoded_pts(path: str) -> int | None:
    """The timestamp of the file's first frame that decodes (None: none does). A recording cut in the middle of
    a group of pictures (an MPEG-TS cut with `tail -c`, a capture started mid-stream) begins with pictures whose
    references are missing: the decoder drops them, so they are no frames of the video."""
    with av.open(path, **OPEN_OPTIONS) as container:
        for packet in container.demux(moving_pictures(container)):
            with contextlib.suppress(av.FFmpegError):
                for frame in packet.decode():
                    return frame.pts
    return None


def seek_before(container, stream, pts: int) -> None:
    """Seek to a keyframe shown at or before `pts`. Demuxers seek by decoding time, which with B-frames (the
    pictures stored out of order) can land on the keyframe just after the frames before it: step back. MPEG-TS
    has no index, so its demuxer lands on any picture, and the decoder would drop those before the next
    keyframe: step back further, a second, then two, ..., until the packet landed on is a keyframe. The first
    keyframe is decoded before it is shown (B-frames): the steps go on to a second before the stream starts."""
    target, back = pts, max(1, round(1 / stream.time_base))
    floor = (stream.start_time or 0) - back
    for _ in range(100):
        container.seek(target, stream=stream, backward=True)
        landed = next((p for p in container.demux(stream) if p.pts is not None), None)
        if landed is not None and not landed.is_keyframe and target > floor:
            target = max(floor, min(target, landed.dts if landed.dts is not None else landed.pts) - back)
            back *= 2
            continue
        if landed is None or landed.pts <= pts or landed.dts is None or landed.dts - 1 >= target:
            break
        target = landed.dts - 1
    container.seek(target, stream=stream, backward=True)
