"""A stage's process as the supervisor sees it: its record over restarts (state, stats, the
segments it created), how it is spawned, and its exit in words."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing import resource_tracker

from .. import shm
from ..stats import NodeStats
from .config import StageConfig
from .protocol import SourceInfo, ToStage
from .stage_main import stage_main
from .tally import Tally, with_counts


@dataclass
class StageRun:
    """One stage of the plan and its current process."""

    name: str
    nodes: tuple[str, ...]
    process: mp.process.BaseProcess | None = None
    conn: object = None
    state: str = "new"  # starting, loaded, ready, running, done, dead
    complete: bool = False  # it ended with the whole stream: its outputs were closed whole
    frames: int = 0
    last_frame_at: float | None = None
    first_frame_at: float | None = None  # the earliest of any incarnation
    summaries: dict = field(default_factory=dict)  # node id -> this incarnation's NodeStats summary
    earlier: dict = field(default_factory=dict)  # node id -> summaries of dead incarnations, merged
    earlier_frames: int = 0
    restarts: int = 0
    died_in: str | None = None  # the node its last process died in (on a frame of, or its only one), where known
    created: list = field(default_factory=list)  # segments this incarnation created
    orphans: list = field(default_factory=list)  # segments created by incarnations that died
    stream: tuple[SourceInfo, ...] | None = None  # its sources, once loaded
    lock: threading.Lock = field(default_factory=threading.Lock)
    tally: Tally = field(init=False)  # what the current process did up to its latest frame

    def __post_init__(self) -> None:
        self.tally = Tally(len(self.nodes))

    @property
    def total_frames(self) -> int:
        return self.earlier_frames + self.frames

    def reset(self, process: mp.process.BaseProcess, conn) -> None:
        """A new incarnation's process has started."""
        self.process, self.conn, self.state = process, conn, "starting"
        self.frames, self.summaries, self.created, self.stream = 0, {}, [], None

    def died(self) -> None:
        """Its process died: what it did, to its last frame, counts as the earlier incarnations'."""
        self.state = "dead"
        self.orphans += self.created
        frames, counts, busy = self.tally.take()
        self.died_in = self.nodes[busy] if busy is not None else self.nodes[0] if len(self.nodes) == 1 else None
        self.earlier_frames += max(frames, self.frames)
        self.earlier = {n: merge_summaries(self.earlier.get(n, {}), with_counts(self.summaries.get(n, {}), c))
                        for n, c in zip(self.nodes, counts, strict=True)}
        self.summaries, self.frames = {}, 0

    def death(self) -> str:
        return f"stage {self.name} (nodes: {', '.join(self.nodes)}) died ({exit_text(self.process.exitcode)})"

    def why_not_restart(self, what: str, writers: list[str], lossless_sinks: list[str], max_restarts: int) -> str:
        """Why the dead stage (`what` says how it died) must not start again, or "" when it may:
        `writers`, its nodes whose files a new process would truncate; `lossless_sinks`, the outputs
        it wrote in lossless mode, which would lose frames."""
        if writers:
            return (f"{what} after about {self.total_frames} frames; it held {', '.join(writers)}, whose output "
                    "a new process would start again and overwrite, so the run stopped (the other stages' "
                    "outputs were closed and stay playable)")
        if lossless_sinks:
            return (f"{what} after about {self.total_frames} frames; it wrote the outputs of "
                    f"{', '.join(lossless_sinks)}, which cannot be resumed without losing frames, so the run "
                    "stopped (the other stages' outputs were closed and stay playable)")
        if self.restarts >= max_restarts:
            return f"{what} for the {max_restarts + 1}th time; the run stopped"
        return ""

    def send(self, message: ToStage) -> None:
        with self.lock:
            try:
                self.conn.send(message)
            except (OSError, EOFError, AttributeError):
                pass  # the process is gone; its death is handled by the supervisor's loop

    def summary(self, node_id: str) -> dict:
        """The node's NodeStats summary over every incarnation (zeros before its first stats)."""
        return merge_summaries(self.earlier.get(node_id, {}), self.summaries.get(node_id, {})) or NodeStats().summary()


def merge_summaries(a: dict, b: dict) -> dict:
    """Two NodeStats summaries of one node (a dead incarnation and its successor) as one."""
    if not a:
        return dict(b)
    if not b:
        return dict(a)
    frames = a["frames"] + b["frames"]
    mean = (a["ms_mean"] * a["frames"] + b["ms_mean"] * b["frames"]) / frames if frames else 0.0
    return {"frames": frames, "ms_mean": round(mean, 3), "ms_p95": b["ms_p95"] if b["frames"] else a["ms_p95"],
            "drops": a["drops"] + b["drops"], "errors": a["errors"] + b["errors"],
            "undecoded": max(a.get("undecoded", 0), b.get("undecoded", 0)),  # each read the same file
            "last_error": b["last_error"] or a["last_error"],
            "last_error_frame": b["last_error_frame"] if b["last_error"] else a["last_error_frame"],
            "startup_ms": b["startup_ms"]}


def exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def spawn(config: StageConfig, tally: Tally, needs_main: bool) -> tuple[mp.process.BaseProcess, object]:
    """Start the stage's process (spawn method): (the process, the supervisor's end of its pipe)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=stage_main, args=(config, child, tally), name=f"nodegraph-{config.name}",
                          daemon=True)
    with signals_held(), _main_hidden(not needs_main):
        process.start()
    child.close()
    return process, parent


def abort_rings(run_id: str, names: Iterable[str]) -> None:
    """Wake every process waiting on the run's rings (`names` and what is left in shared memory)."""
    for name in sorted(set(names).union(shm.segments(run_id))):
        with contextlib.suppress(Exception):
            ring = shm.Ring.attach(name)
            ring.abort()
            ring.close()


def forget_segments(names: Iterable[str]) -> None:
    """Segments registered by stage processes that died: the shared resource tracker still lists them."""
    for name in names:
        with contextlib.suppress(Exception):
            resource_tracker.unregister("/" + name, "shared_memory")


@contextlib.contextmanager
def signals_held():
    """Start children with SIGINT and SIGTERM blocked (Ctrl-C and a SIGTERM to the process group are the
    supervisor's to handle): the mask is kept through exec, so one that comes while a child imports waits
    until stage_main ignores both, rather than raising KeyboardInterrupt there. Blocked in this thread only:
    one meant for the supervisor meanwhile waits here, or another of its threads takes it (ignoring them
    here instead lost a Ctrl-C that a library's thread took, and an endless run went on)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    # The first spawn starts multiprocessing's resource tracker, which unblocks both signals once it is up.
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _main_hidden(hide: bool):
    """A spawned child runs the parent's main module again, so that classes defined there can be
    found. When no node class lives there, hide it: children start faster, and a script without
    an `if __name__ == "__main__"` guard does not start a run in every child."""
    main = sys.modules.get("__main__")
    if not hide or main is None:
        yield
        return
    saved = {key: main.__dict__[key] for key in ("__spec__", "__file__") if key in main.__dict__}
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.update(saved)
