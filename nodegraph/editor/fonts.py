"""The editor's fonts: the UI's, and one per zoom level for the canvas (Dear PyGui scales no text
itself, and a font rasterised at the size shown stays sharp)."""

from __future__ import annotations

import os

import dearpygui.dearpygui as dpg

FONT_SIZE = 15
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf",
         "C:/Windows/Fonts/segoeui.ttf", "/System/Library/Fonts/Supplemental/Arial.ttf",
         "/Library/Fonts/Arial.ttf"]


def font_px(zoom: float) -> int:
    """The size of the canvas's font at a zoom level."""
    return max(8, round(FONT_SIZE * zoom))


def load_fonts(zooms) -> dict[float, int]:
    """Bind the UI font and return a canvas font per zoom; empty when no font file is found
    (then Dear PyGui's own font is used at every zoom)."""
    path = next((p for p in FONTS if os.path.exists(p)), None)
    if path is None:
        return {}
    with dpg.font_registry():
        by_zoom = {zoom: dpg.add_font(path, font_px(zoom)) for zoom in zooms}
    dpg.bind_font(by_zoom[1.0])  # the zoom levels include 1
    return by_zoom
