"""What the in-process executor and the stage processes of the multiprocess runtime share: running
one node on one frame (timing, error counting, pass-through), the stream a run's sources make,
previews for the editor, the recent frame rate, and how a run hears Ctrl-C and SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np

from . import busy_watch
from .errors import InvalidInput, RunFailed, Stopped
from .node import Node, StreamInfo
from .stats import NodeStats
from .types import can_link, value_mismatch, with_article

log = logging.getLogger("nodegraph")

PREVIEW_FPS = 15.0  # previews made per second and node, at most
PREVIEW_MAX_SIDE = 1280
STATS_EVERY_S = 0.25  # how often a run publishes its nodes' stats


def passthrough(node: Node, inputs: dict[str, Any]) -> dict[str, Any]:
    """What goes out of a node that could not process a frame: each output that has an input
    of the same name and a compatible type gets that input (a merger that failed: the original
    frame goes on); the others get None, and the nodes they feed skip the frame."""
    out = {}
    for name, out_type in node.outputs.items():
        in_type = node.inputs.get(name)
        out[name] = inputs.get(name) if in_type is not None and can_link(in_type, out_type) else None
    return out


def call_node(node: Node, inputs: dict[str, Any], stats: NodeStats) -> dict[str, Any]:
    """Run `node` on one frame's inputs. An exception is counted on the node, said once per
    distinct message, and the frame passes through; RunFailed and Ctrl-C stop the run."""
    if any(value is None for name, value in inputs.items() if name not in node.optional_inputs):
        return passthrough(node, inputs)
    start = time.perf_counter()
    try:
        with processing(node):
            result = node.process(**inputs) or {}
    except (RunFailed, KeyboardInterrupt, Stopped):
        raise
    except Exception as e:
        message = f"{type(e).__name__}: {e}" if not isinstance(e, InvalidInput) else str(e)
        if message != stats.last_error:
            log.warning("%s", frame_failure(node.id, node.type_name(), node.frame_id, message))
            log.debug("%s", traceback.format_exc())
        stats.record_error(message, node.frame_id)
        return passthrough(node, inputs)
    stats.record((time.perf_counter() - start) * 1000.0)
    return declared_outputs(node, result)


def frame_failure(node_id: str, type_name: str, frame_id: int, message: str) -> str:
    """A node's error on one frame, as the command line's log and the editor's say it."""
    return f"node '{node_id}' ({type_name}) failed on frame {frame_id}: {message}"


@contextlib.contextmanager
def processing(node: Node):
    """A node's process() under the busy watch. Its refusal (RunFailed) is made to name it (`named`). Its own
    sys.exit(), or a KeyboardInterrupt where no Ctrl-C can come (a stage process ignores SIGINT), is RunFailed
    naming it: in a stage process either ended the process (restarted, to end again), in one process the whole
    command, without a word of which node."""
    try:
        with busy_watch.current().on(node):
            yield
    except RunFailed as e:
        named(node, e)
        raise
    except SystemExit as e:
        raise RunFailed(f"node '{node.id}' ({node.type_name()}) called sys.exit({e.code!r}) on frame "
                        f"{node.frame_id}; {RAISE_INSTEAD} {node.type_name()}", node.id) from None
    except KeyboardInterrupt:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # Ctrl-C: the run stops
            raise
        raise RunFailed(f"node '{node.id}' ({node.type_name()}) raised KeyboardInterrupt on frame {node.frame_id}, "
                        f"in a process where no Ctrl-C comes; {RAISE_INSTEAD} {node.type_name()}", node.id) from None


RAISE_INSTEAD = "a node raises an exception instead: a bug in the package that provides"


def declared_outputs(node: Node, result: dict[str, Any]) -> dict[str, Any]:
    """The node's outputs from what its process() returned (a missing one is None). Anything but a dict of
    its declared outputs, each a value its port carries, is a bug in the node: RunFailed naming it. (A typo'd
    key would leave every node downstream without input; a value of the wrong kind would fail, frame after
    frame, in the node it feeds, which is not at fault.)"""
    where = f"node '{node.id}' ({node.type_name()})"
    if not isinstance(result, Mapping):
        example = next(iter(node.outputs), "frame")
        raise RunFailed(f"{where} returned {with_article(type(result).__name__)} from process(); return a dict of "
                        f"its outputs ({', '.join(node.outputs) or 'none'}), e.g. {{'{example}': ...}}", node.id)
    undeclared = [key for key in result if key not in node.outputs]
    if undeclared:
        raise RunFailed(f"{where} returned output '{undeclared[0]}', which it does not declare (its outputs: "
                        f"{', '.join(node.outputs) or 'none'}); rename the key in its process() or add it to its "
                        "outputs", node.id)
    outputs = {name: result.get(name) for name in node.outputs}
    for name, value in outputs.items():
        if (mismatch := value_mismatch(node.outputs[name], value)) is not None:
            raise RunFailed(f"{where}, output '{name}': process() returned {mismatch}; return that, or None when "
                            "it has nothing for this frame", node.id)
    return outputs


def named(node: Node, error: InvalidInput | RunFailed) -> InvalidInput | RunFailed:
    """`error`, its message begun "node 'ID' (Type): " as validate's problems are, unless it names the node first
    already, and its `node` the node (unless it has one: the editor marks that node). In place: its class stays."""
    where = f"node '{node.id}'"
    if not str(error).startswith(where):
        error.args = (f"{where} ({node.type_name()}): {error}",)
    error.node = error.node or node.id
    return error


