"""The text a node shows under its thumbnail: its run stats, and its first problem in lines broken between words."""

from __future__ import annotations

import textwrap

CHAR_EM = 0.46  # the mean width of a character of problem text, in font sizes (measured with DejaVu Sans)


def shortened(errors: list[str], most: int = 70) -> str:
    """A node's first problem in at most `most` characters, and how many more there are (its tooltip has all).
    A long problem is cut between words; only a word longer than the room left for it all (a path) is cut."""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    first = errors[0] if errors else ""
    if len(first) + len(more) <= most:
        return first + more
    return textwrap.wrap(first, most - len("...") - len(more))[0] + "..." + more


def problem_lines(errors: list[str], width_px: float, font_px: int) -> str:
    """`shortened(errors)` in lines about `width_px` wide, broken only between words: a word longer than that
    widens the lines up to twice it (a quoted model name), and only a longer one (a path) is broken."""
    text = shortened(errors)
    chars = max(8, int(width_px / (CHAR_EM * font_px)))
    longest = max((len(word) for word in text.split()), default=0)
    return "\n".join(textwrap.wrap(text, max(chars, min(longest, 2 * chars))))


def stats_line(node, compact: bool) -> str:
    """A node's run stats under its thumbnail; `compact` (small zooms, where text shrinks less than
    the node and so sets its width): only the time and what is not zero (the inspector has it all)."""
    drops = f"{node.drops} drop{'s' * (node.drops != 1)}"
    if not compact:
        return f"{node.ms_mean:5.1f} ms   {drops}   {node.errors} err"
    shown = [f"{node.ms_mean:.1f} ms"] + [drops] * bool(node.drops) + [f"{node.errors} err"] * bool(node.errors)
    return "  ".join(shown)
