"""File > Fetch missing models: the catalogue models the open graph names and no model folder holds, offered with
their sizes and licences, then downloaded one by one (modelhub.fetch: HTTPS, resumable, checked by sha256 before
it is moved into place) on a thread of their own. The frame loop says each step in the log, shows the download's
progress in the run bar, and checks the graph again once all are done."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg

from .. import modelhub
from ..model_manifest import ModelEntry, ModelError
from ..models_cmd import not_fetched, size_text
from ..paths import fetch_dir
from ..preset_models import missing_models
from .dialogs import question

if TYPE_CHECKING:
    from .state import EditorState

log = logging.getLogger("nodegraph")

MENU_LABEL = "Fetch missing models..."
BUSY_LABEL = "Fetching models..."
RECHECK_S = 2.0  # models can appear by other means (a `nodegraph models fetch` in a terminal)
STOP_WAIT_S = 1.0  # at close, how long a download may take to stop; then it ends with the process


class FetchStopped(Exception):
    """The editor closes: the download stops at its next block, and its .part stays for the next fetch."""


class ModelFetching:
    """Offers and fetches the models the graph lacks; `menu_item` is its File menu item, `note` the run bar's
    text that shows how far the download is."""

    def __init__(self, state: EditorState, menu_item: int | str, note: int | str):
        self.state = state
        self.menu_item = menu_item
        self.note = note
        self.events: queue.SimpleQueue[tuple] = queue.SimpleQueue()  # from the fetching thread to the frame loop
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.missing: list[str] = []
        self._checked: tuple[object, float] = (None, 0.0)  # the revision and time the missing models were found
        self._told: object = None  # the preset the log has said its missing models for
        self._failed = 0  # models of this fetch that could not be fetched

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def tick(self) -> None:
        """Each frame: say what the fetching thread did; look for missing models again after an edit or a while."""
        while not self.events.empty():
            self._show(*self.events.get())
        now = time.monotonic()
        if self.busy or (self._checked[0] == self.state.revision and now - self._checked[1] < RECHECK_S):
            return
        self._checked = (self.state.revision, now)
        self.missing = self._find_missing()
        dpg.configure_item(self.menu_item, enabled=bool(self.missing), label=MENU_LABEL)
        if self.missing and self._told != self.state.path:
            self._told = self.state.path
            count = f"{len(self.missing)} models" if len(self.missing) > 1 else "a model"
            self.state.say(f"the graph names {count} not installed ({', '.join(self.missing)}): "
                           "File > Fetch missing models downloads them", "warning")

    def _find_missing(self) -> list[str]:
        try:
            return missing_models(self.state.graph, self.state.registry)
        except ModelError:  # an unreadable manifest: the graph's own problems say so
            return []

    def offer(self) -> None:
        """Ask whether to fetch the missing models, naming each with its size and licence."""
        if self.busy:
            return
        self.missing = self._find_missing()
        if not self.missing:
            self.state.say("every model this graph's nodes name is installed")
            return
        entries, names = modelhub.load_manifest().entries, list(self.missing)
        wanted = [entries[name] for name in names]
        checked = [entry.name for entry in wanted if entry.sha256]
        name = self.state.path.name if self.state.path is not None else "This graph"
        count = f"{len(wanted)} models that are" if len(wanted) > 1 else "a model that is"
        lines = [f"{name} names {count} not installed:", *(f"    {describe(entry)}" for entry in wanted)]
        known = [entry.size for entry in wanted if entry.size]
        total = f"{size_text(sum(known))}{' and more' if len(known) < len(wanted) else ''} in all, " \
            if len(wanted) > 1 and known else ""
        lines += [f"{total}into {fetch_dir()}.", "A download with a known sha256 is checked against it before it "
                  "is used; one that stops resumes on the next fetch."]
        if len(checked) == len(wanted):
            answers = {"Fetch": lambda: self.start(names), "Cancel": None}
            asked = "Fetch them?" if len(wanted) > 1 else "Fetch it?"
        else:
            unchecked = len(wanted) - len(checked)
            answers = {f"Fetch the {len(checked)} checked": lambda: self.start(checked)} if checked else {}
            answers[f"Fetch {'all' if checked else 'it' if len(wanted) == 1 else 'them'}, unchecked too"] = \
                lambda: self.start(names, allow_unverified=True)
            answers["Cancel"] = None
            which = "It has" if len(wanted) == 1 else f"{unchecked} of them {'has' if unchecked == 1 else 'have'}"
            asked = (f"{which} no known sha256: such a download cannot be checked (the command line's "
                     "--allow-unverified). Fetch such a model only if you trust its source.")
        question("Fetch missing models", 720, "\n".join(lines), asked, answers)

    def start(self, names: list[str], *, allow_unverified: bool = False) -> None:
        """Fetch `names` one by one on a thread; a model with no known sha256 only when `allow_unverified`."""
        if self.busy:
            return
        entries = modelhub.load_manifest().entries
        for name in [n for n in self.missing if n not in names]:
            if not entries[name].sha256:
                self.state.say(f"{name} was not fetched: the catalogue has no sha256 for it, so its download could "
                               "not be checked; choose \"unchecked too\" to fetch it anyway (on the command line: "
                               f"`nodegraph models fetch {name} --allow-unverified`)", "warning")
        self.stopping.clear()
        self._failed = 0
        self.thread = threading.Thread(target=self._fetch_all, args=(list(names), allow_unverified),
                                       name="model fetch", daemon=True)  # a stalled server must not keep it open
        self.thread.start()
        dpg.configure_item(self.menu_item, enabled=False, label=BUSY_LABEL)

    def _fetch_all(self, names: list[str], allow_unverified: bool) -> None:
        """The thread: each model in turn; one that fails is said and the others still come."""
        try:
            for number, name in enumerate(names, 1):
                self.events.put(("start", name, number, len(names)))
                try:
                    path = modelhub.fetch(name, allow_unverified=allow_unverified,
                                          progress=lambda done, total, name=name: self._progress(name, done, total))
                except ModelError as exc:
                    self.events.put(("failed", name, str(exc)))
                except FetchStopped:
                    return
                except Exception as exc:  # else the thread ended with a traceback and the log never said why
                    self.events.put(("failed", name, f"{type(exc).__name__}: {exc}"))
                else:
                    self.events.put(("done", name, path))
        finally:
            self.events.put(("end", len(names)))

    def _progress(self, name: str, done: int, total: int | None) -> None:
        if self.stopping.is_set():
            raise FetchStopped
        self.events.put(("progress", name, done, total))

    def _show(self, what: str, *facts) -> None:
        """In the frame loop: one thing the fetching thread did, in the log and the run bar."""
        if what == "start":
            name, number, count = facts
            entry = modelhub.load_manifest().entries[name]
            self.state.say(f"fetching {name} ({number} of {count}"
                           f"{f', {size_text(entry.size)}' if entry.size else ''})...")
            dpg.set_value(self.note, f"fetching {name} ({number} of {count})")
        elif what == "progress":
            name, done, total = facts
            of = f" of {size_text(total)} ({100 * done // total}%)" if total else ""
            dpg.set_value(self.note, f"fetching {name}: {size_text(done)}{of}")
        elif what == "done":
            name, path = facts
            checked = "verified" if modelhub.load_manifest().entries[name].sha256 else \
                "NOT verified: no known sha256"
            self.state.say(f"{name}: installed as {path} ({checked})")
            self.state.recheck()  # its nodes' "not installed" marks go now, not after the other downloads
        elif what == "failed":
            name, message = facts
            self._failed += 1
            self.state.say(f"{name} could not be fetched: {message}", "error")
        else:
            (count,) = facts
            if self._failed and count > 1:
                self.state.say(not_fetched(self._failed, count), "error")
            dpg.set_value(self.note, "")
            self._checked = (None, 0.0)

    def close(self) -> None:
        """At the editor's close: a download under way stops (its .part resumes on the next fetch); a read
        waiting on a stalled server is not waited for."""
        self.stopping.set()
        if self.busy:
            self.thread.join(STOP_WAIT_S)
            if self.thread.is_alive():
                log.warning("a model download was still under way when the editor closed; it stops with it, and "
                            "the next fetch resumes it")


def describe(entry: ModelEntry) -> str:
    """One line of the question: the model's name, size, licence, and whether its download can be checked."""
    licence = entry.record.get("licence")
    parts = [entry.name, size_text(entry.size) if entry.size else "size unknown",
             f"licence: {licence}" if licence else "licence not given in the catalogue"]
    if not entry.sha256:
        parts.append("NO known sha256: its download cannot be checked")
    return ", ".join(parts)
