"""What reading a video file met that its user should hear of, as FFmpeg's own player says it: damaged data
(packets that do not decode, packets and pictures FFmpeg marks corrupt, a part the demuxer cannot pass) and
an end before the one the file's header gives (a file cut short by a kill, a full disk or `head -c`). Said in
one sentence once the file has been read to its end; the frames that decoded are used all the same."""

from __future__ import annotations

from .frame_places import FramePlaces


class ReadDamage:
    """The damage one reader of a file met, gathered as it reads."""

    def __init__(self, places: FramePlaces):
        self.undecodable: list[str] = []  # why each packet that did not decode failed
        self.marked = 0  # packets decoded as well as they could be: marked corrupt by the demuxer or the decoder
        self.stopped = ""  # why the demuxer stopped before the end of the file
        self.places = places  # the frames of the damaged packets counted, where known
        # the latest packet's damage and its frame, which may be the cut of a file
        self._latest: tuple[str, bool, int | None] | None = None

    def packet(self, error: str, marked: bool, frame: int | None = None) -> None:
        """A packet read: `error`, why it did not decode ("": it did); `marked`, decoded as well as it could be;
        `frame`, its frame's number from the file's first (None: not known)."""
        self._count_latest()
        self._latest = (error, marked, frame) if error or marked else None

    def flushed(self, marked: bool) -> None:
        """The frames the decoder held at the end were read: damaged ones are the last packet's."""
        if marked and self._latest is None:
            self._latest = ("", True, None)

    def _count_latest(self) -> None:
        if self._latest is not None:
            error, marked, frame = self._latest
            self.undecodable += [error] if error else []
            self.marked += marked
            if frame is not None:
                self.places.add(frame)
        self._latest = None

    def met(self) -> bool:
        """Whether any damage was met: then a gap in the frames' times is frames lost with it, not a variable
        frame rate."""
        return bool(self.undecodable or self.marked or self.stopped or self._latest)

    def said(self, path: str, short: str, kind: str, skipped: int, unidentified: int, places: FramePlaces,
             cut_at: str) -> str | None:
        """One sentence naming `path` for what went wrong, where, and what to do; None when nothing did. `short`
        and `kind`: how the frames read fell short of what the file's header gives (`short_of_header`);
        `skipped`: frames missing between those read, in a file whose header gives no count; `unidentified`:
        damaged blocks passed over whose stream is not known (`SkippedBlocks`); `places`: where frames were lost
        (the damaged packets' frames are added to them); `cut_at`: where the file looks cut, the frame after the
        last one read, with its time. A damaged last packet is where a file was cut: at a cut it is no damage of
        its own, and alone it says the file looks cut."""
        last_error, last_marked, last_frame = self._latest or ("", False, None)
        undecodable = self.undecodable + ([last_error] if last_error and kind != "cut" else [])
        marked = self.marked + (last_marked and kind != "cut")
        places.join(self.places)
        if last_frame is not None and kind != "cut":
            places.add(last_frame)
        parts = []
        if undecodable:
            parts.append(f"{len(undecodable)} damaged packet{'s' * (len(undecodable) != 1)} skipped ({undecodable[0]})")
        if marked:
            parts.append(f"{marked} damaged packet{'s were' if marked != 1 else ' was'} decoded as well as could be")
        if skipped:
            parts.append(f"{skipped} frame{'s are' if skipped != 1 else ' is'} missing around the damage (the "
                         "frames' times skip them)")
        if unidentified:
            parts.append(f"{unidentified} damaged block{'s' * (unidentified != 1)} whose stream cannot be told "
                         f"{'were' if unidentified != 1 else 'was'} passed over (a frame is missing for each that "
                         "was the video's)")
        if self._latest is not None and not kind and not skipped and len(undecodable) + marked == 1:
            parts, kind = ["its last packet is damaged"], "cut"  # no length to fall short of (MPEG-TS)
        if self.stopped:
            parts.append(f"stopped reading at a damaged or cut-short part ({self.stopped})")
        if short:
            parts.append(short)
        if not parts:
            return None
        cut_only = kind == "cut" and len(parts) == 1
        if places.said() and not cut_only:
            parts.append(f"the damage is at {places.said()}")
        if self.stopped or kind == "stopped":
            outcome = "the frames before it are used; copy or download it again for the rest"
        elif cut_only:
            outcome = (f"the file looks truncated (cut short) at {cut_at}; the frames before the cut are used; copy or "
                       "download it again for the rest")
        else:
            outcome = ("the frames around the damage are used (they may show blocks until the next keyframe); copy "
                       "or download it again for those frames")
        return f"{path}: {'; '.join(parts)}; {outcome}"


