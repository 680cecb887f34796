"""What a stage process is told when it starts: plain, picklable data (no node objects)."""

from __future__ import annotations

from dataclasses import dataclass

from ..busy_watch import BUSY_WARNING_S

SLOTS = 4  # packets a ring holds: how far a producer may run ahead of its slowest reader
TAP_SLOTS = 2
POLL_S = 0.05  # how often a waiting stage looks at its control pipe and its parent


@dataclass(frozen=True)
class NodeConfig:
    id: str
    module: str  # the node class, found again by import in the stage process
    qualname: str
    params: dict
    base_dir: str
    inputs: tuple[tuple[str, str, str], ...]  # (input port, producer node, producer port)
    is_source: bool


@dataclass(frozen=True)
class InletConfig:
    buffer: int  # index of the plan's buffer: names the ring
    reader: int  # this stage's reader index in that ring
    node: str  # the producer's node and port
    port: str


@dataclass(frozen=True)
class OutletConfig:
    buffer: int
    node: str
    port: str
    readers: int


@dataclass(frozen=True)
class StageConfig:
    run_id: str
    name: str
    threads: int
    nodes: tuple[NodeConfig, ...]  # topological order
    inlets: tuple[InletConfig, ...]
    outlets: tuple[OutletConfig, ...]
    taps: dict  # node id -> tap index, when previews are on
    max_frames: int | None
    log_level: int
    resume: bool = False  # a restart: carry on from the rings' state
    niceness: int = 0  # added to the process's nice value (Unix), so the caller's window stays responsive
    spin: bool = False  # ring waits may spin first (`shm.allow_spinning`): every stage has a core to itself
    busy_warning_s: float = BUSY_WARNING_S  # a node on one frame this long is said (busy_watch)


def buffer_suffix(index: int, generation: int) -> str:
    return f"b{index}g{generation}"


def tap_suffix(index: int, generation: int) -> str:
    return f"p{index}g{generation}"
