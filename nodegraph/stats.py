"""Per-node and per-run statistics: frames, ms per frame (mean, p95), drops, undecoded input frames, errors,
latency."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

WINDOW = 600  # recent samples kept for percentiles (a few seconds at 30-150 fps)


def percentile(samples, q: float) -> float:
    return float(np.percentile(np.fromiter(samples, float), q)) if samples else 0.0


@dataclass
class NodeStats:
    frames: int = 0
    errors: int = 0
    drops: int = 0
    undecoded: int = 0  # a source's: frames of its input that could not be read (damaged, cut short)
    total_ms: float = 0.0
    last_error: str = ""
    last_error_frame: int | None = None  # the frame it came on (None: between frames, a param it refused)
    startup_ms: float = 0.0  # setup(): models loaded and warmed up, files opened
    recent_ms: deque = field(default_factory=lambda: deque(maxlen=WINDOW))

    def record(self, ms: float) -> None:
        self.frames += 1
        self.total_ms += ms
        self.recent_ms.append(ms)

    def record_error(self, message: str, frame_id: int | None = None) -> None:
        self.errors += 1
        self.last_error, self.last_error_frame = message, frame_id

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "ms_mean": round(self.total_ms / self.frames, 3) if self.frames else 0.0,
            "ms_p95": round(percentile(self.recent_ms, 95), 3),
            "drops": self.drops,
            "undecoded": self.undecoded,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_frame": self.last_error_frame,
            "startup_ms": round(self.startup_ms, 1),
        }


@dataclass
class RunReport:
    """What a run did; `to_json()` is what `--stats-json` writes."""

    mode: str | None  # None: a run that ended before it knew its mode (a live source refused at set-up)
    frames: int = 0
    elapsed_s: float = 0.0
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=WINDOW * 10))
    nodes: dict = field(default_factory=dict)  # node id -> NodeStats.summary()
    interrupted: bool = False
    stopped_after_last_frame: bool = False  # a Ctrl-C or SIGTERM came as the files closed: they are whole
    error: str = ""
    failed_node: str | None = None  # the node the error is about, where it is about one
    processes: dict = field(default_factory=dict)  # stage name -> pid (multiprocess runs)
    first_frame_ms: float | None = None  # from the run's start (set-up included) to its first frame out
    frames_span_s: float = 0.0  # from the first frame out to the last

    @property
    def fps(self) -> float | None:
        """The frames out a second: the intervals between the first frame out and the last, over their time
        (N frames are N - 1 intervals: a source paced at 10 fps gives 5 frames in 0.4 s), as the live rate
        counts them. None with fewer than two frames: there is no interval to time."""
        if self.frames < 2:
            return None
        if self.frames_span_s > 0:
            return (self.frames - 1) / self.frames_span_s
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else None

    def latency(self, q: float) -> float:
        return round(percentile(self.latency_ms, q), 2)

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "frames": self.frames,
            "elapsed_s": round(self.elapsed_s, 3),
            "fps": None if self.fps is None else round(self.fps, 2),
            "latency_ms": {"p50": self.latency(50), "p95": self.latency(95)},
            "drops": sum(n.get("drops", 0) for n in self.nodes.values()),
            "undecoded": sum(n.get("undecoded", 0) for n in self.nodes.values()),
            "errors": sum(n.get("errors", 0) for n in self.nodes.values()),
            "first_frame_ms": None if self.first_frame_ms is None else round(self.first_frame_ms, 1),
            "interrupted": self.interrupted,
            "error": self.error,
            "failed_node": self.failed_node,  # the node `error` is about, where it is about one
            "nodes": self.nodes,
        }

    def summary_line(self) -> str:
        data = self.to_json()
        state = "interrupted" if self.interrupted else ("failed" if self.error else "done")
        if not self.frames:  # no rate nor latency to give: "0.0 fps, latency p50 0.0 ms" read as measured
            line = f"{state}: 0 frames" + (" (stopped before the first frame came out)" if self.interrupted else "")
        else:
            rate = "" if data["fps"] is None else f" ({data['fps']:.1f} fps)"  # one frame: no interval to time
            line = (f"{state}: {self.frames} frame{'s' * (self.frames != 1)} in {self.elapsed_s:.1f} s{rate}, "
                    f"latency p50 {data['latency_ms']['p50']:.1f} ms p95 {data['latency_ms']['p95']:.1f} ms")
        if data["drops"]:
            line += f", {data['drops']} dropped"
        if data["errors"]:
            failing = [f"{nid} ({n['errors']}: {n['last_error']})" for nid, n in self.nodes.items() if n["errors"]]
            line += f", errors in {'; '.join(failing)}"
        return line
