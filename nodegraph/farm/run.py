"""The farm run: check everything that can be checked here (preset, inputs, outputs), connect to Ray (a local
one started for this run without an address, else the cluster at the address), send one task per chunk,
follow them on one bar, join each input's chunks as soon as they are all back, and on Ctrl-C or a failure
cancel every task and leave no output that looks complete."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

from .. import preset as presets
from ..errors import InvalidInput, RunFailed, refusal_of
from ..graph import Graph
from ..output_checks import check_side_output, files_read
from ..registry import default_registry
from . import plugins
from .cutting import Chunk, plan_chunks
from .joining import FarmOutput, make_folder, output_paths
from .progress import FarmReport, FramesDone, InputRecord, KnownChunks, start_board
from .tasks import ChunkJob, remove_dead_workers_folders, run_chunk

log = logging.getLogger("nodegraph")

POLL_S = 0.2
CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "pip install 'nodegraph[farm]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise InvalidInput(f"`nodegraph farm` runs on Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that does not answer is said within seconds; Ray itself would retry
    for minutes. `auto` is Ray's to find."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise InvalidInput(f"--address {address}: nothing answers there ({e.strerror or e}); is the cluster up "
                           "(`ray start --head` on its head machine) and the port open?") from None


def connect(ray, address: str | None, cpus: int | None) -> bool:
    """Join the cluster at `address`, or start a local Ray (with `cpus` cores) when there is none; True when
    this run started Ray (and so shuts it down). An already connected driver (a test, a notebook) is reused."""
    if ray.is_initialized():
        return False
    if address:
        check_reachable(address)
    stop = signal.getsignal(signal.SIGTERM)
    try:
        with ctrl_c_deferred() as pressed:
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                # "local": a Ray of its own, even where `ray start` left one (another user's, on a shared machine)
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError, OSError) as e:
        if pressed:  # Ctrl-C reached Ray's own processes too, which failed its start
            ray.shutdown()
            raise KeyboardInterrupt from None
        if address:
            raise InvalidInput(f"--address {address}: cannot connect to the Ray cluster there: {e} (start one with "
                               "`ray start --head`, or leave --address out for a local one)") from None
        raise InvalidInput(f"cannot start a local Ray on this machine: {e}; Ray's own logs are under its temporary "
                           "folder (RAY_TMPDIR, else /tmp/ray), or join a running cluster with --address") from None
    if callable(stop):  # Ray's driver puts in a SIGTERM handler of its own, which aborts: the command's comes back
        signal.signal(signal.SIGTERM, stop)
    if pressed:
        ray.shutdown()
        raise KeyboardInterrupt
    return True


@contextlib.contextmanager
def ctrl_c_deferred():
    """Ctrl-C waits until the block is done (yields a list that is not empty if it came); a second one
    interrupts at once. Interrupted inside ray.init, Ray left its agents running after the command and
    sometimes crashed it at exit (SIGSEGV)."""
    pressed: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def on_ctrl_c(*_):
        if pressed:  # pressed again: the user would rather have it stop now
            raise KeyboardInterrupt
        pressed.append(True)

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def check_cpus_per_task(cpus_per_task: int, most: float, where: str) -> None:
    """Ray never starts a task that asks for more CPUs than any node has (it waits for one): refuse it."""
    if cpus_per_task > most:
        raise InvalidInput(f"--cpus-per-task {cpus_per_task}: the most CPUs a Ray node has is {most:g} ({where}), "
                           f"so no chunk could ever start; give --cpus-per-task {max(1, int(most))} or less")


def most_node_cpus(ray) -> float:
    """The most "CPU" resource of any alive node of the connected cluster."""
    return max((node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node["Alive"]), default=0.0)


def check_preset(graph: Graph, media: plugins.FarmMedia, plugin, inputs: list[str], targets: list,
                 set_for: frozenset[tuple[str, str]] = frozenset()) -> None:
    """The preset validated with each input and output in place, before any task; the problems of the
    (node, param) pairs in `set_for` left out."""
    registry = default_registry()
    for path, target in zip(inputs, targets, strict=True):
        trial = graph.copy()
        plugin.set_chunk(trial, media.source, media.output, path, 0, 0, str(target))
        problems = [p for p in trial.validate(registry) if (p.node, p.param) not in set_for]
        if problems:
            raise InvalidInput(f"the preset cannot run on {path}:\n  " + "\n  ".join(map(str, problems)))


def preset_refusal(graph: Graph, inputs: list[str], out_dir: str, set_for: set[tuple[str, str]]) -> str | None:
    """What the farm would say of the preset with these inputs and --out before starting Ray (as `run_farm`
    checks them; problems of a param a refused --set was for left out), or None: for a run refused anyway,
    said with its other refusals."""
    return refusal_of(lambda: check_preset(graph, *_media_and_targets(graph, inputs, out_dir), frozenset(set_for)))


def stats_refusal(graph: Graph, inputs: list[str], out_dir: str, stats_json: str) -> str | None:
    """What `run_farm` would say of --stats-json, a file the farm reads or writes, or None (also where the
    preset is not one the farm takes: `preset_refusal` says that)."""
    try:
        _, _, inputs, targets = _media_and_targets(graph, inputs, out_dir)
    except InvalidInput:
        return None
    return refusal_of(_check_stats_json, graph, stats_json, inputs, targets)


def _check_stats_json(graph: Graph, stats_json: str, inputs: list[str], targets: list) -> None:
    """InvalidInput where --stats-json is a file the farm reads (an input, a file the preset's nodes read) or
    writes."""
    reads, folders = files_read(graph, default_registry())
    check_side_output(f"--stats-json {stats_json}", stats_json, inputs + reads, targets, folders)


def _farm_media(graph: Graph):
    """(the preset's farm media, its plugin, the extension of its outputs)."""
    media = plugins.claim(graph, default_registry())
    plugin = plugins.load(media.plugin)
    return media, plugin, plugin.output_extension(graph, media.output)


def _media_and_targets(graph: Graph, inputs: list[str], out_dir: str):
    """(the preset's farm media, its plugin, the inputs' absolute paths, their outputs' paths)."""
    media, plugin, extension = _farm_media(graph)
    inputs = [os.path.abspath(path) for path in inputs]
    return media, plugin, inputs, output_paths(inputs, out_dir, extension)


def run_farm(graph: Graph, inputs: list[str], out_dir: str, *, address: str | None = None,
             chunk_seconds: float = 30.0, warmup: int = 30, max_retries: int = 3, cpus: int | None = None,
             cpus_per_task: int = 1, progress: Callable | None = None,
             watch: Callable[[dict], None] | None = None, stats_json: str | None = None) -> FarmReport:
    """Render every input with the preset on Ray; `progress(done, total, elapsed)` draws the bar, `watch(board)`
    sees the chunks' state (pid, worker, frames, tries) at each poll, `stats_json` is where the caller will
    write the report (checked with the outputs). InvalidInput before any task starts (or from a worker that
    cannot run the preset); a run that fails later or is stopped by Ctrl-C returns its report with `error`
    or `interrupted` set."""
    ray = import_ray()  # first: without Ray, nothing is looked at or made
    if not address and not ray.is_initialized():  # said before starting a local Ray
        where = f"--cpus {cpus}" if cpus else "the local Ray gets this machine's cores"
        check_cpus_per_task(cpus_per_task, cpus or os.cpu_count() or 1, where)
    inputs = [os.path.abspath(path) for path in inputs]
    media, plugin, extension = _farm_media(graph)
    probed = [plugin.probe(path) for path in inputs]  # a missing or unreadable input: said before anything
    marks = [found[2] for found in probed]
    targets = output_paths(inputs, out_dir, extension)
    check_preset(graph, media, plugin, inputs, targets)
    if stats_json:
        _check_stats_json(graph, stats_json, inputs, targets)
    report = FarmReport(address=address or "local")
    report.inputs = [InputRecord(path, str(target), frames, fps)
                     for path, target, (frames, fps, _) in zip(inputs, targets, probed, strict=True)]
    chunks = [chunk for i, (frames, fps, _) in enumerate(probed)
              for chunk in plan_chunks(i, frames, fps, chunk_seconds, warmup)]
    report.add_chunks(chunks)
    outputs: list[FarmOutput] = []
    started = time.monotonic()
    try:
        try:
            started_here = connect(ray, address, cpus)
        finally:  # a Ctrl-C during the start says how long it took too
            report.ray_start_s = time.monotonic() - started
        try:
            joined = f"the cluster at {address}" if address else "the local Ray" if started_here else "this Ray"
            check_cpus_per_task(cpus_per_task, most_node_cpus(ray), joined)
            make_folder(out_dir)  # after every check and Ray's start: a refused run leaves no empty folder
            for record, target in zip(report.inputs, targets, strict=True):  # locked before any task
                outputs.append(FarmOutput(target, len(record.chunks), extension))
            _render(ray, graph, media, plugin, chunks, marks, outputs, report, max_retries, cpus_per_task, progress,
                    watch)
        finally:
            if started_here:
                ray.shutdown()
                remove_dead_workers_folders()  # its workers' scratch folders, where a cancel killed them
    except KeyboardInterrupt:  # returned like a failure; after the last join (Ray shutting down) it is too late
        report.interrupted = not all(record.done for record in report.inputs)
        report.ctrl_c_after_outputs = not report.interrupted
    except RunFailed as e:  # the report says it, so the caller can still write --stats-json
        report.error = str(e)
    finally:
        report.elapsed_s = time.monotonic() - started
        for output, record in zip(outputs, report.inputs, strict=False):  # fewer outputs: one failed to lock
            if not record.done:
                output.discard()
    return report


def _render(ray, graph, media, plugin, chunks: list[Chunk], marks: list[list], outputs: list[FarmOutput],
            report: FarmReport, max_retries: int, cpus_per_task: int, progress, watch) -> None:
    board, known = start_board(ray), KnownChunks()
    task = ray.remote(run_chunk).options(num_cpus=cpus_per_task, max_retries=max_retries, retry_exceptions=False)
    preset, base_dir = presets.to_dict(graph), str(graph.base_dir)
    pending = {task.remote(ChunkJob(preset, base_dir, media, report.inputs[c.input].input, outputs[c.input].extension,
                                    c, cpus_per_task, marks[c.input][c.first - c.warmup]), board): c for c in chunks}
    done = FramesDone(sum(record.frames for record in report.inputs))
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=POLL_S)
            state = known.update(ray.get(board.read.remote()))
            for ref in ready:
                chunk = pending.pop(ref)
                result = _result(ray, ref)
                report.chunk_done(chunk, result, state)
                done.chunk_back(chunk)
                if outputs[chunk.input].add(chunk.index, result["data"]):
                    record = report.inputs[chunk.input]
                    seconds, record.frames = outputs[chunk.input].join(plugin, graph, media, record.input)
                    record.join_s = round(seconds, 3)
                    record.done = True
            if watch:
                watch(state)
            if progress:
                progress(done.count(state, {c.key for c in pending.values()}), done.total,
                         time.monotonic() - done.start)
    finally:
        for ref in pending:  # Ctrl-C or a failed chunk: nothing more runs for this run
            ray.cancel(ref, force=True)
        ray.kill(board)  # not left to its handle's garbage collection, which kept it alive after a failed run


def _result(ray, ref) -> dict:
    """A chunk's result; a task's own error (bad model, node failure) comes out as the error it raised."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = e.cause if isinstance(e.cause, Exception) else e
        if isinstance(cause, InvalidInput):
            raise InvalidInput(str(cause)) from None
        raise RunFailed(str(cause)) from None
    except ray.exceptions.RayError as e:  # the worker died more often than --max-retries allows
        raise RunFailed(f"a chunk's task was lost more often than --max-retries allows ({type(e).__name__}: {e}); "
                        "raise --max-retries, or look at the workers' logs (`ray logs`)") from None