def no_frame_said(path: str, pictures_read: int, cut: bool) -> str:
    """Why a file gave no frame at all, in a sentence naming `path` and what to do: `cut`, it ends inside the
    first picture's data; else no picture's data was found (`pictures_read` 0), or none of what was decodes."""
    if cut:
        why = ("the file ends inside its first frame: it looks truncated (cut short, as a kill, a full disk or a copy "
               "that stopped leaves it)")
    elif not pictures_read:
        why = "no picture's data was found in it: it is cut short or damaged before its first frame ends"
    else:
        why = (f"it is damaged from its first frame on ({pictures_read} picture packet{'s' * (pictures_read != 1)} "
               "read, none decodes: the frames after a damaged first keyframe need it)")
    return f"{path}: no frame of it decodes: {why}; give the whole file, or another copy of it"


class FrameGaps:
    """The timestamps of the frames a reader gave, in ticks of the stream's time base, a frame lasting `frame`
    ticks at the file's rate: how many frames are missing between them. A demuxer can skip damaged data without
    failing a packet (Matroska's goes on at its next cluster, whose pictures decode when they begin at a
    keyframe or each is one, as MJPEG's are): a gap in a constant frame rate is then the only sign of the loss."""

    def __init__(self, frame: float, origin: int, places: FramePlaces):
        self.frame = frame
        self.origin = origin  # the tick of the file's first frame
        self.places = places  # the frames each gap skips, by number
        self.last: int | None = None  # the latest timestamp given
        self.span: tuple[int, int] | None = None  # the first and last timestamps
        self.count = 0
        self.steps = 0  # intervals of one frame
        self.gaps = 0  # intervals of two frames or more, a whole number of them
        self.skipped = 0  # the frames those gaps skip
        self.uneven = False  # an interval of no whole number of frames, or back in time: a variable frame rate

    def add(self, pts: int) -> None:
        if self.last is not None:
            step = pts - self.last
            frames = round(step / self.frame)
            # each timestamp is rounded to a tick (Matroska's to a millisecond): an interval is off by one at most
            if frames < 1 or abs(step - frames * self.frame) > 1 + frames * self.frame / 1000:
                self.uneven = True
            elif frames == 1:
                self.steps += 1
            else:
                self.gaps, self.skipped = self.gaps + 1, self.skipped + frames - 1
            if frames > 1:
                after = round((self.last - self.origin) / self.frame)
                self.places.add(after + 1, after + frames - 1)
        first, last = self.span or (pts, pts)
        self.span, self.last, self.count = (min(first, pts), max(last, pts)), pts, self.count + 1

    def missing_in_span(self) -> int:
        """The frames missing between the first and the last, whatever their intervals: where damage was met, a
        gap is frames lost with it, not a variable frame rate."""
        if self.span is None:
            return 0
        first, last = self.span
        return max(0, round((last - first) / self.frame) + 1 - self.count)

    def missing_at_gaps(self) -> int:
        """The frames the gaps skip where the rate is otherwise constant: every other interval is one frame and
        gaps are at most one interval in ten. A variable frame rate (a phone's, a screen capture's, one whose
        frames last one then three frames) says nothing."""
        return self.skipped if not self.uneven and self.gaps * 10 <= self.steps else 0


