"""The Dear PyGui editor window: menus, run bar, palette, canvas, inspector and log, drawn from an
`EditorState`, with a render loop at up to 60 fps that never waits on the pipeline."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from functools import partial

import dearpygui.dearpygui as dpg
import numpy as np

from ..errors import EXIT_OK
from ..execution import is_picture
from . import theme
from .canvas import Canvas
from .dialogs import Notice, Viewer, browse_param
from .file_actions import FileActions
from .fonts import load_fonts
from .help import HelpWindow
from .menus import menu_bar, open_context_menu, shortcut
from .model_fetching import ModelFetching
from .panels import Inspector, LogPanel, Palette
from .run_bar import RunBar
from .state import EditorState
from .thumbnails import THUMB_SIZE, VIEWER_SIZE, PreviewPump, fit_rgba
from .view import ZOOMS, Navigator

log = logging.getLogger("nodegraph")

FPS_CAP = 60.0  # while the user is doing something
RUNNING_FPS = 15.0  # otherwise, while a run's previews change
IDLE_FPS = 10.0
RUN_UI_SHARE = 0.5  # during a run the window takes at most this share of a core, however fast the user acts
INPUT_GRACE_S = 1.5  # full rate for this long after the last mouse or key event
STATUS_PERIOD_S = 0.1  # run stats are read 10 times a second
STOP_WAIT_S = 15.0  # at close, how long a run may take to stop cleanly
STOP_NOW_WAIT_S = 10.0  # then, how long it may take to stop without flushing (the runtime's limit is ~8 s)
LOG_HEIGHT = 96  # four lines: at 1280x800 the canvas needs the height
# The palette's and the inspector's share of the window's width, and their least and most px: at 1280 px they
# leave the canvas 75 px more than fixed widths did (a graph of seven columns fits at a zoom one step larger)
PALETTE_SHARE, PALETTE_WIDTHS = 0.12, (150, 180)
INSPECTOR_SHARE, INSPECTOR_WIDTHS = 0.2, (240, 300)


def panel_widths(window_width: int) -> tuple[int, int]:
    """The palette's and the inspector's widths in a window `window_width` px wide."""
    return (max(PALETTE_WIDTHS[0], min(PALETTE_WIDTHS[1], round(PALETTE_SHARE * window_width))),
            max(INSPECTOR_WIDTHS[0], min(INSPECTOR_WIDTHS[1], round(INSPECTOR_SHARE * window_width))))


class EditorApp(FileActions):
    def __init__(self, state: EditorState, *, width: int = 1280, height: int = 800):
        self.state = state
        self.size = (width, height)
        self.last_input = 0.0
        self.full_rate = False  # render at the cap even without input (scripted runs)
        self.frame_ms: deque[float] = deque(maxlen=100_000)  # work + render time of each frame
        self.intervals_ms: deque[float] = deque(maxlen=100_000)  # time between frame starts
        self._frame_cost = 0.0  # seconds a frame takes, smoothed
        self.exit_code = EXIT_OK
        self.viewers: list[Viewer] = []
        self.quit = False
        self._drawn_revision = -1
        self._canvas_selection: tuple[str, ...] = ()
        self._next_status = 0.0
        self._run_state = "idle"
        self._stages: list = []
        self._session = None
        self._title = ""
        self._recent_shown: list[str] | None = None
        self.popup = None  # the right-click menu while it is open
        self.script: Iterator | None = None
        self.pump = PreviewPump()
        self._faults: set[str] = set()  # the editor's own faults already logged

    # -- building the window ----------------------------------------------------------

    def build(self) -> None:
        dpg.create_context()
        dpg.configure_app(manual_callback_management=True)
        fonts = load_fonts(ZOOMS)
        self.textures = dpg.add_texture_registry()
        self.themes = theme.ThemeCache()
        dpg.bind_theme(theme.global_theme())
        # Not a "primary window": Dear PyGui fills that one opaque, and with software GL every
        # full-window fill costs milliseconds a frame. This one draws no background at all.
        with dpg.window(pos=[0, 0], width=self.size[0], height=self.size[1], no_title_bar=True, no_move=True,
                        no_resize=True, no_collapse=True, no_background=True, no_scrollbar=True,
                        no_bring_to_front_on_focus=True, menubar=True) as self.root:
            menu_bar(self)
            self.runbar = RunBar(self.state, self.root, on_run=self.run_pipeline, on_stop=self.stop_pipeline,
                                 on_plan_colours=self._plan_colours, on_minimap=self._minimap)
            with dpg.child_window(height=-(LOG_HEIGHT + 6), border=False, no_scrollbar=True):
                with dpg.group(horizontal=True, horizontal_spacing=6) as body:
                    palette_width, inspector_width = panel_widths(self.size[0])
                    self.palette = Palette(self.state, body, self.add_node, palette_width)
                    self.canvas = Canvas(self.state, body, self.textures, self.themes,
                                         on_refused=self._refused, inspector_width=inspector_width)
                    self.view = Navigator(self.canvas, fonts)
                    self.inspector = Inspector(self.state, body, partial(browse_param, self.state))
            self.log_panel = LogPanel(self.state, self.root, LOG_HEIGHT)
        self.models = ModelFetching(self.state, self.fetch_item, self.runbar.activity)
        dpg.bind_item_theme(self.root, theme.flat_theme())
        self.notice = Notice()
        self.help = HelpWindow()
        with dpg.handler_registry():
            dpg.add_key_press_handler(callback=self._on_key)
            dpg.add_mouse_move_handler(callback=self._on_input)
            dpg.add_mouse_wheel_handler(callback=self._on_input)
            dpg.add_mouse_click_handler(button=dpg.mvMouseButton_Right, callback=self._on_right_click)
            dpg.add_mouse_double_click_handler(button=dpg.mvMouseButton_Left, callback=self._on_double_click)
            dpg.add_mouse_release_handler(button=dpg.mvMouseButton_Left, callback=self._on_release)
            dpg.add_mouse_release_handler(button=dpg.mvMouseButton_Middle, callback=self._on_input)
        dpg.create_viewport(title=self.state.title, width=self.size[0], height=self.size[1],
                            x_pos=0, y_pos=0, clear_color=(*theme.BACKGROUND, 255), disable_close=True, vsync=False)
        dpg.set_exit_callback(lambda: self.guard(self.request_quit))
        dpg.setup_dearpygui()
        dpg.show_viewport()
        dpg.set_viewport_resize_callback(self._fill_viewport)
        self._fill_viewport()
        self.view.request_fit(allow_relayout=True)
        self.inspector.show(None)
        self.pump.start()

    def _fill_viewport(self, *args) -> None:
        dpg.configure_item(self.root, width=dpg.get_viewport_client_width(),
                           height=dpg.get_viewport_client_height())
        self._size_panels()
        self.view.request_fit()  # a window made smaller cut the graph off, one made bigger left it in a corner

    # -- actions ------------------------------------------------------------------------

    def add_node(self, type_name: str) -> None:
        """A node added by a click on its type: where the view has room, else under the graph, then all shown."""
        spot = self.canvas.free_spot()
        if spot is None:
            spot = self.canvas.below_all()
            self.view.request_fit()
        self.state.add_node(type_name, spot)

    def delete_selection(self) -> None:
        nodes, links = self.canvas.selected()
        self.state.delete(nodes, links)

    def run_pipeline(self) -> None:
        self.state.start_run()

    def stop_pipeline(self) -> None:
        self.state.stop_run()

    def open_viewer(self, node_id: str) -> None:
        offset = 24 * (len(self.viewers) % 8)
        viewer = Viewer(node_id, self.textures, self._close_viewer, offset, self.canvas.screen_rect())
        self.viewers.append(viewer)
        # the pump brings only new pictures: after a run, the node's last one is the one to show
        picture = self.state.session.preview(node_id) if self.state.session is not None else None
        if is_picture(picture):
            viewer.update(fit_rgba(picture, VIEWER_SIZE))

    def _close_viewer(self, viewer: Viewer) -> None:
        self.viewers.remove(viewer)
        viewer.close()

    def request_quit(self) -> None:
        self.quit = True

    def _refused(self, message: str) -> None:
        self.notice.show(message, within=self.canvas.screen_rect())

    def _plan_colours(self, on: bool) -> None:
        self.canvas.plan_colours = on
        self.canvas.set_stages(self._stages)

    def show_panels(self, on: bool) -> None:
        """Show or hide the palette and the inspector; the canvas takes their room, and the graph is fitted again."""
        dpg.configure_item(self.palette.window, show=on)
        dpg.configure_item(self.inspector.window, show=on)
        self._size_panels()
        self.view.request_fit()

    def _size_panels(self) -> None:
        """The palette and the inspector at their share of the window's width; the canvas takes the rest."""
        palette_width, inspector_width = panel_widths(dpg.get_viewport_client_width())
        dpg.configure_item(self.palette.window, width=palette_width)
        shown = dpg.get_item_configuration(self.inspector.window)["show"]
        dpg.configure_item(self.canvas.window, width=-inspector_width if shown else -1)

    def _minimap(self, on: bool) -> None:
        """Show or hide the minimap; the graph is fitted again, clear of it or into the room it leaves."""
        dpg.configure_item(self.canvas.editor, minimap=on)
        self.view.minimap = on
        self.view.request_fit()

    # -- input --------------------------------------------------------------------------

    def _on_input(self, *args) -> None:
        self.last_input = time.monotonic()

    def _on_key(self, sender, key) -> None:
        self._on_input()
        shortcut(self, key)

    def _on_double_click(self, sender, app_data) -> None:
        self._on_input()
        node_id = self.canvas.hovered_node()
        if node_id is not None:
            self.open_viewer(node_id)

    def _on_release(self, sender, app_data) -> None:
        self._on_input()
        self.state.move_nodes(self.canvas.positions())

    def _on_right_click(self, sender, app_data) -> None:
        self._on_input()
        if self.canvas.under_mouse():
            open_context_menu(self)

    # -- the loop -----------------------------------------------------------------------

    def tick(self) -> None:
        """One frame's work besides rendering: follow the state, read the run, copy previews, keep unsaved
        changes on disk."""
        state = self.state
        state.recovery.keep(state)
        if state.kept_changes is not None and self.script is None:  # a scripted screenshot asks nothing
            self.offer_kept_changes()
        if state.revision != self._drawn_revision:
            self._drawn_revision = state.revision
            self._next_status = 0.0  # status text in this frame: it changes the new nodes' sizes
            self.canvas.sync()
            self._canvas_selection = tuple(self.canvas.selected()[0])
            self._stages = state.stages()
            self.canvas.set_stages(self._stages)
            for viewer in [v for v in self.viewers if v.node_id not in state.graph.nodes]:
                self._close_viewer(viewer)  # its node was deleted
        self.canvas.align_outputs()
        selection = self.canvas.selected()[0]
        if tuple(selection) != self._canvas_selection:
            self._canvas_selection = tuple(selection)
            state.selection = set(selection)
        wanted = next(iter(state.selection)) if len(state.selection) == 1 else None
        if wanted != self.inspector.node_id:
            self.inspector.show(wanted)

        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + STATUS_PERIOD_S
            status = state.poll()
            if state.session is not self._session:
                self._session = state.session
                self.pump.source(state.session.preview if state.session is not None else None)
            if status.state != self._run_state:  # a run's plan replaces the planned one once it starts
                if not status.active and state.session is not None:
                    self.pump.poll_once()  # the run's last pictures; then nothing new will come
                    self.pump.source(None)
                self._run_state = status.state
                self._stages = state.stages()
                self.canvas.set_stages(self._stages)
            self.runbar.show(status, self._stages)
            for viewer in self.viewers:
                viewer.follow(status)
            self.canvas.show_status(status, state.problems() if not status.active else {},
                                    pictured=set(self.pump.updates))
            self.inspector.refresh(status)
            self.palette.refresh()
            title = state.title
            if title != self._title:
                self._title = title
                dpg.set_viewport_title(title)
            recent = state.recent.existing()
            if recent != self._recent_shown:
                self._recent_shown = recent
                dpg.delete_item(self.recent_menu, children_only=True)
                for path in recent:
                    dpg.add_menu_item(label=path, parent=self.recent_menu,
                                      callback=lambda s, a, u: self.guard(lambda: self.open(u)), user_data=path)
        self.models.tick()
        self.log_panel.refresh()
        self._copy_previews()
        for viewer in self.viewers:
            viewer.fit()
        self.notice.tick()
        self.view.tick()

    def _copy_previews(self) -> None:
        for (node_id, size), picture in self.pump.take().items():
            if size == THUMB_SIZE and node_id in self.canvas.nodes:
                np.copyto(self.canvas.nodes[node_id].buffer, picture)
            elif size == VIEWER_SIZE:
                for viewer in self.viewers:
                    if viewer.node_id == node_id:
                        viewer.update(picture)
        wanted = {node_id: (THUMB_SIZE,) for node_id in self.canvas.nodes}
        for viewer in self.viewers:
            if viewer.node_id in wanted:
                wanted[viewer.node_id] = (THUMB_SIZE, VIEWER_SIZE)
        self.pump.want(wanted)

    def frame(self) -> None:
        self._guarded(self.tick)
        if self.script is not None:  # a scripted run's (screenshots): its faults are the command's
            try:
                next(self.script)
            except StopIteration:
                self.script = None
                self.quit = True
        self._guarded(lambda: dpg.run_callbacks(dpg.get_callback_queue()))
        dpg.render_dearpygui_frame()

    def _guarded(self, work) -> None:
        """Run `work`; a fault in it is logged (once per message) and the window stays, with the graph and
        its unsaved changes, where it closed at once."""
        try:
            work()
        except Exception as e:
            message = f"{type(e).__name__}: {e}"
            if message not in self._faults:
                self._faults.add(message)
                self.state.say(f"the editor failed ({message}); your graph is kept: save it, and please report "
                               "this", "error")
                log.error("the editor failed", exc_info=True)

    def period(self) -> float:
        """Seconds per frame: 60 fps while the user acts, the previews' 15 fps during a run, 10 fps
        otherwise. Software GL renders a big window slowly, and a frame not drawn leaves its CPU to
        the pipeline: during a run the window never takes more than `RUN_UI_SHARE` of a core (with
        a GPU a frame takes a few ms and this changes nothing; on the CPU, about 30 fps)."""
        if self.full_rate or self.view.fitting or time.monotonic() - self.last_input < INPUT_GRACE_S \
                or any(dpg.is_mouse_button_down(button) for button in (0, 1, 2)):
            period = 1.0 / FPS_CAP
        else:
            period = 1.0 / (RUNNING_FPS if self.state.running or self.viewers else IDLE_FPS)
        if self.state.running:
            period = max(period, self._frame_cost / RUN_UI_SHARE)
        return period

    def run(self) -> int:
        """The render loop; returns the exit code."""
        last = None
        try:
            while dpg.is_dearpygui_running() and not self.quit:
                start = time.perf_counter()
                if last is not None:
                    self.intervals_ms.append((start - last) * 1000.0)
                last = start
                self.frame()
                spent = time.perf_counter() - start
                self.frame_ms.append(spent * 1000.0)
                # one slow frame (a run starting, a screenshot) must not slow the UI for seconds after
                self._frame_cost += 0.1 * (min(spent, 0.1) - self._frame_cost)
                period = self.period()
                if spent < period:
                    time.sleep(period - spent)
        except BaseException:  # a Ctrl-C in its terminal, a fault: the last edits are kept too
            self.state.recovery.keep(self.state, now=True)
            raise
        finally:
            self.close()
        return self.exit_code

    def close(self) -> None:
        session = self.state.session
        if session is not None and session.alive:
            session.stop()
            if not session.join(STOP_WAIT_S):
                log.warning("the run did not stop within %.0f s; stopping it without flushing", STOP_WAIT_S)
                session.stop(now=True)
                if not session.join(STOP_NOW_WAIT_S):
                    log.error("the run still did not stop; its processes end with the editor")
        self.models.close()
        self.pump.close()
        dpg.destroy_context()
