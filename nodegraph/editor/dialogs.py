"""Windows over the editor: file dialogs, the unsaved-changes and replace-file prompts, large preview viewers
and short notices (a refused link)."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg
import numpy as np

from ..params import Path as PathParam
from . import theme
from .fonts import FONT_SIZE
from .node_view import EMPTY_NOTE
from .thumbnails import VIEWER_SIZE, blank_rgba

if TYPE_CHECKING:
    from .session import RunStatus
    from .state import EditorState

NOTICE_CHARS = 72  # a line of the note
NOTICE_PAD = 8
VIEWER_HINT_IDLE = "no picture yet: run the graph (F5, or the Run button)"
VIEWER_HINT_RUNNING = "no picture yet: waiting for this node's first frame"
VIEWER_SHARE = (0.55, 0.6)  # of the canvas's width and height a new viewer takes at most


def file_dialog(title: str, on_chosen: Callable[[str], None], *, extensions: list[str] | None = None,
                folder: bool = False, start: Path | None = None, name: str = "") -> None:
    """A modal file (or folder) chooser that calls `on_chosen(path)` on OK with a file chosen, and removes itself.

    It shows the files with one of `extensions` (in either case) under one filter of them all: Dear PyGui's
    dialog keeps a name typed or clicked under such a filter as it is, where a filter of one extension put
    its own in the name's place (demo.mkv became demo.mp4), and the filter of all files gave NAME.*."""

    def chosen(sender, app_data):
        dpg.delete_item(sender)
        path = app_data.get("file_path_name") or ""
        if path and (folder or app_data.get("file_name") not in ("", ".")):  # ".": OK with no file chosen
            on_chosen(path)

    kwargs = {"default_path": str(start)} if start is not None and start.is_dir() else {}
    with dpg.file_dialog(label=title, modal=True, width=760, height=460, directory_selector=folder,
                         callback=chosen, cancel_callback=lambda s, a: dpg.delete_item(s),
                         default_filename=name or ".", **kwargs):
        if extensions and not folder:
            patterns = ",".join(dict.fromkeys([*extensions, *(extension.upper() for extension in extensions)]))
            dpg.add_file_extension(" ".join(f"*{extension}" for extension in extensions) + f"{{{patterns}}}")


def cancel_dialogs() -> bool:
    """Close the file dialogs and the questions shown, as their Cancel does (Escape): nothing is lost or replaced.
    A question that only an answer closes stays; whether one was closed."""
    shown = [window for window in dpg.get_windows() if dpg.is_item_shown(window) and (
        dpg.get_item_type(window).endswith("mvFileDialog") or is_cancellable_question(window))]
    for dialog in shown:
        dpg.delete_item(dialog)
    return bool(shown)


def is_cancellable_question(window: int | str) -> bool:
    """A question whose close button (and Escape) answers it as its Cancel does: nothing done."""
    config = dpg.get_item_configuration(window)
    return bool(config.get("modal")) and not config.get("no_close")


def browse_param(state: EditorState, node_id: str, name: str, param: PathParam) -> None:
    """A file dialog for a node's path param, opening where its file is."""
    current = state.param_value(node_id, name)
    resolved = Path(state.graph.resolve_path(current, param)) if current else None
    start = resolved.parent if resolved is not None and not param.folder else resolved
    file_dialog(f"{node_id}.{name}", lambda path: state.set_param(node_id, name, portable(state, path, param)),
                extensions=param.extensions, folder=param.folder, start=start or state.graph.base_dir,
                name=resolved.name if resolved is not None and not param.folder else "")


def portable(state: EditorState, path: str, param: PathParam) -> str:
    """A chosen file as the preset should hold it: relative to the folder it resolves against
    (the preset's for inputs, the working folder for outputs) when it lies inside it."""
    base = (state.graph.base_dir if param.role == "input" else Path.cwd()).resolve()
    chosen = Path(path).resolve()
    return chosen.relative_to(base).as_posix() if chosen.is_relative_to(base) else str(chosen)


