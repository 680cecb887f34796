"""The Ray task: one chunk of one input, rendered on whichever worker Ray placed it. It verifies the preset's
models (sha256) on that worker, runs the preset over the chunk's range (with its warm-up frames first) with
the in-process executor, or the multiprocess runtime when the task was given several cores, and returns the
encoded chunk: the bytes travel through Ray's object store, so no shared disk is needed for outputs."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import modelhub
from .. import preset as presets
from ..errors import InvalidInput, RunFailed
from ..graph import Graph
from ..params import Model
from ..registry import Registry, default_registry
from . import plugins
from .cutting import Chunk

REPORT_EVERY_S = 0.25
FOLDER_PREFIX = "nodegraph-farm-"  # + the worker's pid: a chunk's scratch folder


@dataclass(frozen=True)
class ChunkJob:
    """All a worker needs for one chunk (plain data: it is pickled to the worker)."""

    preset: dict
    base_dir: str
    media: plugins.FarmMedia
    input_path: str
    extension: str
    chunk: Chunk
    cpus: int
    mark: object  # the plugin's mark of the first frame run (see plugins.py)


def verify_models(graph: Graph, registry: Registry) -> None:
    """Every model the preset names, found and checked by sha256 on this machine (ModelError says which and
    how to get it: `nodegraph models fetch NAME`)."""
    for node_id, spec in graph.nodes.items():
        cls = registry.get(spec.type)
        for name, param in (cls.params.items() if cls else ()):
            value = spec.params.get(name)
            if isinstance(param, Model) and isinstance(value, str) and value:
                try:
                    modelhub.resolve(value, base_dir=graph.base_dir)
                except modelhub.ModelError as e:
                    raise InvalidInput(f"node '{node_id}' ({spec.type}), model '{value}': {e}") from None


class ChunkProgress:
    """The runner's progress callback: frames of the chunk done (warm-up not counted), told to the board."""

    def __init__(self, board, chunk: Chunk, worker: dict):
        self.board, self.chunk, self.worker, self.last = board, chunk, worker, 0.0

    def __call__(self, done: int, total: int | None, elapsed: float) -> None:
        if elapsed - self.last >= REPORT_EVERY_S:
            self.last = elapsed
            self.board.advanced.remote(self.chunk.key, max(0, done - self.chunk.warmup), self.worker)


def remove_dead_workers_folders() -> None:
    """Scratch folders of workers that were killed mid-chunk (their retry may be this task): removed, so a
    cluster whose workers die now and then does not fill its disks."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX):].partition("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and Path("/proc/self").exists():
            shutil.rmtree(folder, ignore_errors=True)


def run_chunk(job: ChunkJob, board) -> dict:
    """Render one chunk; InvalidInput and RunFailed name this worker's address."""
    import ray

    where = ray.util.get_node_ip_address()
    worker = {"pid": os.getpid(), "ip": where, "node": ray.get_runtime_context().get_node_id()}
    board.started.remote(job.chunk.key, worker)
    try:
        start = time.monotonic()
        data, errors, undecoded = _render(job, board, worker)
    except (InvalidInput, RunFailed) as e:
        raise type(e)(f"worker {where}, chunk {job.chunk.index + 1} of {job.input_path}: {e}") from None
    return {"key": job.chunk.key, "data": data, "seconds": round(time.monotonic() - start, 3), "errors": errors,
            "undecoded": undecoded}


def _render(job: ChunkJob, board, worker: dict) -> tuple[bytes, dict[str, int], int]:
    """The chunk's file, the frames each node failed on, and how many of its frames could not be decoded."""
    from ..sequential import SequentialRunner

    registry = default_registry()
    graph = presets.from_dict(job.preset, base_dir=job.base_dir)
    verify_models(graph, registry)
    if not os.path.isfile(job.input_path):
        raise InvalidInput(f"{job.input_path}: not found on this worker; every machine of the cluster must see "
                           "the inputs at the same path (shared storage)")
    chunk = job.chunk
    remove_dead_workers_folders()
    with tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-") as folder:
        path = str(Path(folder) / f"chunk{job.extension}")
        plugins.load(job.media.plugin).set_chunk(graph, job.media.source, job.media.output, job.input_path,
                                                 chunk.first, chunk.warmup, path, job.mark)
        frames = chunk.warmup + chunk.frames
        if job.cpus > 1:
            from ..runtime import Runtime

            runner = Runtime(graph, registry, frames=frames, mode="lossless")
        else:
            runner = SequentialRunner(graph, registry, frames=frames)
        report = runner.run(progress=ChunkProgress(board, chunk, worker))
        if report.error:
            raise RunFailed(report.error)
        # fewer frames than packets: damaged ones, skipped as `nodegraph run` skips them (a file cut short
        # after the driver counted its packets too)
        undecoded = max(0, frames - report.frames)
        board.advanced.remote(chunk.key, chunk.frames, worker)
        errors = {node_id: s["errors"] for node_id, s in report.nodes.items() if s["errors"]}
        return Path(path).read_bytes(), errors, undecoded
