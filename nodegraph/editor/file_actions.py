"""The editor window's file actions: open, save, save as, the unsaved-changes question before a graph is
replaced, and the offer of unsaved changes an earlier editor kept (recovery.py)."""

from __future__ import annotations

import time
from pathlib import Path

from .dialogs import confirm_kept_changes, confirm_link, confirm_replace, confirm_unsaved, file_dialog


class FileActions:
    """Part of EditorApp: `state` is its EditorState, `canvas` and `view` its canvas and view."""

    def guard(self, action) -> None:
        """Run `action`, first asking what to do with unsaved changes."""
        if not self.state.dirty:
            action()
            return
        name = self.state.path.name if self.state.path else "The new graph"

        def save_then():
            self.save(then=action)

        def discard_then():
            self.state.recovery.discard(self.state.path)  # asked, the user let them go
            action()

        confirm_unsaved(name, save_then, discard_then)

    def open_dialog(self) -> None:
        start = self.state.path.parent if self.state.path else Path.cwd()
        self.guard(lambda: file_dialog("Open preset", self.open, extensions=[".json"], start=start))

    def open(self, path: str) -> None:
        if self.state.open(path):
            self.canvas.collapsed.clear()
            self.view.request_fit(allow_relayout=True)

    def save(self, then=None) -> None:
        """Save to the file open (as a new file when there is none); one opened through a link asks whether
        to save into the file it names, or to make it a file of its own."""
        path = self.state.path
        if path is None:
            self.save_as(then=then)
            return

        def save(target: Path | None = None) -> None:
            if self.state.save(target) and then is not None:
                then()

        if path.is_symlink():
            confirm_link(path, path.resolve(), on_target=lambda: save(path.resolve()), on_replace=save)
        else:
            save()

    def save_as(self, then=None) -> None:
        start = self.state.path.parent if self.state.path else Path.cwd()
        file_dialog("Save preset as", lambda path: self.save_to(path, then), extensions=[".json"], start=start,
                    name=self.state.path.name if self.state.path else "untitled.json")

    def save_to(self, path: str, then=None) -> None:
        """Save as `path` (the file dialog's choice), first asking before replacing another file."""
        if not path.lower().endswith(".json"):
            path += ".json"

        def save() -> None:
            if self.state.save(path) and then is not None:
                then()

        if self.state.replaces_another_file(path):
            confirm_replace(Path(path), save)
        else:
            save()

    def offer_kept_changes(self) -> None:
        """Ask whether to bring back the unsaved changes to the graph just opened that an editor kept when it
        ended without saving them: Recover, or Discard them."""
        kept, path = self.state.kept_changes, self.state.path
        self.state.kept_changes = None
        name = path.name if path else "a new graph"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(kept.kept_at))

        def recover() -> None:
            self.state.recover(kept.graph)
            self.state.recovery.take(kept, path)

        confirm_kept_changes(name, when, recover, lambda: self.state.recovery.drop(kept))
