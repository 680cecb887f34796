"""Benchmarks run by `nodegraph bench NAME`: the engine's own (`transport`, `pipeline`) and those that
node packages register in the `nodegraph.benchmarks` entry-point group. A benchmark is a module with
`run(frames: int | None) -> dict` and `summary(result: dict) -> str`."""

from __future__ import annotations

import logging
import os
import platform
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from nodegraph.errors import InvalidInput
from nodegraph.stats import RunReport
from nodegraph.threads import available_cores

ENTRY_POINT_GROUP = "nodegraph.benchmarks"
ENGINE_BENCHMARKS = {"transport": "nodegraph.bench.transport", "pipeline": "nodegraph.bench.pipeline"}
log = logging.getLogger("nodegraph")
bench_log = logging.getLogger("nodegraph.bench")  # a benchmark's own progress lines, said while its runs are quiet


def benchmarks() -> dict[str, EntryPoint]:
    """Every benchmark by name: the engine's first, then every installed package's (`.load()` gives
    its module)."""
    own = {name: EntryPoint(name, module, ENTRY_POINT_GROUP) for name, module in ENGINE_BENCHMARKS.items()}
    return own | {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in own}


def load_benchmark(ep: EntryPoint) -> ModuleType:
    """The benchmark module `ep` names; InvalidInput naming its package when it cannot be imported or lacks
    `run` or `summary` (a broken package, not a traceback)."""
    package = ep.dist.name if ep.dist else "nodegraph"
    where = f"benchmark '{ep.name}' from {package} ({ep.value})"
    try:
        module = ep.load()
    except Exception as e:
        raise InvalidInput(f"{where} failed to load: {type(e).__name__}: {e}; fix or reinstall {package}") from None
    missing = [f"{name}({arg})" for name, arg in (("run", "frames"), ("summary", "result"))
               if not callable(getattr(module, name, None))]
    if missing:
        raise InvalidInput(f"{where} has no {' or '.join(missing)}: a benchmark module needs run(frames) and "
                           f"summary(result); update or report {package}")
    return module


def timed_frames(bench: str, frames: int | None) -> int | None:
    """`frames` for a benchmark that gives a run's fps, refused at 1: one frame has no interval to time."""
    if frames == 1:
        raise InvalidInput(f"bench {bench}: --frames 1 gives no rate (one frame has no interval between frames to "
                           "time); give 2 or more")
    return frames


def not_interrupted(report: RunReport) -> RunReport:
    """`report` of a run a benchmark made; KeyboardInterrupt when a Ctrl-C stopped that run, or came as it
    closed its files. The runners take the Ctrl-C to stop the run in order and only say so in the report: a
    benchmark that went on measured the next runs (or called the stopped one a failure, in a traceback)."""
    if report.interrupted or report.stopped_after_last_frame:
        raise KeyboardInterrupt
    return report


def start_helper(helper) -> None:
    """Start `helper`, a daemon process of a benchmark's own (a reader, a worker) whose target calls
    `ignore_ctrl_c` first: with Ctrl-C held, as stage processes start. A Ctrl-C meanwhile is raised once
    it has started (one raised inside `start()` cut the child's start-up data short: a traceback there),
    and the benchmark stops its helpers."""
    from nodegraph.launch import ctrl_c_held
    from nodegraph.runtime.stages import signals_held

    with ctrl_c_held(), signals_held():
        helper.start()


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder for the outputs of a benchmark's runs, removed as the benchmark ends. What the
    runs log about files in it is not said: "holds 150 frames and plays", or after a Ctrl-C "what it wrote
    is kept beside it", named files that were gone by the time the user read it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        def not_about_the_folder(record: logging.LogRecord) -> bool:
            return folder not in record.getMessage()

        log.addFilter(not_about_the_folder)
        try:
            yield Path(folder)
        finally:
            log.removeFilter(not_about_the_folder)


@contextmanager
def inner_runs_quiet() -> Iterator[None]:
    """While a benchmark runs, the runs it makes say only their warnings and errors: their INFO lines
    ('started: 2 processes set up in 1.0 s', the provider chosen), once for every run, buried the
    benchmark's figures. With -v (DEBUG) they are said; `bench_log` keeps the level the user asked for.
    The stage processes take the lowered level as they start."""
    asked = log.level
    bench_log.setLevel(asked)
    if asked == logging.INFO:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(asked)
        bench_log.setLevel(logging.NOTSET)


def ignore_ctrl_c() -> None:
    """In a helper process (`start_helper`): a Ctrl-C is the benchmark's to handle; the helper's own
    KeyboardInterrupt printed a traceback beside the benchmark's 'interrupted'."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def machine() -> dict:
    """What a benchmark's figures were measured on (the README gives each with its machine): the cores
    this process may use, the processor's name and the load average as the benchmark ends."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return {"cores": available_cores(), "processor": names[0] if names else platform.processor() or "unknown",
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def machine_line(about: dict) -> str:
    return (f"machine: {about['cores']} cores, {about['processor']}, load average "
            f"{'/'.join(f'{x:.2f}' for x in about['load_average'])}")
