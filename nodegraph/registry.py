"""Finds node classes: the built-ins in `nodes/` and third-party ones through the
`nodegraph.nodes` entry-point group.

An entry point may name a Node subclass, a list of them, or a module with a `NODES` list.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType

from .node import Node

log = logging.getLogger("nodegraph")

ENTRY_POINT_GROUP = "nodegraph.nodes"
_RESERVED = {name for name in dir(Node) if not name.startswith("__")} | {"id", "stream"}


class Registry:
    def __init__(self):
        self.types: dict[str, type[Node]] = {}
        self.origin: dict[str, str] = {}  # type name -> package that provided it
        self.load_errors: list[str] = []

    def add(self, cls: type[Node], origin: str = "built-in") -> None:
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise TypeError(f"{cls!r} from {origin} is not a Node subclass")
        clash = _RESERVED.intersection(cls.params)
        if clash:
            raise TypeError(f"{cls.__name__} from {origin}: param names {sorted(clash)} clash with Node attributes")
        name = cls.type_name()
        if name in self.types and self.types[name] is not cls:
            self.load_errors.append(f"node type {name} from {origin} ignored: {self.origin[name]} already has it")
            return
        self.types[name] = cls
        self.origin[name] = origin

    def add_all(self, items: Iterable[type[Node]] | ModuleType | type[Node], origin: str) -> None:
        if isinstance(items, ModuleType):
            items = getattr(items, "NODES", [])
        if isinstance(items, type):
            items = [items]
        for cls in items:
            self.add(cls, origin)

    def get(self, name: str) -> type[Node] | None:
        return self.types.get(name)

    def packages(self) -> list[str]:
        return sorted(set(self.origin.values()))

    def unknown_type_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.types), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (f"unknown node type '{name}'; {hint}installed node packages: {', '.join(self.packages())}. "
                f"Install the package that provides it, or run `nodegraph nodes` to list the known types")

    def __iter__(self):
        return iter(sorted(self.types.values(), key=lambda c: (c.category, c.type_name())))


def load_registry(entry_points_too: bool = True) -> Registry:
    """The built-in nodes plus every installed `nodegraph.nodes` entry point."""
    registry = Registry()
    builtins = importlib.import_module("nodes")
    registry.add_all(builtins.BUILTIN_NODES, "built-in")
    if entry_points_too:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origin = ep.dist.name if ep.dist else ep.value
            try:
                registry.add_all(ep.load(), origin)
            except Exception as e:  # a broken plug-in must not take the built-ins down
                message = f"node package {origin} ({ep.value}) failed to load: {e}"
                registry.load_errors.append(message)
                log.warning(message)
    return registry


_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        _default = load_registry()
    return _default
