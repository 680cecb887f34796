"""Error classes that map to the command line's exit codes (see README, "When things go wrong"), and the
Problem record that validation collects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_INVALID = 2  # invalid input: preset, media, model, parameter
EXIT_FAILED = 3  # failed while running
EXIT_INTERRUPTED = 130  # Ctrl-C


class InvalidInput(Exception):
    """Something the user gave us (a preset, a media file, a model, a param) is unusable.

    The message names the file, node, port or field and says what to do. `node` is the node whose setup found
    it, where one did (the editor marks that node).
    """

    node: str | None = None


def refusal_of(check: Callable, *args) -> str | None:
    """What `check(*args)` refuses (its InvalidInput's message), or None: a refusal said with others."""
    try:
        check(*args)
    except InvalidInput as e:
        return str(e)
    return None


class UnusableProvider(InvalidInput):
    """The onnxruntime provider a node's `provider` param asks for cannot be used on this machine."""


class Stopped(Exception):
    """The run was asked to stop while a node waited (`Node.stoppable_sleep`: a paced source, for its frame's
    time): the run ends there, without that frame, as a stop between frames would."""


class RunFailed(Exception):
    """The run could not go on (a stage kept dying, an output became unwritable...).

    `node` is the node that failed, where one did (the editor marks that node)."""

    def __init__(self, message: str = "", node: str | None = None):
        super().__init__(message)
        self.node = node


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph, naming where: a node (and its type), a port, a param or a field."""

    message: str
    node: str | None = None
    node_type: str | None = None
    port: str | None = None
    param: str | None = None
    field: str | None = None
    model: str | None = None  # the catalogue model that is not installed, where that is the problem
    missing_path: str | None = None  # the input file or folder that does not exist, where that is the problem

    def __str__(self) -> str:
        where = []
        if self.node:
            where.append(f"node '{self.node}'" + (f" ({self.node_type})" if self.node_type else ""))
        if self.port:
            where.append(f"port '{self.port}'")
        if self.param:
            where.append(f"param '{self.param}'")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ProblemError(InvalidInput):
    """InvalidInput carrying its Problem, so a validator can collect it with the others."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))