class BytesRead:
    """Where in the file the packets read so far end, of every stream, and the largest of them: a file cut
    short ends inside the packet after the last one read."""

    def __init__(self):
        self.end = 0
        self.largest = 0

    def packet(self, pos: int | None, size: int) -> None:
        if pos is not None and size:
            self.end, self.largest = max(self.end, pos + size), max(self.largest, size)


def short_of_header(read: int, header_frames: int | None, shown_s: float | None, header_s: float | None,
                    fps: float, read_bytes: BytesRead, file_bytes: int,
                    whole_length: bool | None) -> tuple[str, str, int]:
    """How the frames of a file read to its end fell short of its header: fewer frames than its count (`read`
    of `header_frames`, counted from the file's first), or an end (`shown_s`, the last frame's end in the file)
    well before the length it gives (`header_s`). With its kind: "cut", they end before the header's end where
    the file's bytes do (it looks truncated); "stopped", they end there but the file goes on past the packets
    read (`read_bytes`, of `file_bytes`: damaged data stopped the demuxer); "lost", frames are missing before
    the end. `whole_length`: the file is as long as its structure says (damage, never a cut), shorter (a cut),
    None where it does not say (then the bytes left after the packets read decide). Last, how many frames they
    fell short by (from a length: at the file's rate). ("", "", 0) when they did not fall short."""
    if header_frames and read < header_frames:
        end_s, missing = header_frames / fps, header_frames - read
        if shown_s is not None and shown_s >= end_s - 1 / fps:  # its last frame is the header's
            return (f"only {read} of the {header_frames} frames its header gives decode (the others are missing "
                    "before its end)"), "lost", missing
        short = f"ended at frame {read} of the {header_frames} its header gives"
    elif not header_frames and header_s and shown_s is not None and header_s - shown_s > max(2 / fps, 0.1):
        end_s, short = header_s, f"ended at {shown_s:.2f} s of the {header_s:.2f} s its header gives"
        missing = round((header_s - shown_s) * fps)
    else:
        return "", "", 0
    unread = file_bytes - read_bytes.end
    if whole_length is None:  # the file does not say how long it is: the bytes left after the packets read tell
        whole_length = bool(shown_s) and unread > cut_leaves(read_bytes, shown_s, end_s)
    if not whole_length:
        return short, "cut", missing
    where = f"{unread} bytes before the file's end" if unread > 0 else "though the file is as long as it should be"
    return f"{short}, {where}: the data there is damaged", "stopped", missing


def cut_leaves(read_bytes: BytesRead, shown_s: float, end_s: float) -> float:
    """How many bytes a cut can leave after the packets read (`shown_s` of the `end_s` the header gives): the
    rest of the packet it cut through, at most twice the largest read, and less than half of what the rest of
    the video takes at the rate read so far. That rate alone misjudged a file damaged soon after a first
    keyframe ten times the size of the pictures after it (a WebM that read 4 of its 100 frames): the 85% of the
    file left looked too little for the rest, and the file looked cut."""
    return min(2 * read_bytes.largest, (end_s - shown_s) * read_bytes.end / shown_s / 2)


def cut_inside_a_packet(format_name: str, file_bytes: int) -> bool:
    """Whether an MPEG-TS file ends inside a transport packet (188 bytes; 192 in a camera's M2TS), as one cut
    by bytes mostly does: it gives no count or length to fall short of, and its decoder marks the cut frame
    damaged in some runs only (as its threads happen to meet it)."""
    return format_name == "mpegts" and bool(file_bytes % 188) and bool(file_bytes % 192)


def header_seconds(stream) -> float | None:
    """The video track's length as its file's header gives it where that is a time, not a frame count:
    Matroska's and WebM's DURATION tag ("00:01:02.500000000"); None where there is none."""
    try:
        hours, minutes, seconds = stream.metadata["DURATION"].split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except (KeyError, ValueError):
        return None
