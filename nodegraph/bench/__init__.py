"""Benchmarks run by `nodegraph bench NAME`: the engine's own (`transport`, `pipeline`) and those that
node packages register in the `nodegraph.benchmarks` entry-point group. A benchmark is a module with
`run(frames: int | None) -> dict` and `summary(result: dict) -> str`."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

ENTRY_POINT_GROUP = "nodegraph.benchmarks"
ENGINE_BENCHMARKS = {"transport": "nodegraph.bench.transport", "pipeline": "nodegraph.bench.pipeline"}


def benchmarks() -> dict[str, EntryPoint]:
    """Every benchmark by name: the engine's first, then every installed package's (`.load()` gives
    its module)."""
    own = {name: EntryPoint(name, module, ENTRY_POINT_GROUP) for name, module in ENGINE_BENCHMARKS.items()}
    return own | {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in own}
