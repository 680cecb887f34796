"""Where in a video its damage lost frames, said as a user finds them in a player: frame numbers (from 0, as the
run counts them) with their times, "frames 45-47 (0:01.50-0:01.57)", a few places and then how many more."""

from __future__ import annotations

SHOWN = 3  # places said by name; the rest are counted
KEPT = 64  # places kept apart: a file damaged all through is counted past them, not held frame by frame


class FramePlaces:
    """The frames lost at the places found, in a video of `fps` frames a second."""

    def __init__(self, fps: float):
        self.fps = fps
        self._spans: list[tuple[int, int]] = []  # first and last frame lost at each place, overlapping ones joined
        self._more = 0  # places found past the KEPT

    def add(self, first: int, last: int | None = None) -> None:
        """Frames `first` to `last` (only `first` where None) were lost."""
        last = first if last is None else last
        for index, (start, end) in enumerate(self._spans):
            if first <= end + 1 and last >= start - 1:
                self._spans[index] = (min(start, first), max(end, last))
                return
        if len(self._spans) < KEPT:
            self._spans.append((first, last))
        else:
            self._more += 1

    def join(self, other: FramePlaces) -> None:
        """Add the places `other` found."""
        for first, last in other._spans:
            self.add(first, last)
        self._more += other._more

    def said(self) -> str:
        """"frames 45-47 (0:01.50-0:01.57), frame 90 (0:03.00) and 4 more places", "" where none were found."""
        spans = sorted(self._spans)
        if not spans:
            return ""
        named = [self._span(first, last) for first, last in spans[:SHOWN]]
        more = len(spans) - SHOWN + self._more
        listed = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 and more <= 0 else ", ".join(named)
        if more > 0:
            listed += f" and {more} more place{'s' * (more != 1)}"
        return listed

    def _span(self, first: int, last: int) -> str:
        if first == last:
            return f"frame {first} ({clock(first / self.fps)})"
        return f"frames {first}-{last} ({clock(first / self.fps)}-{clock(last / self.fps)})"


def clock(seconds: float) -> str:
    """A time as a player shows it, to a hundredth: 0:01.50, 1:02:03.25."""
    hundredths = round(seconds * 100)
    minutes, centis = divmod(hundredths, 6000)
    hours, minutes = divmod(minutes, 60)
    shown = f"{minutes:02d}:{centis / 100:05.2f}" if hours else f"{minutes}:{centis / 100:05.2f}"
    return f"{hours}:{shown}" if hours else shown
