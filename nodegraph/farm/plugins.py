"""The node library's part of the farm, found through the `nodegraph.farm` entry-point group (as nodes are
through `nodegraph.nodes`): the engine knows no media format, so a plugin module says, for the presets it
claims, which node reads the input and which writes the output, and how chunks are cut and joined.

A plugin is a module with:
- `claim(graph, registry) -> (source id, output id) | None` (None: not a preset it can cut; InvalidInput: one
  it recognises but cannot cut, saying why);
- `output_extension(graph, output id) -> str`;
- `probe(path) -> (frames, fps, marks)` (InvalidInput naming the file when it cannot be read); `marks` has one
  value per frame that lets a task find that frame without reading the input from its start (a timestamp);
- `set_chunk(graph, source id, output id, input path, first frame, warm-up frames, chunk path, mark)`, where
  `mark` is that of the first frame the chunk runs (None: the plugin finds it);
- `join(chunk paths, target, extension, graph, output id, input path, name) -> frames written`, where `target`
  is the output's temporary file and `name` the output its messages name.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

from ..errors import InvalidInput
from ..graph import Graph
from ..registry import Registry

ENTRY_POINT_GROUP = "nodegraph.farm"


@dataclass(frozen=True)
class FarmMedia:
    """Which plugin cuts a preset, and the nodes it reads the input with and writes the output with."""

    plugin: str
    source: str
    output: str


def load(name: str) -> ModuleType:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise InvalidInput(f"no farm plugin {name!r} is installed (group {ENTRY_POINT_GROUP}); install the node "
                           "package that provides it on every machine of the cluster")
    return found[0].load()


def claim(graph: Graph, registry: Registry) -> FarmMedia:
    """The first installed plugin that can cut this preset; InvalidInput when none can."""
    names = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    for name in names:
        nodes = load(name).claim(graph, registry)
        if nodes is not None:
            return FarmMedia(name, *nodes)
    raise InvalidInput(f"the preset has no source the farm can cut into chunks (farm plugins installed: "
                       f"{', '.join(names) or 'none'}); the built-in one takes a preset with one VideoSource "
                       "and one VideoFileOutput")
