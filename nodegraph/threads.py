"""How many threads this process's libraries may use: the cores it may run on, and the budget a stage
process sets from its plan, read by the onnxruntime session factory. Kept apart from `onnx` so that a
stage without models never loads onnxruntime."""

from __future__ import annotations

import os

from nodegraph.errors import InvalidInput

_budget: int | None = None


def set_budget(n: int) -> None:
    """Intra-op threads for sessions created after this call (a stage process calls it at start-up)."""
    global _budget
    if not isinstance(n, int) or n < 1:
        raise InvalidInput(f"thread budget must be a whole number >= 1, got {n!r}")
    _budget = n


def budget() -> int:
    """The budget set, else the cores this process may run on."""
    return _budget if _budget is not None else available_cores()


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
