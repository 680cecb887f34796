"""Node types that make the runtime fail in ways the exit-code tests need (module level, so stage
processes can import them)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from nodegraph.node import Node
from nodegraph.params import Float, Int
from nodegraph.params import Text as TextParam
from nodegraph.types import Frame, Text


class DyingFrame(Node):
    """Passes frames on, and kills its own process (SIGKILL, as a crash would) after `after` frames of
    each life: a stage that keeps dying however often it is restarted."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"after": Int(0, 1000, default=5)}

    def setup(self):
        self.lived = 0

    def process(self, frame):
        if self.lived >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        self.lived += 1
        return {"frame": frame}


class InterruptedTwice(Node):
    """Passes frames on; raises SIGINT in its own thread at frame `at` (a first Ctrl-C) and again
    while it is being closed (a second one, impatient). In its own thread, not to the process: a
    process-wide signal may land on another thread and be handled frames later."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"at": Int(0, 1000, default=3)}

    def process(self, frame):
        if self.frame_id == self.at:
            signal.raise_signal(signal.SIGINT)
        return {"frame": frame}

    def close(self):
        signal.raise_signal(signal.SIGINT)


class InterruptedAsItCloses(Node):
    """A sink that gets a Ctrl-C as it closes, after the run's last frame (in its own thread, as above)."""

    inputs = {"frame": Frame}

    def process(self, frame):
        return {}

    def close(self):
        signal.raise_signal(signal.SIGINT)


class TerminatedInSetup(Node):
    """A sink whose set-up gets SIGTERM, as a service manager's stop during a long model load would."""

    inputs = {"frame": Frame}

    def setup(self):
        signal.raise_signal(signal.SIGTERM)

    def process(self, frame):
        return {}


class BrokenSetup(Node):
    """A sink with a bug in its set-up: it raises what no node means to (a KeyError)."""

    inputs = {"frame": Frame}

    def setup(self):
        self.table = {}["lut"]

    def process(self, frame):
        return {}


class DiesInSetup(Node):
    """Its set-up ends its process at once (os._exit), as a model load that crashes in native code does."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}

    def setup(self):
        os._exit(7)

    def process(self, frame):
        return {"frame": frame}


class FileNameText(Node):
    """Passes the frame on with the name of the picture it came from as text: a Latin-1 name read from disk
    ('café.png' in bytes), which Python decodes with a surrogate that UTF-8 cannot encode."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame, "name": Text}

    def process(self, frame):
        return {"frame": frame, "name": os.fsdecode(b"caf\xe9.png")}


class TextLog(Node):
    """Takes text (a caption, a file name) and keeps the latest."""

    inputs = {"text": Text}

    def process(self, text):
        self.latest = text
        return {}


class FailsToReload(Node):
    """Passes frames on; a live change of `size` fails as a model that cannot be loaded again would."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"size": Int(1, 1000, default=128)}

    def process(self, frame):
        return {"frame": frame}

    def param_changed(self, name):
        raise RuntimeError(f"no model of size {self.size}")


class SlowToSetUpAgain(Node):
    """Passes frames on; sets up at once the first time, and takes `seconds` (a model's load and warm-up) in a
    restarted process: its first set-up leaves the file `mark`."""

    inputs = {"frame": Frame}
    outputs = {"frame": Frame}
    params = {"mark": TextParam(), "seconds": Float(0.0, 600.0, default=60.0)}

    def setup(self):
        mark = Path(self.mark)
        if mark.exists():
            time.sleep(self.seconds)
        mark.touch()

    def process(self, frame):
        return {"frame": frame}
