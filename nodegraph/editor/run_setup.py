"""What a run started from the editor changes in its copy of the graph (the preset keeps its values):

- file sources loop at their own frame rate until Stop, so every thumbnail has something to watch
  (where the preset sets `loop` or `realtime` itself, that value stays);
- an output file that already exists is never overwritten: the run writes the first free
  numbered name beside it (out/video_swap-1.mp4) and the log says so.
"""

from __future__ import annotations

from pathlib import Path

from ..graph import Graph
from ..output_files import path_params, taken
from ..params import Bool
from ..registry import Registry

LIVE_PARAMS = ("loop", "realtime")  # Bool params a source has that make it play on, paced


def loop_sources(graph: Graph, registry: Registry) -> list[str]:
    """Turn on `loop` and `realtime` wherever a node has them and the preset leaves them unset;
    returns the ids of the nodes changed."""
    changed = []
    for node_id, spec in graph.nodes.items():
        cls = registry.get(spec.type)
        if cls is None or cls.inputs:  # sources have no inputs
            continue
        names = [n for n in LIVE_PARAMS if isinstance(cls.params.get(n), Bool) and n not in spec.params]
        if "loop" in names:  # only a source that can loop is paced to make it watchable
            for name in names:
                spec.params[name] = True
            changed.append(node_id)
    return changed


def numbered_outputs(graph: Graph, registry: Registry) -> list[str]:
    """Point every output file that exists already at the first free name `stem-N.ext` beside it;
    returns one log line per output renamed."""
    messages = []
    for node_id, name, param, resolved in list(path_params(graph, registry)):
        if param.role != "output" or param.folder:
            continue
        value, target = graph.nodes[node_id].params[name], Path(resolved)
        if not taken(target):
            continue
        number = 1
        while taken(target.with_name(f"{target.stem}-{number}{target.suffix}")):
            number += 1
        written = Path(value).with_name(f"{Path(value).stem}-{number}{Path(value).suffix}")
        graph.nodes[node_id].params[name] = str(written)
        messages.append(f"{node_id}.{name}: {target} exists, so this run writes "
                        f"{target.with_name(written.name)} (the preset still says {value})")
    return messages