def centred(width: int, height: int) -> list[int]:
    return [max(0, (dpg.get_viewport_client_width() - width) // 2),
            max(0, (dpg.get_viewport_client_height() - height) // 3)]


def question(title: str, width: int, said: str, asked: str, answers: dict[str, Callable[[], None] | None],
              closable: bool = True) -> int:
    """A modal question: what is the case (`said`), what is asked, and a button per answer, each closing it
    before its action (None: nothing, as Cancel). `closable`: its close button and Escape answer as Cancel does;
    not: only an answer closes it."""
    with dpg.window(label=title, modal=True, no_collapse=True, no_resize=True, autosize=True, no_close=not closable,
                    pos=centred(width, 130)) as window:
        dpg.add_text(said)
        dpg.add_text(asked, color=theme.DIM)
        dpg.add_spacer(height=6)

        def closing(action):
            def run():
                dpg.delete_item(window)
                if action is not None:
                    action()
            return run

        with dpg.group(horizontal=True):
            for label, action in answers.items():
                dpg.add_button(label=label, width=max(110, 8 * len(label)), callback=closing(action))
    return window


def confirm_unsaved(name: str, on_save: Callable[[], None], on_discard: Callable[[], None]) -> None:
    """Ask before losing unsaved changes: save, don't save, or cancel."""
    question("Unsaved changes", 380, f"{name} has unsaved changes.", "Save them first?",
              {"Save": on_save, "Don't save": on_discard, "Cancel": None})


def confirm_kept_changes(name: str, when: str, on_recover: Callable[[], None], on_discard: Callable[[], None]) -> None:
    """Offer the unsaved changes an editor kept when it ended without saving them (a crash, a kill). No Later:
    the next edit is kept in their place."""
    question("Unsaved changes kept", 460, f"An editor ended at {when} without saving its changes to {name}.",
              "Bring them back?", {"Recover": on_recover, "Discard them": on_discard}, closable=False)


def confirm_replace(path: Path, on_replace: Callable[[], None]) -> int:
    """Ask before a save replaces another file (the file dialog never does): Replace or Cancel."""
    return question("Replace file?", 420, f"{path.name} already exists in {path.parent}.",
                     "Replace it with this graph?", {"Replace": on_replace, "Cancel": None})


def confirm_link(link: Path, target: Path, *, on_target: Callable[[], None], on_replace: Callable[[], None]) -> None:
    """Ask where a save goes when the preset was opened through a link: into the file the link names (the
    link stays), or into a file of its own in the link's place."""
    question("Save through a link?", 520, f"{link.name} is a link to {target}.",
              "Save into that file, or replace the link with a file of its own?",
              {f"Save into {target.name}": on_target, "Replace the link": on_replace, "Cancel": None})


class Notice:
    """A short message near the mouse that fades out (a refused link says why). It is drawn over the window, not
    as a window: a window there took the user's next drag, and a drag from a pin it covered panned the graph away."""

    def __init__(self):
        self.layer = dpg.add_viewport_drawlist(front=True, show=False)
        self.text = ""
        self.until = 0.0
        self.rect = (0, 0, 0, 0)  # where it was last drawn: left, top, width, height

    def show(self, text: str, within: tuple[float, float, float, float] | None = None, colour=theme.ERROR,
             seconds: float = 4.0) -> None:
        """`within` (left, top, width, height): the area it stays in (the canvas, not the inspector beside it)."""
        dpg.delete_item(self.layer, children_only=True)
        lines = [line for paragraph in text.splitlines() for line in textwrap.wrap(paragraph, NOTICE_CHARS)] or [""]
        sizes = [dpg.get_text_size(line) or (len(line) * 8, 18) for line in lines]
        width = max(w for w, _ in sizes) + 2 * NOTICE_PAD
        height = sum(h for _, h in sizes) + 2 * NOTICE_PAD
        left, top, room_x, room_y = within or (0, 0, dpg.get_viewport_client_width(), dpg.get_viewport_client_height())
        x, y = dpg.get_mouse_pos(local=False)
        x = int(max(left, min(x + 16, left + room_x - width - 8)))
        y = int(max(top, min(y + 12, top + room_y - height - 8)))
        self.rect = (x, y, width, height)
        dpg.draw_rectangle((x, y), (x + width, y + height), fill=(*theme.PANEL, 240), color=(*colour, 255),
                           rounding=4, parent=self.layer)
        top = y + NOTICE_PAD
        for line, (_, line_height) in zip(lines, sizes, strict=True):
            dpg.draw_text((x + NOTICE_PAD, top), line, color=(*colour, 255), size=FONT_SIZE, parent=self.layer)
            top += line_height
        dpg.configure_item(self.layer, show=True)
        self.text = text
        self.until = time.monotonic() + seconds

    def tick(self) -> None:
        if self.text and time.monotonic() > self.until:
            self.close()

    def close(self) -> None:
        dpg.configure_item(self.layer, show=False)
        self.text = ""


class Viewer:
    """A large, resizable window showing one node's live preview."""

    def __init__(self, node_id: str, textures, on_close: Callable[[Viewer], None], offset: int,
                 canvas: tuple[float, float, float, float]):
        self.node_id = node_id
        self.buffer = blank_rgba(VIEWER_SIZE)
        self.texture = dpg.add_raw_texture(VIEWER_SIZE[0], VIEWER_SIZE[1], self.buffer,
                                           format=dpg.mvFormat_Float_rgba, parent=textures)
        room_x, room_y = dpg.get_viewport_client_width(), dpg.get_viewport_client_height()
        left, top, canvas_width, canvas_height = canvas
        # in the canvas's top right corner, at most about half its width and height, so that the graph stays in
        # sight beside it (at 1280x720 a viewer at its full size hid all of it); a drag on its corner makes it larger
        scale = max(0.1, min(1.0, (canvas_width * VIEWER_SHARE[0] - 16) / VIEWER_SIZE[0],
                             (canvas_height * VIEWER_SHARE[1] - 40) / VIEWER_SIZE[1]))
        self.size = (int(VIEWER_SIZE[0] * scale), int(VIEWER_SIZE[1] * scale))
        width, height = self.size[0] + 16, self.size[1] + 40
        # cascaded, but never past the window's edges, where its resize grip could not be reached
        x = min(left + canvas_width - width - 8 - offset, room_x - width - 8)
        y = min(top + 8 + offset, room_y - height - 8)
        with dpg.window(label=f"{node_id}: live preview", width=width, height=height,
                        pos=[max(0, int(x)), max(0, int(y))],
                        no_collapse=True, on_close=lambda: on_close(self)) as self.window:
            self.image = dpg.add_image(self.texture, width=self.size[0], height=self.size[1])
            self.hint = dpg.add_text("", color=theme.DIM, show=False)  # over the image, placed by fit()
        self.hint_text = VIEWER_HINT_IDLE
        self.hint_shown: tuple[str, int, list[int]] | None = None
        self.pictured = False

    def update(self, picture: np.ndarray) -> None:
        np.copyto(self.buffer, picture)
        if not self.pictured:
            self.pictured = True
            dpg.configure_item(self.hint, show=False)

    def follow(self, status: RunStatus) -> None:
        """Until the first picture, say why there is none: no run yet, none drawn yet, or none this node draws."""
        node = status.nodes.get(self.node_id)
        self.hint_text = EMPTY_NOTE if node is not None and node.frames else \
            VIEWER_HINT_RUNNING if status.active else VIEWER_HINT_IDLE

    def fit(self) -> None:
        """Scale the picture to the window, keeping its aspect, and put the hint in its middle."""
        width, height = dpg.get_item_rect_size(self.window)
        width, height = max(32, width - 16), max(24, height - 44)
        scale = min(width / VIEWER_SIZE[0], height / VIEWER_SIZE[1])
        size = (int(VIEWER_SIZE[0] * scale), int(VIEWER_SIZE[1] * scale))
        if size != self.size:
            self.size = size
            dpg.configure_item(self.image, width=size[0], height=size[1])
        if not self.pictured:
            self._place_hint()

    def _place_hint(self) -> None:
        x, y = dpg.get_item_pos(self.image)
        if (x, y) == (0, 0):
            return  # not drawn yet: its place is unknown
        wrap = max(32, self.size[0] - 2 * NOTICE_PAD)  # a narrow viewer cut the hint off at its edge
        text_width, text_height = dpg.get_text_size(self.hint_text, wrap_width=wrap) or (wrap, 36)
        shown = (self.hint_text, wrap, [int(x + max(0, (self.size[0] - text_width) / 2)),
                                        int(y + max(0, (self.size[1] - text_height) / 2))])
        if shown != self.hint_shown:
            self.hint_shown = shown
            dpg.set_value(self.hint, shown[0])
            dpg.configure_item(self.hint, show=True, wrap=wrap, pos=shown[2])

    def close(self) -> None:
        dpg.delete_item(self.window)
        dpg.delete_item(self.texture)
