"""The text a node shows under its thumbnail: its run stats, and its first problem in lines broken between words."""

from __future__ import annotations

import textwrap

CHAR_EM = 0.46  # the mean width of a character of problem text, in font sizes (measured with DejaVu Sans)
OVERVIEW_LINES = 2  # a node's problem at the smallest zoom: the tooltip has it all


def shortened(errors: list[str], most: int = 70) -> str:
    """A node's first problem in at most `most` characters, and how many more there are (its tooltip has all).
    A long problem is cut between words; only a word longer than the room left for it all (a path) is cut."""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    first = errors[0] if errors else ""
    if len(first) + len(more) <= most:
        return first + more
    return textwrap.wrap(first, most - len("...") - len(more))[0] + "..." + more


def problem_lines(errors: list[str], width_px: float, font_px: int, most_lines: int | None = None) -> str:
    """`shortened(errors)` in lines about `width_px` wide, broken only between words: a word longer than that
    widens the lines up to twice it (a quoted model name), and only a longer one (a path) is broken.
    `most_lines` (the smallest zoom, for a graph that fits no larger one: the font no longer shrinks with the node,
    and a problem's lines would make it the tallest of all): the first problem in at most that many lines, twice
    as wide, ended with "..." where cut (the tooltip has it all, and the others)."""
    chars = max(8, int(width_px / (CHAR_EM * font_px)))
    if most_lines is not None:
        first = errors[0] if errors else ""
        longest = max((len(word) for word in first.split()), default=0)
        width = max(2 * chars, min(longest + len("..."), 3 * chars))  # room for "..." after a long word
        return "\n".join(textwrap.wrap(first, width, max_lines=most_lines, placeholder="..."))
    text = shortened(errors)
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