def timed_setup(node: Node, stats: NodeStats) -> None:
    """node.setup(), its time (models loaded and warmed up, files opened) kept as the node's startup_ms. Its
    refusals (InvalidInput, RunFailed) name the node (`named`); any other exception is RunFailed "node 'ID'
    (Type) failed to start: ...", in both runners."""
    start = time.perf_counter()
    try:
        node.setup()
    except (InvalidInput, RunFailed) as e:
        named(node, e)
        raise
    except Exception as e:
        log.debug("%s", traceback.format_exc())
        raise RunFailed(f"node '{node.id}' ({node.type_name()}) failed to start: {type(e).__name__}: {e}",
                        node.id) from None
    stats.startup_ms = (time.perf_counter() - start) * 1000.0


def call_source(node: Node, frame_id: int, stats: NodeStats) -> dict[str, Any] | None:
    """Ask a source for frame `frame_id`; None when its stream has ended."""
    node.frame_id = frame_id
    node.capture_time = time.monotonic()  # a source may overwrite it with a better timestamp
    node.waited_s = 0.0
    start = time.perf_counter()
    with processing(node):
        result = node.process()
    stats.undecoded = node.undecoded()
    if result is None:
        return None
    stats.record((time.perf_counter() - start - node.waited_s) * 1000.0)  # its work, not its pacing
    return declared_outputs(node, result)


def close_nodes(nodes, complete: bool = False) -> list[RunFailed]:
    """Close every node even when some fail, telling each whether its stream ran to its end
    (`Node.stream_complete`); returns the failures, each naming its node (`RunFailed.node`)."""
    failures = []
    for node in nodes:
        node.stream_complete = complete
        try:
            node.close()
        except RunFailed as e:  # the node's own words
            failures.append(named(node, e))
        except Exception as e:
            failures.append(RunFailed(f"node '{node.id}' ({node.type_name()}) failed to close: "
                                      f"{type(e).__name__}: {e}", node.id))
    return failures


def stream_of(infos: Iterable[StreamInfo]) -> StreamInfo:
    """The run's stream from its sources' infos (in topological order): the fps and media file of
    the first source that knows its fps (and where its first frame is in that file), the shortest known
    length, and a new run token."""
    infos = list(infos)
    first = next((info for info in infos if info.fps), None)
    lengths = [info.frames for info in infos if info.frames is not None]
    return StreamInfo(first.fps if first else None, min(lengths) if lengths else None,
                      first.media if first else None, uuid.uuid4().hex[:12], first.media_start if first else 0.0)


def frame_total(stream: StreamInfo, max_frames: int | None) -> int | None:
    """How many frames a run takes: the stream's length capped by `max_frames`; None when endless."""
    if max_frames is None or stream.frames is None:
        return stream.frames if max_frames is None else max_frames
    return min(stream.frames, max_frames)


def earliest(capture_time: float | None, other: float) -> float:
    """The earlier capture time (None: none yet): a frame made from several inputs is as old as its oldest."""
    return other if capture_time is None else min(capture_time, other)


def is_picture(image: Any) -> bool:
    """Whether a node's preview() gave a picture (it may give None, or anything a faulty node returns)."""
    return isinstance(image, np.ndarray) and image.ndim in (2, 3) and bool(image.size)


class Previews:
    """Pictures of the nodes' latest work for the editor, made in the thread that runs the nodes right
    after a node's frame (what `preview()` reads is valid only until the next frame), at most
    `fps` times a second per node, and at most PREVIEW_MAX_SIDE pixels on their long side."""

    def __init__(self, fps: float = PREVIEW_FPS):
        self.period = 1.0 / fps
        self._due: dict[str, float] = {}

    def take(self, node: Node, shown: dict[str, Any], ran: bool) -> np.ndarray | None:
        """The node's picture of `shown` (its outputs; a sink's inputs) when one is due, else None.

        `ran`: process() ran on this frame. When it did not (an input was missing, or it raised),
        the picture is the base preview of what passed through, never what the node kept from an
        earlier frame.
        """
        now = time.monotonic()
        if now < self._due.get(node.id, 0.0):
            return None
        self._due[node.id] = now + self.period
        return self.make(node, shown, ran)

    @staticmethod
    def make(node: Node, shown: dict[str, Any], ran: bool) -> np.ndarray | None:
        """The picture now, whether due or not (see `take`)."""
        try:
            picture = node.preview(shown) if ran else Node.preview(node, shown)
        except Exception as e:  # a broken preview must not stop the pipeline
            log.debug("preview of node '%s' failed: %s", node.id, e)
            return None
        if picture is None:
            return None
        if not is_picture(picture):  # nor a wrong one
            log.debug("preview of node '%s' is a %s, not a picture", node.id, type(picture).__name__)
            return None
        h, w = picture.shape[:2]
        if max(h, w) > PREVIEW_MAX_SIDE:
            scale = PREVIEW_MAX_SIDE / max(h, w)
            picture = cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA)
        return picture


class RecentRate:
    """Frames per second over the last `window_s` seconds, from (time, frames done) samples."""

    def __init__(self, window_s: float = 2.0):
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, frames: int) -> None:
        self._samples.append((now, frames))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def fps(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, f0), (t1, f1) = self._samples[0], self._samples[-1]
        return (f1 - f0) / (t1 - t0) if t1 > t0 else 0.0


# a Ctrl-C or SIGTERM after the source's last frame, while the files closed: they were closed whole
LATE_STOP = "the stop came after the last frame, so the outputs are complete"


@contextlib.contextmanager
def stop_signals(handler):
    """Send Ctrl-C and SIGTERM to `handler` while the block runs, then put the previous handlers back.
    Only the main thread can: elsewhere (a run started from the editor) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
