"""The editor's look: a dark theme, a colour per port type and per process (stage)."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from ..types import PortType

UNKNOWN_PORT = (150, 150, 150)  # a type without a colour, or a port of an unknown node type
STAGE_COLOURS = [(52, 101, 164), (124, 72, 160), (32, 128, 110), (170, 104, 36),
                 (160, 58, 96), (74, 128, 52), (60, 96, 150), (140, 116, 40)]
NEUTRAL_TITLE = (64, 68, 78)
TEXT = (220, 222, 228)
DIM = (140, 146, 158)
ERROR = (255, 96, 96)
WARNING = (240, 190, 90)
OK = (120, 210, 130)
BACKGROUND = (26, 28, 33)
PANEL = (32, 34, 40)
ITEM_SPACING = (8, 6)  # between widgets, at zoom 1


def port_colour(port_type: PortType | None) -> tuple[int, int, int]:
    """The colour the type brings, else a neutral grey."""
    return port_type.colour if port_type is not None and port_type.colour is not None else UNKNOWN_PORT


def stage_colour(index: int) -> tuple[int, int, int]:
    return STAGE_COLOURS[index % len(STAGE_COLOURS)]


def lighter(colour, amount: int = 30) -> tuple[int, int, int]:
    return tuple(min(255, c + amount) for c in colour[:3])


def global_theme() -> int | str:
    with dpg.theme() as theme:
        with dpg.theme_component(dpg.mvAll):
            for target, colour in ((dpg.mvThemeCol_WindowBg, BACKGROUND), (dpg.mvThemeCol_ChildBg, PANEL),
                                   (dpg.mvThemeCol_PopupBg, (38, 40, 48)), (dpg.mvThemeCol_Text, TEXT),
                                   (dpg.mvThemeCol_TextDisabled, DIM), (dpg.mvThemeCol_Border, (52, 55, 64)),
                                   (dpg.mvThemeCol_FrameBg, (44, 47, 56)),
                                   (dpg.mvThemeCol_FrameBgHovered, (56, 60, 72)),
                                   (dpg.mvThemeCol_FrameBgActive, (64, 70, 84)),
                                   (dpg.mvThemeCol_Button, (50, 56, 70)),
                                   (dpg.mvThemeCol_ButtonHovered, (66, 96, 150)),
                                   (dpg.mvThemeCol_ButtonActive, (76, 116, 180)),
                                   (dpg.mvThemeCol_Header, (48, 54, 68)),
                                   (dpg.mvThemeCol_HeaderHovered, (62, 84, 124)),
                                   (dpg.mvThemeCol_HeaderActive, (70, 100, 150)),
                                   (dpg.mvThemeCol_SliderGrab, (90, 140, 220)),
                                   (dpg.mvThemeCol_SliderGrabActive, (120, 170, 240)),
                                   (dpg.mvThemeCol_CheckMark, (120, 180, 250)),
                                   (dpg.mvThemeCol_MenuBarBg, (34, 36, 43)),
                                   (dpg.mvThemeCol_TitleBgActive, (44, 62, 96)),
                                   (dpg.mvThemeCol_Separator, (56, 60, 70))):
                dpg.add_theme_color(target, colour)
            dpg.add_theme_style(dpg.mvStyleVar_FrameRounding, 4)
            dpg.add_theme_style(dpg.mvStyleVar_ChildRounding, 4)
            dpg.add_theme_style(dpg.mvStyleVar_WindowRounding, 6)
            dpg.add_theme_style(dpg.mvStyleVar_GrabRounding, 3)
            dpg.add_theme_style(dpg.mvStyleVar_FramePadding, 6, 4)
            dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, *ITEM_SPACING)
            dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, 8, 8)
            for target, colour in ((dpg.mvNodeCol_GridBackground, (30, 32, 38)),
                                   (dpg.mvNodeCol_GridLine, (44, 47, 55)),
                                   (dpg.mvNodeCol_NodeBackground, (44, 46, 54)),
                                   (dpg.mvNodeCol_NodeBackgroundHovered, (50, 53, 62)),
                                   (dpg.mvNodeCol_NodeBackgroundSelected, (54, 58, 70)),
                                   (dpg.mvNodeCol_NodeOutline, (78, 82, 94)),
                                   (dpg.mvNodeCol_Link, (150, 156, 170)),
                                   (dpg.mvNodeCol_BoxSelector, (70, 110, 180, 60)),
                                   (dpg.mvNodeCol_BoxSelectorOutline, (90, 140, 220)),
                                   (dpg.mvNodesCol_MiniMapBackground, (24, 26, 30, 200)),
                                   (dpg.mvNodesCol_MiniMapNodeBackground, (80, 86, 100)),
                                   (dpg.mvNodesCol_MiniMapOutline, (70, 74, 84))):
                dpg.add_theme_color(target, colour, category=dpg.mvThemeCat_Nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_NodeCornerRounding, 6, category=dpg.mvThemeCat_Nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_NodePadding, 8, 6, category=dpg.mvThemeCat_Nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_LinkThickness, 3, category=dpg.mvThemeCat_Nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_PinCircleRadius, 5, category=dpg.mvThemeCat_Nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_NodeBorderThickness, 1.5, category=dpg.mvThemeCat_Nodes)
        with dpg.theme_component(dpg.mvButton, enabled_state=False):  # looks off, and does not light up
            for target in (dpg.mvThemeCol_Button, dpg.mvThemeCol_ButtonHovered, dpg.mvThemeCol_ButtonActive):
                dpg.add_theme_color(target, (38, 40, 48))
            dpg.add_theme_color(dpg.mvThemeCol_Text, (96, 100, 112))
    return theme


def zoom_theme(zoom: float) -> int | str:
    """The canvas's spacing at a zoom level: node padding, item spacing and pins scale with the text,
    so a node's size follows the zoom."""
    with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
        dpg.add_theme_style(dpg.mvNodeStyleVar_NodePadding, 8 * zoom, 6 * zoom, category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_style(dpg.mvNodeStyleVar_PinCircleRadius, max(3.0, 5 * zoom), category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_style(dpg.mvNodeStyleVar_LinkThickness, max(1.5, 3 * zoom), category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 8 * zoom, 6 * zoom)
        dpg.add_theme_style(dpg.mvStyleVar_FramePadding, 6 * zoom, 4 * zoom)
        dpg.add_theme_color(dpg.mvNodeCol_GridBackground, (0, 0, 0, 0), category=dpg.mvThemeCat_Nodes)
    return theme


def flat_theme() -> int | str:
    """For the main window and the panels inside it: no background fills, the viewport's clear colour
    shows through. With software GL every full-window fill costs milliseconds a frame."""
    clear = (0, 0, 0, 0)
    with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
        dpg.add_theme_color(dpg.mvThemeCol_WindowBg, clear)
        dpg.add_theme_color(dpg.mvThemeCol_ChildBg, clear)
        dpg.add_theme_color(dpg.mvNodeCol_GridBackground, clear, category=dpg.mvThemeCat_Nodes)
    return theme


def node_theme(title: tuple[int, int, int], outline: tuple[int, int, int] | None = None) -> int | str:
    """A node's title bar (and outline: red for a node with errors)."""
    with dpg.theme() as theme, dpg.theme_component(dpg.mvNode):
        dpg.add_theme_color(dpg.mvNodeCol_TitleBar, title, category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_color(dpg.mvNodeCol_TitleBarHovered, lighter(title, 18), category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_color(dpg.mvNodeCol_TitleBarSelected, lighter(title, 36), category=dpg.mvThemeCat_Nodes)
        if outline is not None:
            dpg.add_theme_color(dpg.mvNodeCol_NodeOutline, outline, category=dpg.mvThemeCat_Nodes)
            dpg.add_theme_style(dpg.mvNodeStyleVar_NodeBorderThickness, 2.5, category=dpg.mvThemeCat_Nodes)
    return theme


def pin_theme(colour: tuple[int, int, int]) -> int | str:
    with dpg.theme() as theme, dpg.theme_component(dpg.mvNodeAttribute):
        dpg.add_theme_color(dpg.mvNodeCol_Pin, colour, category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_color(dpg.mvNodeCol_PinHovered, lighter(colour, 50), category=dpg.mvThemeCat_Nodes)
    return theme


def link_theme(colour: tuple[int, int, int]) -> int | str:
    with dpg.theme() as theme, dpg.theme_component(dpg.mvNodeLink):
        dpg.add_theme_color(dpg.mvNodeCol_Link, colour, category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_color(dpg.mvNodeCol_LinkHovered, lighter(colour, 50), category=dpg.mvThemeCat_Nodes)
        dpg.add_theme_color(dpg.mvNodeCol_LinkSelected, (255, 255, 255), category=dpg.mvThemeCat_Nodes)
    return theme


class ThemeCache:
    """Themes are DPG items: make each distinct one once and share it."""

    def __init__(self):
        self._themes: dict[tuple, int | str] = {}

    def get(self, kind: str, *key) -> int | str:
        if (kind, *key) not in self._themes:
            make = {"node": node_theme, "pin": pin_theme, "link": link_theme}[kind]
            self._themes[(kind, *key)] = make(*key)
        return self._themes[(kind, *key)]
