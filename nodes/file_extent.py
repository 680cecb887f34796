"""How long a video file's own structure says it is, read from the sizes its writer put in its top-level parts
(MP4 and MOV atoms, Matroska's Segment, AVI's RIFF chunks): a file shorter than that was cut short (a kill, a
full disk, a copy that stopped); one as long, whose frames still fell short, is damaged. PyAV gives no such
size, so the few header bytes are read here."""

from __future__ import annotations

import struct

from .matroska_blocks import segment_span


def top_level_atoms(path: str):
    """The (kind, start, size) of an MP4's or MOV's top-level atoms, in order; size None for the last one when it
    goes on to the file's end (as a writer killed mid-way leaves its `mdat`). Bytes that are no atom end it,
    given as kind b"" (a file of another kind, or damage)."""
    with open(path, "rb") as file:
        start = 0
        while len(header := file.read(8)) == 8:
            size, kind = struct.unpack(">I4s", header)
            if not kind.isascii() or not kind.decode().isprintable():
                yield b"", start, None
                return
            if size == 1:  # a 64-bit size follows
                large = file.read(8)
                size = struct.unpack(">Q", large)[0] if len(large) == 8 else 0
            if size == 0:
                yield kind, start, None
                return
            if size < 8:
                return
            yield kind, start, size
            start += size
            file.seek(start)


def unfinished_recording(path: str) -> str | None:
    """Why an MP4 or MOV holds pictures' data (an `mdat` atom) but no index (`moov`), which its writer puts last
    unless told to put it first (`+faststart`): a recording cut short before it was finalised. None for any
    other file, read from its top-level atoms' headers alone."""
    kinds = [kind for kind, _, _ in top_level_atoms(path)]
    if b"moov" in kinds or b"" in kinds or b"mdat" not in kinds:
        return None
    return (f"{path}: the file was not finished: it ends before its index (the 'moov' atom an MP4 or MOV gets last) "
            "was written, so none of its frames can be found (moov atom not found); a recording whose program "
            "crashed or was killed is left like this: record to MKV or fragmented MP4 next time, which stay "
            "readable up to a cut, and a tool such as untrunc can rebuild this one from a whole file recorded by "
            "the same camera or program with the same settings; a copy or download that stopped: copy it again")


def declared_end(path: str, format_name: str) -> int | None:
    """Where the file ends as its structure says (bytes), for MP4/MOV, Matroska/WebM and AVI; None for other
    containers (MPEG-TS has no such size) and where the writer left the size open (a live Matroska stream)."""
    if format_name.startswith("mov"):
        atoms = list(top_level_atoms(path))
        return None if not atoms or atoms[-1][2] is None or not atoms[-1][0] else atoms[-1][1] + atoms[-1][2]
    if format_name.startswith("matroska"):
        return _matroska_end(path)
    if format_name == "avi":
        return _riff_end(path)
    return None


def _matroska_end(path: str) -> int | None:
    """The end of a Matroska file's Segment: after its EBML header, the Segment's size."""
    with open(path, "rb") as file:
        span = segment_span(file)
    return span and span[1]


def _riff_end(path: str) -> int | None:
    """The end of an AVI's RIFF chunks: the first ('AVI ') and, past 1 GiB, the 'AVIX' ones after it."""
    end = 0
    with open(path, "rb") as file:
        while len(header := file.read(8)) == 8 and header[:4] == b"RIFF":
            end += 8 + struct.unpack("<I", header[4:])[0]
            file.seek(end)
    return end or None
