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

import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

from ..errors import InvalidInput
from ..graph import Graph
from ..registry import Registry

ENTRY_POINT_GROUP = "nodegraph.farm"
# what a plugin module must have, and the arguments each is called with (the contract above)
CONTRACT = {
    "claim": ("graph", "registry"),
    "output_extension": ("graph", "output id"),
    "probe": ("path",),
    "set_chunk": ("graph", "source id", "output id", "input path", "first frame", "warm-up frames", "chunk path",
                  "mark"),
    "join": ("chunk paths", "target", "extension", "graph", "output id", "input path", "name"),
}


@dataclass(frozen=True)
class FarmMedia:
    """Which plugin cuts a preset, and the nodes it reads the input with and writes the output with."""

    plugin: str
    source: str
    output: str


def load(name: str) -> ModuleType:
    plugin = _module(name)
    check_contract(name, plugin)
    return plugin


def _module(name: str) -> ModuleType:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise InvalidInput(f"no farm plugin {name!r} is installed (group {ENTRY_POINT_GROUP}); install the node "
                           "package that provides it on every machine of the cluster")
    return found[0].load()


def check_contract(name: str, plugin: ModuleType) -> None:
    """Refuse a plugin that lacks a function or takes other arguments, before any chunk is rendered: found
    at the join, hours of rendering would end in a TypeError (join took one argument fewer before)."""
    where = f"farm plugin {name!r} ({plugin.__name__})"
    for function, arguments in CONTRACT.items():
        wanted = f"{function}({', '.join(arguments)})"
        given = getattr(plugin, function, None)
        if not callable(given):
            raise InvalidInput(f"{where} has no function {wanted}; update the node package that provides it")
        try:
            signature = inspect.signature(given)
        except ValueError:  # a builtin without a signature: it is called as it is
            continue
        try:
            signature.bind(*arguments)
        except TypeError:
            raise InvalidInput(f"{where}: its {function}{signature} cannot be called as {wanted}; update the node "
                               "package that provides it") from None


def claim(graph: Graph, registry: Registry) -> FarmMedia:
    """The first installed plugin that can cut this preset; InvalidInput when none can."""
    names = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    for name in names:
        nodes = _module(name).claim(graph, registry)  # only the plugin that claims the preset must keep to it
        if nodes is not None:
            return FarmMedia(name, *nodes)
    raise InvalidInput(f"the preset has no source the farm can cut into chunks (farm plugins installed: "
                       f"{', '.join(names) or 'none'}); the built-in one takes a preset with one VideoSource "
                       "and one VideoFileOutput")
