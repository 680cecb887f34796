"""Text in a panel or a tooltip broken into lines between words at its width: Dear PyGui's own wrap breaks inside
words, after a '.' or a '/' ('(arcface_w600k_r50.' / 'onnx)', '/root/.' / 'local/share')."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from .theme import ITEM_SPACING

SLACK_PX = 1  # Dear PyGui breaks a line as wide as its wrap width: keep under it


def between_words(text: str, width_px: float) -> str:
    """`text` in lines at most `width_px` wide in the UI font, broken at spaces only. A word wider than a line
    by itself gets a line of its own, which Dear PyGui's wrap (left on) breaks: a long path, at its '/'.
    Unchanged before the first frame, when no text can be measured yet."""
    if width_px <= 0 or dpg.get_text_size(text) is None:
        return text
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            longer = f"{line} {word}" if line else word
            if line and dpg.get_text_size(longer)[0] > width_px - SLACK_PX:
                lines.append(line)
                line = word
            else:
                line = longer
        lines.append(line)
    return "\n".join(lines)


def row_width(texts, spacing: float, font: int = 0) -> float | None:
    """How wide `texts` are side by side, `spacing` px apart, in `font` (0: the UI font); None before the first
    frame, when no text can be measured yet."""
    sizes = [dpg.get_text_size(text, font=font) for text in texts]
    if None in sizes:
        return None
    return sum(size[0] for size in sizes) + spacing * (len(sizes) - 1)


class WrappedTexts:
    """Texts kept broken between words: at the width of `window` as it changes (the window resized, its scrollbar
    shown), less that of `beside` (drawn left of each text on its line: the log's time stamps); or at a fixed
    `width` (a tooltip's, which is as wide as its text)."""

    def __init__(self, window: int | str | None = None, *, beside: str = "", width: float = 0.0):
        self.window = window
        self.beside = beside
        self.fixed_width = width
        self.texts: dict[int | str, str] = {}  # item: its whole text
        self.width = 0.0  # as broken; 0 before the first frame, when no text can be measured

    def add(self, text: str, **kwargs) -> int | str:
        """A text item; Dear PyGui's own wrap, at the same width, breaks only a word wider than a line."""
        item = dpg.add_text(between_words(text, self.width), wrap=self.fixed_width or 0, **kwargs)
        self.texts[item] = text
        return item

    def set(self, item: int | str, text: str) -> None:
        self.texts[item] = text
        dpg.set_value(item, between_words(text, self.width))

    def follow(self) -> bool:
        """Break the texts again where the width changed; returns whether it did (their heights may differ)."""
        self.texts = {item: text for item, text in self.texts.items() if dpg.does_item_exist(item)}
        beside = dpg.get_text_size(self.beside or " ")
        if beside is None:
            return False
        width = self.fixed_width or \
            dpg.get_available_content_region(self.window)[0] - (beside[0] + ITEM_SPACING[0] if self.beside else 0)
        if width <= 0 or width == self.width:
            return False
        self.width = width
        for item, text in self.texts.items():
            dpg.set_value(item, between_words(text, width))
        return True
