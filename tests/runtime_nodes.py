"""Node types the runtime tests need (module level, so stage processes can import them), and a
small graph builder."""

from __future__ import annotations

import multiprocessing.util
import os
import re
import signal
import sys
import threading
import time

import cv2

from nodegraph import shm
from nodegraph.errors import RunFailed
from nodegraph.graph import Graph, Link
from nodegraph.node import Node
from nodegraph.params import Float, Int
from nodegraph.params import Path as PathParam
from nodegraph.registry import load_registry
from nodegraph.types import Frame


class SlowFrame(Node):
    """Passes the frame on after sleeping `delay_ms`."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"delay_ms": Float(0.0, 5000.0, default=10.0)}

    def process(self, frame):
        time.sleep(self.delay_ms / 1000.0)
        return {"frame": frame}


class FlakyFrame(Node):
    """Inverts the frame, but fails on every `every`-th frame id."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"every": Int(1, 1000, default=10)}

    def process(self, frame):
        if self.frame_id % self.every == 0:
            raise ValueError(f"frame {self.frame_id} is not to my taste")
        return {"frame": 255 - frame}


class SameFault(Node):
    """Fails on every frame with the same error, as a model that refuses every frame does."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def process(self, frame):
        raise ValueError("the model refuses this frame")


class BrokenSink(Node):
    """An output whose disk goes away at frame `at`: the run cannot go on."""

    inputs = {"frame": Frame}
    params = {"at": Int(0, 1000, default=10)}

    def process(self, frame):
        if self.frame_id >= self.at:
            raise RunFailed(f"node '{self.id}': the disk went away at frame {self.frame_id}")
        return {}


class BrokenClose(Node):
    """An output whose file cannot be finished: its close() fails, after every frame went well."""

    inputs = {"frame": Frame}

    def process(self, frame):
        return {}

    def close(self):
        raise OSError("the network share went away before the file was finished")


class GrowingFrame(Node):
    """From frame `at` on, the frame comes out twice as large (a stream whose size changes)."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"at": Int(0, 1000, default=5)}

    def process(self, frame):
        if self.frame_id < self.at:
            return {"frame": frame}
        return {"frame": cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)}


class KeepsFrame(Node):
    """Passes the frame on and keeps it (a view into shared memory in a stage process) for its
    preview, as nodes that draw on their input do."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def process(self, frame):
        self.kept = frame
        return {"frame": frame}

    def preview(self, outputs):
        return 255 - self.kept


class Misspells(Node):
    """Returns its frame under a key it does not declare ("frmae")."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def process(self, frame):
        return {"frmae": frame}


class ReturnsAs(Node):
    """Returns its frame the wrong way, as a node package's bug would: `how` 0 as a list instead of a dict,
    1 as text, 2 as a dict of arrays, 3 as a number instead of a dict, 4 as a number on its frame port."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"how": Int(0, 4, default=0)}

    def process(self, frame):
        return [[frame], {"frame": "a frame"}, {"frame": {"pixels": frame}}, 1, {"frame": 1}][self.how]


class BrokenConstructor(Node):
    """Its constructor raises, as a node package's bug would."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def __init__(self, node_id="node", params=None):
        super().__init__(node_id, params)
        raise RuntimeError("no such attribute: self.modle")

    def process(self, frame):
        return {"frame": frame}


class ExitsAt(Node):
    """Calls sys.exit(3) on frame `at` (`how` 0), or raises KeyboardInterrupt (`how` 1), as a node package's
    bug would."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"at": Int(0, 1000, default=2), "how": Int(0, 1, default=0)}

    def process(self, frame):
        if self.frame_id == self.at:
            if self.how:
                raise KeyboardInterrupt
            sys.exit(3)
        return {"frame": frame}


class TextPreview(Node):
    """Passes the frame on; its preview() gives text instead of a picture, as a node package's bug would."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def process(self, frame):
        return {"frame": frame}

    def preview(self, outputs):
        return "a picture of the frame"


class FrameLog(Node):
    """Writes each frame id as a line of a text file, which a new process would start again."""

    inputs = {"frame": Frame}
    params = {"path": PathParam(role="output", help="the text file")}
    restartable = False

    def setup(self):
        self.file = open(self.path, "w")

    def process(self, frame):
        self.file.write(f"{self.frame_id}\n")
        self.file.flush()
        return {}

    def close(self):
        self.file.close()


class SlowSetup(Node):
    """Passes frames on once its set-up, `seconds` long (a model's load and warm-up), is done."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"seconds": Float(0.0, 600.0, default=30.0)}

    def setup(self):
        time.sleep(self.seconds)

    def process(self, frame):
        return {"frame": frame}


class MakesFolderThenWaits(Node):
    """Makes its output folder in its set-up, then waits `seconds` (a stop ends the wait, and it removes the folder
    again) before it would record it: the window in which a kill leaves an empty folder, made long."""

    inputs = {"frame": Frame}
    params = {"path": PathParam(role="output", folder=True, help="the folder"),
              "seconds": Float(0.0, 600.0, default=60.0)}

    def setup(self):
        os.mkdir(self.path)
        try:
            self.stoppable_sleep(self.seconds)
        except BaseException:
            os.rmdir(self.path)
            raise

    def process(self, frame):
        return {}


class CrashesOnTheWayOut(Node):
    """Passes frames on; its process dies with SIGSEGV as it ends, after its last frame, as a library that frees
    something twice makes it (PyAV 18 with a colour profile's side data did)."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def setup(self):
        multiprocessing.util.Finalize(None, os.kill, args=(os.getpid(), signal.SIGSEGV), exitpriority=0)

    def process(self, frame):
        return {"frame": frame}


def registry():
    reg = load_registry(third_party=False)
    for cls in (SlowFrame, FlakyFrame, GrowingFrame, BrokenSink, BrokenClose, KeepsFrame, FrameLog,
                CrashesOnTheWayOut, SlowSetup, MakesFolderThenWaits):
        reg.add(cls, "tests")
    return reg


def build(nodes, links, base_dir=None) -> Graph:
    """nodes: (id, type, params[, pin]); links: "a.port -> b.port" strings."""
    graph = Graph("test", base_dir=base_dir)
    for node_id, type_name, params, *pin in nodes:
        graph.add_node(type_name, params, node_id=node_id, process=pin[0] if pin else None)
    for text in links:
        source, target = (end.strip() for end in text.split("->"))
        graph.add_link(Link.parse(source, target))
    return graph


def run_segments(pid: int) -> list[str]:
    """The shared-memory segments of runs whose supervisor had this pid."""
    pattern = re.compile(rf"ng{pid:x}[0-9a-f]{{4}}_")
    return [name for name in shm.segments() if pattern.match(name)]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def stage_pids(supervisor: int) -> list[int]:
    """The supervisor's stage processes (not multiprocessing's resource tracker)."""
    def is_stage(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"spawn_main" in f.read()
        except OSError:
            return False

    return [pid for pid in children_of(supervisor) if is_stage(pid)]


def run_in_thread(runtime):
    """Start `runtime.run()` in a thread: (the thread, a dict that gets the report as "report")."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", runtime.run()), daemon=True)
    thread.start()
    return thread, result


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
