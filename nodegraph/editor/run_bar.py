"""The run bar: run/stop, realtime/lossless, the run's figures, and which process runs which nodes."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from . import theme
from .session import RunStatus
from .state import EditorState
from .word_wrap import row_width

MODES = ["auto", "realtime", "lossless"]
EDGE = 16  # px the figures and the legend keep from the window's right edge
LEGEND_SPACING = 14  # px between the legend's texts


class RunBar:
    """Run/stop, realtime/lossless, the run's fps and latency, and which process runs which nodes."""

    def __init__(self, state: EditorState, parent, *, on_run, on_stop, on_plan_colours, on_minimap):
        self.state = state
        with dpg.group(parent=parent, horizontal=True, horizontal_spacing=10):
            self.run_button = dpg.add_button(label="  Run  (F5)  ", callback=lambda: on_run())
            self.stop_button = dpg.add_button(label="  Stop (Shift+F5)  ", callback=lambda: on_stop(),
                                              enabled=False)
            dpg.add_text("mode", color=theme.DIM)
            dpg.add_combo(MODES, default_value="auto", width=100,
                          callback=lambda s, a: setattr(state, "mode", None if a == "auto" else a))
            loop = dpg.add_checkbox(label="loop sources", default_value=state.loop,
                                    callback=lambda s, a: setattr(state, "loop", a))
            with dpg.tooltip(loop):
                dpg.add_text("file sources start again at the end and play at their own frame rate until Stop\n"
                             "(a source whose loop or realtime the preset sets keeps that value)")
            dpg.add_checkbox(label="plan colours", default_value=True, callback=lambda s, a: on_plan_colours(a))
            dpg.add_checkbox(label="minimap", default_value=True, callback=lambda s, a: on_minimap(a))
            dpg.add_spacer(width=12)
            self.status = dpg.add_text("idle", color=theme.DIM)
            self.figures = dpg.add_text("", color=theme.TEXT)
            with dpg.tooltip(self.figures):
                self.figures_tip = dpg.add_text("")  # all of them, where the row has room for fewer
            self.activity = dpg.add_text("", color=theme.WARNING)  # besides a run: models being fetched
        with dpg.group(parent=parent, horizontal=True, horizontal_spacing=LEGEND_SPACING) as self.legend:
            pass
        self._legend_key = None
        self._shown = None

    def _show_figures(self, status: RunStatus, fps: float | None, width: int) -> None:
        """The run's figures, all where the row has room, else the fewer that fit (the tooltip has them all): a
        1024 px window cut 'p95 ... ms   60 frames' off at its edge."""
        rate = "" if fps is None else f"{fps:6.1f} fps   "  # one frame: no interval to time
        frames = f"{status.frames} frame{'s' * (status.frames != 1)}"
        p50, p95 = status.latency_p50, status.latency_p95
        forms = [f"{rate}latency p50 {p50:6.1f} ms  p95 {p95:6.1f} ms   {frames}",
                 f"{rate}p50 {p50:.0f} ms  p95 {p95:.0f} ms  {frames}", f"{rate.strip()}  {frames}".strip()]
        status_size = dpg.get_text_size(status.state)
        room = width - EDGE - dpg.get_item_rect_min(self.status)[0] - (status_size or (0,))[0] - 10
        sizes = [dpg.get_text_size(form) for form in forms]
        shown = next((form for form, size in zip(forms, sizes, strict=True)
                      if None in (status_size, size) or size[0] <= room), forms[-1])
        dpg.set_value(self.figures, shown)
        dpg.set_value(self.figures_tip, forms[0])

    @staticmethod
    def _legend_fits(texts: list[str], width: int) -> bool | None:
        """Whether `texts`, side by side in the legend's row, fit the window `width` (None: not measurable yet)."""
        needed = row_width(texts, LEGEND_SPACING)
        return None if needed is None else needed <= width - 2 * EDGE

    def show(self, status: RunStatus, stages: list[tuple[str, list[str]]]) -> None:
        fps = None if status.fps is None else round(status.fps, 1)
        shown = (status.state, status.frames, fps, round(status.latency_p50, 1),
                 round(status.latency_p95, 1), status.message)
        width = dpg.get_viewport_client_width()
        if (*shown, width) != self._shown:
            self._shown = (*shown, width)
            active = status.active
            dpg.configure_item(self.run_button, enabled=not active)
            dpg.configure_item(self.stop_button, enabled=active)
            colour = {"running": theme.OK, "starting": theme.WARNING, "failed": theme.ERROR}.get(status.state,
                                                                                                 theme.DIM)
            dpg.set_value(self.status, status.state)
            dpg.configure_item(self.status, color=colour)
            if status.state == "idle" or not (status.active or status.frames):  # no figures to show
                dpg.set_value(self.figures, "")
            else:
                self._show_figures(status, fps, width)
        key = (tuple((name, tuple(nodes)) for name, nodes in stages), tuple(sorted(status.pids.items())), width)
        if key != self._legend_key:
            self._legend_key = key
            dpg.delete_item(self.legend, children_only=True)
            dpg.add_text("processes:", color=theme.DIM, parent=self.legend)
            if not stages:
                dpg.add_text("no plan until the graph's problems are fixed", color=theme.DIM, parent=self.legend)
            names = [f"[{i + 1}] {name}" + (f" (pid {status.pids[name]})" if name in status.pids else "")
                     for i, (name, _) in enumerate(stages)]
            full = [f"{label}: {', '.join(nodes)}" for label, (_, nodes) in zip(names, stages, strict=True)]
            fits = self._legend_fits(["processes:", *full], width)
            if fits is None:  # no font measures before the first frame: shown whole, measured at the next show
                self._legend_key, fits = None, True
            for i, (label, (_, nodes)) in enumerate(zip(names, stages, strict=True)):  # else node counts, hovered: all
                text = dpg.add_text(full[i] if fits else f"{label}: {len(nodes)} node{'s' * (len(nodes) != 1)}",
                                    color=theme.lighter(theme.stage_colour(i), 50), parent=self.legend)
                if not fits:
                    with dpg.tooltip(text):  # the legend's child: made again with it
                        dpg.add_text(full[i])
