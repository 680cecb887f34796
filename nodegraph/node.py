"""The Node base class: what a node takes, gives and can be tuned by, declared as data."""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import InvalidInput, Problem, ProblemError, RunFailed
from .file_checks import missing_inputs
from .params import Param, ParamError
from .params import Path as PathParam
from .types import PortType


@dataclass(frozen=True)
class StreamInfo:
    """What the executor knows of the stream before the first frame."""

    fps: float | None = None  # frames per second of the first source that knows it
    frames: int | None = None  # expected frame count (None: endless or unknown)
    media: str | None = None  # the source file, when there is one (for audio and metadata)
    run: str = ""  # a token of the run, the same in a restarted stage (what a writer left it may take up)
    media_start: float = 0.0  # the media file's time (s) of the first frame, where its kept audio begins


class Node:
    """Base class of every node type.

    Subclasses declare `inputs`, `outputs` (port name -> PortType) and `params`
    (name -> Param) and implement `process(**inputs) -> dict` of outputs. A node with
    no inputs is a source: `process()` returns None when its stream ends. Params are
    read as attributes (`self.threshold`). Inputs must be treated as read-only: fan-out
    hands the same objects to several nodes, so build new records instead of mutating.

    Inputs are valid only during process() and the preview() of the same frame: between
    processes they are views into shared memory that the next frames overwrite. A node that
    keeps something from its inputs for a later frame keeps a copy, of just what it needs
    (e.g. the previous frame in grey for optical flow). preview() is called in the thread
    that runs process(), right after it, and only when process() ran on that frame.

    A node whose setup() makes files or folders names them with an output Path param
    (`writes_files`): a stop ends a process in any other node's set-up at once, not after it.
    """

    category: ClassVar[str] = "Other"
    inputs: ClassVar[dict[str, PortType]] = {}
    outputs: ClassVar[dict[str, PortType]] = {}
    params: ClassVar[dict[str, Param]] = {}
    optional_inputs: ClassVar[frozenset[str]] = frozenset()
    # Scheduler hints: a heavy node (inference, encoding) gets its own process when the
    # cores allow; cost_ms is a static guess of its time per frame at 640x480 with the default
    # params (estimated_cost_ms gives it for others).
    heavy: ClassVar[bool] = False
    cost_ms: ClassVar[float] = 1.0
    # False for a node that a new process cannot take over after a crash, such as a sink whose
    # setup() would start its file again: a run whose stage with such a node dies stops.
    restartable: ClassVar[bool] = True

    def __init__(self, node_id: str = "node", params: dict[str, Any] | None = None):
        self.id = node_id
        self._values: dict[str, Any] = {}
        given = dict(params or {})
        for name, spec in self.params.items():
            self._values[name] = self.check_param(node_id, name, given.pop(name, spec.default))
        for name, value in given.items():  # a param this node does not have: refused with the node's list
            self.check_param(node_id, name, value)
        self.stream = StreamInfo()
        self.base_dir = Path.cwd()  # the preset's folder, for names a node resolves itself (models)
        self.frame_id = -1
        self.capture_time = 0.0
        self.waited_s = 0.0  # of the last process(): waiting for its frame to be due (a paced source), not work
        self.stream_complete = False  # set by the runner before close(): see close()
        # how the node waits (a paced source, for its frame's time): a runner's ends early when it is asked to
        # stop, raising errors.Stopped
        self.stoppable_sleep: Callable[[float], None] = time.sleep

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    # -- lifecycle ------------------------------------------------------------------

    def setup(self) -> None:
        """Load models and open files, once, in the process that runs the node."""

    def process(self, **inputs: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release what setup() opened. Called once, also after errors. `stream_complete` says
        whether the run's stream ran to its end (its sources ran out or the frame limit came); it is False
        after a failure, a stop or Ctrl-C, when an output holds only part of what a whole run gives."""

    def is_live(self) -> bool:
        """For sources: True when frames come at their own pace (a camera, a paced file), so a
        run defaults to realtime mode; False for files read as fast as the graph takes them."""
        return False

    def length(self) -> int | None:
        """For sources: how many frames the stream has, when known."""
        return None

    def undecoded(self) -> int:
        """For sources: how many frames of their input could not be read so far (damaged data, a file cut
        short), counted in the run's stats as `undecoded`."""
        return 0

    def due_frame(self) -> int | None:
        """For paced sources: the id of the newest frame due by now, once the stream has begun; None for
        sources not paced. A realtime run whose stage fell behind asks its sources for that frame next, so
        frames already late are skipped (and counted as drops) as a camera gives only its newest frame."""
        return None

    def stream_info(self) -> StreamInfo:
        """For sources: fps, frame count and media file, when known (after setup)."""
        return StreamInfo(frames=self.length())

    # -- params ---------------------------------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def set_param(self, name: str, value: Any) -> None:
        """Change a param between frames (live edits). Raises InvalidInput if bad; a value that
        `param_changed` refuses or fails on does not take: the param keeps the value the node runs with."""
        checked = self.check_param(self.id, name, value)
        previous, self._values[name] = self._values[name], checked
        try:
            self.param_changed(name)
        except Exception:
            self._values[name] = previous
            raise

    def param_changed(self, name: str) -> None:
        """Hook for nodes that must reload something when a param changes."""

    @classmethod
    def estimated_cost_ms(cls, params: dict[str, Any]) -> float:
        """The static guess of the time per frame at 640x480 with these params (every one given and
        valid): cost_ms, unless a node's work grows with a param (more model runs, a larger size)."""
        return cls.cost_ms

    @classmethod
    def check_param(cls, node_id: str, name: str, value: Any) -> Any:
        """`value` in its canonical form, or ProblemError "node 'ID' (Type), param 'name': why". The one
        param check: node construction, live edits, Graph.validate and the editor all call it."""
        spec = cls.params.get(name)
        try:
            if spec is None:
                close = difflib.get_close_matches(name, list(cls.params), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ParamError(f"this node has no param '{name}'; {hint}its params are: "
                                 f"{', '.join(cls.params) or 'none'}")
            return spec.validate(value)
        except ParamError as e:
            raise ProblemError(Problem(str(e), node=node_id, node_type=cls.type_name(), param=name)) from None

    @classmethod
    def check(cls, params: dict[str, Any], base_dir: Path) -> list[Problem]:
        """What would stop this node before its first frame, found without running it: the hook
        `nodegraph validate`, a run's start and the editor call on a graph whose params are valid.

        `params`: every param in canonical form, input paths resolved against `base_dir` (the
        preset's folder; model names stay as written). Returns Problems naming the param at fault
        (node and type are filled in by the caller); raising InvalidInput counts as one problem.
        The base class reports missing input files and folders and models that do not resolve; a
        node with models extends it (`super().check(...)`) to refuse a model whose tensors don't fit.
        """
        return missing_inputs(cls.params, params, base_dir)

    # -- preview --------------------------------------------------------------------

    def preview(self, outputs: dict[str, Any]) -> np.ndarray | None:
        """A BGR uint8 picture of this node's latest output for the editor.

        The default shows the first image-like output; sinks show their input.
        """
        for value in outputs.values():
            if isinstance(value, np.ndarray) and value.ndim in (2, 3) and value.size:
                if value.dtype != np.uint8:
                    value = np.clip(value * 255.0, 0, 255).astype(np.uint8)
                return value
        return None

    # -- description ----------------------------------------------------------------

    @classmethod
    def writes_files(cls) -> bool:
        return any(isinstance(spec, PathParam) and spec.role == "output" for spec in cls.params.values())

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    @classmethod
    def describe(cls) -> dict:
        return {
            "type": cls.type_name(),
            "category": cls.category,
            "doc": (cls.__doc__ or "").strip().split("\n\n")[0],
            "inputs": {name: {"type": str(t), "optional": name in cls.optional_inputs}
                       for name, t in cls.inputs.items()},
            "outputs": {name: str(t) for name, t in cls.outputs.items()},
            "params": {name: spec.describe() for name, spec in cls.params.items()},
        }


def make_node(cls: type[Node], node_id: str, params: dict[str, Any]) -> Node:
    """`cls(node_id, params)`, as both runners make their nodes. A constructor that raises anything but
    InvalidInput (a param refused) is a bug in the node's package: RunFailed naming the node, not a traceback."""
    try:
        return cls(node_id, params)
    except InvalidInput:
        raise
    except Exception as e:
        raise RunFailed(f"node '{node_id}' ({cls.type_name()}) could not be made: {type(e).__name__}: {e}; a bug "
                        f"in the package that provides {cls.type_name()}: update or report it") from None
