"""Progress across the cluster: a small Ray actor (the board) that every chunk task tells where it is, and
what the command makes of it: one bar (frames done, fps, time left) and the `--stats-json` record (per
chunk: its range, time, tries and the worker it ran on)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from .cutting import Chunk


class ChunkBoard:
    """Lives in the cluster as an actor, beside the driver (`start_board`); a task that dies and is retried starts
    its chunk again from 0. Restarted (its process lost), it starts empty and learns each running chunk again
    from its next report; what it said before, the driver keeps (`KnownChunks`)."""

    def __init__(self):
        self.chunks: dict[str, dict] = {}

    def started(self, key: str, worker: dict) -> None:
        tries = self.chunks.get(key, {}).get("tries", 0) + 1
        self.chunks[key] = {"frames": 0, "tries": tries, **worker}

    def advanced(self, key: str, frames: int, worker: dict) -> None:
        if key not in self.chunks:  # this board was restarted after the chunk started
            self.started(key, worker)
        self.chunks[key]["frames"] = frames

    def read(self) -> dict[str, dict]:
        return self.chunks


def start_board(ray):
    """The board, on the driver's node: it dies only with the driver. Placed there by a soft affinity, Ray 2.60
    put it on another node 4 times in 6 (a head without CPUs and two workers), and a lost worker took every
    chunk's record with it: the retried chunk said 1 try."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(ChunkBoard).options(num_cpus=0, max_restarts=-1, max_task_retries=-1,
                                           scheduling_strategy=here).remote()


class KnownChunks:
    """The board's records as the driver keeps them, so that a restarted board forgets nothing: a chunk known
    here keeps its count of tries, and a try of another worker that the board counts no higher is one more."""

    def __init__(self):
        self.chunks: dict[str, dict] = {}

    def update(self, board: dict[str, dict]) -> dict[str, dict]:
        for key, record in board.items():
            known = self.chunks.get(key)
            if known and record["tries"] <= known["tries"]:
                same_try = (record["pid"], record["node"]) == (known["pid"], known["node"])
                record = {**record, "tries": known["tries"] + (not same_try)}
            self.chunks[key] = record
        return self.chunks


@dataclass
class InputRecord:
    """One input of a farm run: its output, its chunks and how long each took where."""

    input: str
    output: str
    frames: int  # the input's, as probed; once `done`, those the joined file holds
    fps: float
    chunks: list[dict] = field(default_factory=list)
    join_s: float | None = None
    done: bool = False


@dataclass
class FarmReport:
    """What a farm run did; `to_json()` is what `--stats-json` writes."""

    address: str
    ray_start_s: float = 0.0
    elapsed_s: float = 0.0
    inputs: list[InputRecord] = field(default_factory=list)
    interrupted: bool = False
    ctrl_c_after_outputs: bool = False  # every output was whole when it came: not an interruption
    error: str = ""

    @property
    def frames(self) -> int:
        return sum(record.frames for record in self.inputs if record.done)

    def add_chunks(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            self.inputs[chunk.input].chunks.append({"index": chunk.index, "first": chunk.first,
                                                    "frames": chunk.frames, "warmup": chunk.warmup})

    def chunk_done(self, chunk: Chunk, result: dict, board: dict) -> None:
        record = self.inputs[chunk.input].chunks[chunk.index]
        seen = board.get(chunk.key, {})
        record.update(seconds=result["seconds"], node_errors=result["errors"], undecoded=result["undecoded"],
                      tries=seen.get("tries", 1),
                      ip=seen.get("ip"), node=seen.get("node"), pid=seen.get("pid"))

    def to_json(self) -> dict:
        fps = self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {"address": self.address, "ray_start_s": round(self.ray_start_s, 3),
                "elapsed_s": round(self.elapsed_s, 3), "frames": self.frames, "fps": round(fps, 2),
                "interrupted": self.interrupted, "error": self.error,
                "workers": sorted({c["ip"] for r in self.inputs for c in r.chunks if c.get("ip")}),
                "inputs": [asdict(record) for record in self.inputs]}

    def summary_line(self) -> str:
        state = "interrupted" if self.interrupted else ("failed" if self.error else "done")
        done = sum(record.done for record in self.inputs)
        workers = len(self.to_json()["workers"])
        late = "; Ctrl-C came after every output was written, so they are complete" * self.ctrl_c_after_outputs
        inputs, frames = len(self.inputs), self.frames
        return (f"{state}: {done} of {inputs} input{'s' * (inputs != 1)}, {frames} frame{'s' * (frames != 1)} in "
                f"{self.elapsed_s:.1f} s "
                f"on {workers} worker{'s' * (workers != 1)} (Ray start-up {self.ray_start_s:.1f} s){late}")


class FramesDone:
    """Frames done across the cluster: whole chunks that came back plus where the running ones are."""

    def __init__(self, total: int):
        self.total, self.finished, self.start = total, 0, time.monotonic()

    def chunk_back(self, chunk: Chunk) -> None:
        self.finished += chunk.frames

    def count(self, board: dict[str, dict], pending: set[str]) -> int:
        return self.finished + sum(board[key]["frames"] for key in pending if key in board)
