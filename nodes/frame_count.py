"""Counting the frames of a video file that decode, and their timestamps, from its packets without decoding
them all: for a farm's chunks, a start frame and the frames an output holds."""

from __future__ import annotations

import contextlib
import os

import av

from .video_streams import OPEN_OPTIONS, is_shown, moving_pictures, slice_checksums


def frame_timestamps(path: str) -> list[int]:
    """The presentation timestamp of every frame that decodes, in order (the stream's time base): frame i
    begins at the i-th. Reads every packet once, decodes only the last group of pictures. av.FFmpegError (a
    file that cannot be read to its end) is the caller's to say."""
    return timestamps_and_restart(path)[0]


def timestamps_and_restart(path: str) -> tuple[list[int], int | None]:
    """`frame_timestamps`, and how many frames the file shows before its times start again (MPEG-TS recordings
    joined end to end: their decoding times go back at the joint), None when they only go forward: one read."""
    with av.open(path, **OPEN_OPTIONS) as container:
        return _decodable_times(container, os.path.getsize(path))


def count_frames(path: str) -> int:
    """How many frames of a file decode (0 when it cannot be read)."""
    try:
        with av.open(path, **OPEN_OPTIONS) as container:
            return len(_decodable_times(container, os.path.getsize(path))[0])
    except av.FFmpegError:
        return 0


def _decodable_times(container, end: int) -> tuple[list[int], int | None]:
    """The sorted timestamps of the frames of the first video stream that decode. A packet the file (`end`
    bytes) ends inside (a fragment cut short by a kill or a full disk) does not count. Frames shown before the
    last keyframe are counted; the last group of pictures is decoded to be sure (its leading pictures, which
    need the group before, are among the counted). That keyframe may be hidden: a clip cut without re-encoding
    keeps the keyframe before the cut, and may have no other. An FFV1 frame whose slices' checksums show damage is
    not counted: the reader refuses it. Also: the frames shown before the decoding times
    first go back (see `timestamps_and_restart`), None when they never do."""
    stream = moving_pictures(container)
    if stream is None:
        return [], None
    times, tail = [], []  # times: pts of every whole shown packet; tail: the packets since the last keyframe
    latest, shown, restart = None, 0, None  # the latest decoding time, the packets shown so far
    checksums, refused = slice_checksums(stream), set()  # the reader refuses those frames (`VideoReader._decode`)
    for packet in container.demux(stream):
        if restart is None and packet.dts is not None:
            if latest is not None and packet.dts < latest:
                restart = shown
            latest = packet.dts
        shown += is_shown(packet)
        if packet.pts is None or not packet.size or (packet.pos is not None and packet.pos + packet.size > end):
            continue
        if checksums is not None and not checksums.whole(memoryview(packet)):
            refused.add(packet.pts)
        elif is_shown(packet):
            times.append(packet.pts)
        tail = [packet] if packet.is_keyframe else [*tail, packet]
    if not tail:
        return [], restart
    counted = sum(1 for t in times if t < tail[0].pts)
    for packet in [*tail, None]:
        with contextlib.suppress(av.FFmpegError):
            counted += sum(1 for frame in stream.decode(packet)
                           if frame.pts >= tail[0].pts and frame.pts not in refused)
    return sorted(times)[:counted], restart
