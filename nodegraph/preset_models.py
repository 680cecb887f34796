"""The catalogue models a graph's nodes name and no model folder holds: what `nodegraph models fetch --preset`
downloads, and what the refusal of such a preset points to."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from . import modelhub
from .params import Model

if TYPE_CHECKING:
    from .graph import Graph
    from .registry import Registry


def missing_models(graph: Graph, registry: Registry) -> list[str]:
    """The manifest names (not built-in models) that the nodes' model params give and that are not installed,
    each once, in the nodes' order. Paths, unknown names and unknown node types are left to the graph's
    own checks."""
    entries = modelhub.load_manifest().entries
    missing: list[str] = []
    for spec in graph.nodes.values():
        cls = registry.get(spec.type)
        if cls is None or not isinstance(spec.params, dict):
            continue
        for name, param in cls.params.items():
            value = spec.params.get(name, param.default)
            entry = entries.get(value) if isinstance(param, Model) and isinstance(value, str) else None
            if entry is not None and not entry.builtin and value not in missing and modelhub.find(entry) is None:
                missing.append(value)
    return missing


def fetch_them_all(graph: Graph, registry: Registry) -> str | None:
    """The line that says how to fetch every missing model at once, when a preset file lacks more than one."""
    missing = missing_models(graph, registry) if graph.preset_path is not None else []
    if len(missing) < 2:
        return None
    command = f"nodegraph models fetch --preset {shlex.quote(str(graph.preset_path))}"
    return f"fetch the {len(missing)} missing models at once with `{command}`"
