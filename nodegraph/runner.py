"""What both runners offer the editor and the CLI: the `Runner` protocol, implemented by the
multiprocess `runtime.Runtime` and the in-process `sequential.SequentialRunner`, and the typed live
stats (`RunSnapshot`) that `snapshot()` returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .stats import WINDOW, RunReport, percentile

ProgressCallback = Callable[[int, int | None, float], None]  # frames done, total or None, elapsed s


@dataclass(frozen=True)
class NodeSnapshot:
    """One node's stats so far (see `stats.NodeStats`) and the stage (process) that runs it."""

    stage: str
    frames: int = 0
    ms_mean: float = 0.0
    ms_p95: float = 0.0
    drops: int = 0
    errors: int = 0
    last_error: str = ""
    last_error_frame: int | None = None

    @classmethod
    def of(cls, stage: str, summary: dict) -> NodeSnapshot:
        """From a `NodeStats.summary()`."""
        return cls(stage, summary["frames"], summary["ms_mean"], summary["ms_p95"], summary["drops"],
                   summary["errors"], summary["last_error"], summary["last_error_frame"])


@dataclass(frozen=True)
class StageSnapshot:
    nodes: tuple[str, ...]
    state: str  # new, starting, loaded, ready, running, done, dead
    restarts: int = 0
    pid: int | None = None


@dataclass(frozen=True)
class RunSnapshot:
    running: bool
    mode: str | None
    frames: int  # frames through the whole graph
    elapsed_s: float
    fps: float  # over the last seconds
    latency_p50: float  # ms, capture to sink, over the recent frames
    latency_p95: float
    nodes: dict[str, NodeSnapshot] = field(default_factory=dict)
    stages: dict[str, StageSnapshot] = field(default_factory=dict)


def run_snapshot(*, started: float | None, ended: float | None, mode: str | None, frames: int, fps: float,
                 report: RunReport, nodes: dict[str, NodeSnapshot], stages: dict[str, StageSnapshot]) -> RunSnapshot:
    """A runner's snapshot from its times (monotonic; None: not yet), its frames and its report's latencies."""
    latency = list(report.latency_ms)[-WINDOW:]
    return RunSnapshot(
        running=started is not None and ended is None, mode=mode, frames=frames,
        elapsed_s=round((ended or time.monotonic()) - started, 3) if started else 0.0, fps=round(fps, 2),
        latency_p50=round(percentile(latency, 50), 2), latency_p95=round(percentile(latency, 95), 2),
        nodes=nodes, stages=stages)


def node_snapshots(stage: str, summaries: Iterable[tuple[str, dict]]) -> dict[str, NodeSnapshot]:
    return {node_id: NodeSnapshot.of(stage, summary) for node_id, summary in summaries}


class Runner(Protocol):
    """Runs a graph: `run()` blocks in the caller's thread; the others may be called from other
    threads while it runs (the editor does)."""

    def run(self, progress: ProgressCallback | None = None) -> RunReport: ...

    def stop(self, now: bool = False) -> None: ...

    def set_param(self, node_id: str, name: str, value: Any) -> None: ...

    def preview(self, node_id: str) -> np.ndarray | None: ...

    def snapshot(self) -> RunSnapshot: ...

    def pids(self) -> dict[str, int]: ...
