"""The messages between the supervisor and its stage processes, over each stage's control pipe.

Frozen dataclasses, pickled by the pipe (control data only: frames go through the rings) and
dispatched with `match`. The handshake: a stage sets up its sources and sends `Loaded` (with their
stream infos), gets `Start`, sets up the other nodes, sends `Ready`, waits for `Go`, runs, and ends
with `Done` (or `Error` when it could not start).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..node import StreamInfo

# -- supervisor -> stage -------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The run's stream (from every stage's sources) and mode: set up the other nodes."""

    stream: StreamInfo
    mode: str  # "lossless" or "realtime"
    refused: bool = False  # a node's set-up refused already: set up the rest to say theirs, but no file writer


@dataclass(frozen=True)
class Go:
    """Every stage is ready: run."""


@dataclass(frozen=True)
class SetParam:
    """A live param edit, applied between frames; the stage then refreshes its previews."""

    node_id: str
    name: str
    value: object


@dataclass(frozen=True)
class Stop:
    """Stop after the frame under way; `now`: give up every wait too (no flushing)."""

    now: bool = False


# -- stage -> supervisor -------------------------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    node_id: str
    stream: StreamInfo
    live: bool  # a camera: the run goes realtime unless told otherwise


@dataclass(frozen=True)
class Loaded:
    """The stage's nodes are built and its sources set up (none: a stage without sources)."""

    sources: tuple[SourceInfo, ...] = ()


@dataclass(frozen=True)
class Ready:
    """Every node is set up and the rings are open."""


@dataclass(frozen=True)
class Created:
    """The stage created this shared-memory segment (removed by the supervisor if the stage dies)."""

    segment: str


@dataclass(frozen=True)
class Log:
    level: int
    text: str


@dataclass(frozen=True)
class StageStats:
    frames: int  # frames this incarnation of the stage finished
    nodes: dict  # node id -> NodeStats summary
    latency: list = field(default_factory=list)  # ms, capture to sink, since the previous StageStats
    last_frame_at: float | None = None  # when the latest frame was done (monotonic, system-wide)
    first_frame_at: float | None = None  # when this incarnation's first frame was done


@dataclass(frozen=True)
class Stats:
    stats: StageStats


@dataclass(frozen=True)
class Failed:
    """The run cannot go on (an output failed); sent at once, before the stage drains and ends. `node`: the node
    that failed, where one did."""

    message: str
    node: str | None = None


@dataclass(frozen=True)
class Done:
    """The stage ended; `failures`: nodes that failed to close ("" when none), `failed_node` the first of them;
    `complete`: it had the whole stream, so its outputs were closed whole."""

    stats: StageStats
    failures: str = ""
    complete: bool = False
    failed_node: str | None = None


@dataclass(frozen=True)
class Error:
    """The stage could not start; `invalid`: bad input (exit code 2), else a failure; `node`: the node whose
    setup found the input bad, where one did; `refusals`: each node's that did, (message, node)."""

    invalid: bool
    message: str
    node: str | None = None
    refusals: tuple[tuple[str, str | None], ...] = ()


ToStage = Start | Go | SetParam | Stop
ToSupervisor = Loaded | Ready | Created | Log | Stats | Failed | Done | Error
