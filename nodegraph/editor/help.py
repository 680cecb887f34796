"""Every control of the editor, in one list: the Help window shows it and the README's table
is written from it (`python -m nodegraph.editor.help` prints that table)."""

from __future__ import annotations

CONTROLS = [
    ("View", "F, or View > Fit to view", "show the whole graph, at the largest zoom that fits"),
    ("View", "+ / -, or View > Zoom in / out", "scale nodes, thumbnails, text and spacing"),
    ("View", "arrow keys, or middle-drag on the canvas", "pan"),
    ("View", "click or drag in the minimap", "move the view there"),
    ("View", "C, or right-click > Collapse", "hide the selected nodes' thumbnails (C again shows them)"),
    ("View", "right-click a node, or the canvas; Escape closes the menu", "that node's menu, or the canvas's"),
    ("View", "View > Auto layout", "lay the graph out left to right, shaped like the canvas"),
    ("View", "Tab, or View > Palette and inspector", "hide or show the side panels (the canvas takes their room)"),
    ("View", "double-click a node", "open a live viewer of its output"),
    ("Edit", "drag from the palette, or right-click > Add node", "add a node"),
    ("Edit", "drag from an output pin to an input pin", "link two ports (types must match)"),
    ("Edit", "Ctrl+click a link and drag it away", "remove the link"),
    ("Edit", "click, Ctrl+click, or drag a box on empty canvas", "select nodes"),
    ("Edit", "Delete", "delete the selected nodes and links"),
    ("Edit", "Ctrl+Z / Ctrl+Y (or Ctrl+Shift+Z)", "undo / redo"),
    ("File", "Ctrl+N / Ctrl+O / Ctrl+S / Ctrl+Shift+S",
     "new, open, save, save as (asks before replacing another file)"),
    ("File", "Escape, in a file dialog or a question", "cancel it: nothing is opened, saved or replaced"),
    ("Run", "F5 / Shift+F5", "run / stop (file sources loop until Stop)"),
    ("Help", "? or F1, or Help > Controls", "this list"),
]


def markdown_table() -> str:
    rows = ["| | Control | Does |", "|---|---|---|"]
    rows += [f"| {group} | {keys} | {what} |" for group, keys, what in CONTROLS]
    return "\n".join(rows)


class HelpWindow:
    """The list of controls in a window; `toggle()` opens or closes it."""

    def __init__(self):
        self.window = None

    def toggle(self) -> None:
        import dearpygui.dearpygui as dpg

        from .dialogs import centred

        if self.window is not None:
            dpg.delete_item(self.window)
            self.window = None
            return
        with dpg.window(label="Controls", autosize=True, pos=centred(770, 520),  # about its size
                        on_close=lambda: self.toggle()) as self.window:
            with dpg.table(header_row=True, borders_innerH=True, policy=dpg.mvTable_SizingFixedFit):
                for name in ("", "Control", "Does"):
                    dpg.add_table_column(label=name)
                for group, keys, what in CONTROLS:
                    with dpg.table_row():
                        dpg.add_text(group)
                        dpg.add_text(keys)
                        dpg.add_text(what)


if __name__ == "__main__":
    print(markdown_table())
