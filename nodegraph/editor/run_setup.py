"""What a run started from the editor changes in its copy of the graph (the preset keeps its values):

- file sources loop at their own frame rate until Stop, so every thumbnail has something to watch
  (where the preset sets `loop` or `realtime` itself, that value stays);
- an existing output is never overwritten: the run writes the first free numbered name beside it
  (out/video_swap-1.mp4; a folder that holds what its node writes there: seq-1) and the log says so;
- a graph without an output node is run as a preview, and the log says that nothing is kept.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..graph import Graph
from ..output_checks import folder_pattern, lock_path, path_params
from ..output_files import free_name, taken
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


def holds_output(folder: Path, pattern: str) -> bool:
    """A folder output is taken when a run holds it, something other than a folder is there, or it holds
    files named as its node names them (`pattern`)."""
    if folder.is_dir():
        return lock_path(folder).exists() or any(folder.glob(pattern))
    return taken(folder)


def numbered_outputs(graph: Graph, registry: Registry) -> list[str]:
    """Point every output file that exists already at the first free name `stem-N.ext` beside it, and every
    output folder that holds what its node writes (`files_in_folder`) at the first free `NAME-N`; returns
    one log line per output renamed."""
    messages = []
    for node_id, name, param, resolved in list(path_params(graph, registry)):
        if param.role != "output":
            continue
        spec = graph.nodes[node_id]
        value, target = spec.params[name], Path(resolved)
        if param.folder:
            pattern = folder_pattern(registry.get(spec.type), spec.params)
            is_taken, there = partial(holds_output, pattern=pattern), f"holds {pattern} already"
        else:
            is_taken, there = taken, "exists"
        if not is_taken(target):
            continue
        written = Path(value).with_name(free_name(target, is_taken=is_taken).name)
        spec.params[name] = str(written)
        messages.append(f"{node_id}.{name}: {target} {there}, so this run writes "
                        f"{target.with_name(written.name)} (the preset still says {value})")
    return messages


def no_output_note(graph: Graph, registry: Registry) -> str | None:
    """What to say of a run whose graph has no Output node (it keeps nothing); None when it has one."""
    if any(registry.get(spec.type).category == "Output" for spec in graph.nodes.values()):
        return None
    return ("the graph has no Output node: this run shows each node's pictures and keeps nothing; add one (a "
            "VideoFileOutput writes a video) to keep the result")
