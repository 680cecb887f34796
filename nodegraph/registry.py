"""Finds node classes through the `nodegraph.nodes` entry-point group: the built-in library
registers there like any third-party package does.

An entry point may name a Node subclass, a list of them, or a module with a `NODES` list.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from .errors import InvalidInput
from .launch import ctrl_c_held
from .node import Node
from .params import Param, ParamError
from .types import PortType

log = logging.getLogger("nodegraph")

ENTRY_POINT_GROUP = "nodegraph.nodes"
OWN_DISTRIBUTION = "nodegraph"  # its entry points are the built-ins
BUILTIN_ORIGIN = "built-in"
_RESERVED = {name for name in dir(Node) if not name.startswith("__")} | {"id", "stream"}


class Registry:
    def __init__(self):
        self.types: dict[str, type[Node]] = {}
        self.origin: dict[str, str] = {}  # type name -> package that provided it
        self.failed: dict[str, str] = {}  # package that failed to load -> why

    def add(self, cls: type[Node], origin: str = BUILTIN_ORIGIN) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise TypeError(f"{cls!r} from {origin} is not a Node subclass")
        clash = _RESERVED.intersection(cls.params)
        if clash:
            raise TypeError(f"{cls.__name__} from {origin}: param names {sorted(clash)} clash with Node attributes")
        for problem in _declaration_problems(cls):
            raise TypeError(f"{cls.__name__} from {origin}: {problem}")
        name = cls.type_name()
        if name in self.types and self.types[name] is not cls:
            # said by every command: a preset written for the ignored type is refused for its params
            log.warning("node type %s from %s ignored: %s already has it", name, origin, self.origin[name])
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
        failed = "".join(f"; node package {package} failed to load ({why})" for package, why in self.failed.items())
        fix = "Fix the package that failed, if it provides it; else install" if failed else "Install"
        return (f"unknown node type '{name}'; {hint}installed node packages: {', '.join(self.packages())}{failed}. "
                f"{fix} the package that provides it, or run `nodegraph nodes` to list the known types")

    def __iter__(self):
        return iter(sorted(self.types.values(), key=lambda c: (c.category, c.type_name())))


def _declaration_problems(cls: type[Node]):
    """What in a node class's declared ports and params the editor, validate and the runners cannot read:
    a port whose type is not a PortType (a name given as text), a param that is not a Param (a bare value)."""
    for kind in ("inputs", "outputs"):
        for name, port_type in getattr(cls, kind).items():
            if not isinstance(port_type, PortType):
                yield (f"{kind[:-1]} '{name}' is declared as {port_type!r} ({type(port_type).__name__}); declare a "
                       "PortType, such as nodegraph.types.Frame")
    for name, spec in cls.params.items():
        if not isinstance(spec, Param):
            yield (f"param '{name}' is declared as {spec!r} ({type(spec).__name__}); declare a Param, such as "
                   f"nodegraph.params.Float(0.0, 1.0, default=0.5)")
            continue
        try:
            if not spec.required:  # a required one has no default to check: the preset must give it
                spec.validate(spec.default)
        except ParamError as e:  # every preset leaving it out would be refused, blaming the preset
            yield f"param '{name}': its own default is refused ({e}); declare a default the param takes"


def load_registry(third_party: bool = True) -> Registry:
    """The nodes of every installed `nodegraph.nodes` entry point; without `third_party`, only the
    built-in ones (this distribution's). The built-ins load first, so a type name they use stays theirs."""
    registry = Registry()
    found = list(entry_points(group=ENTRY_POINT_GROUP))
    own = [ep for ep in found if _package(ep) == OWN_DISTRIBUTION]
    if not own:
        raise InvalidInput(f"no built-in nodes: the `{ENTRY_POINT_GROUP}` entry point of {OWN_DISTRIBUTION} is "
                           "not installed; reinstall it (in a checkout: pip install -e .)")
    for ep in own:
        registry.add_all(ep.load(), BUILTIN_ORIGIN)
    for ep in found if third_party else []:
        origin = _package(ep)
        if origin == OWN_DISTRIBUTION:
            continue
        try:
            registry.add_all(ep.load(), origin)
        except Exception as e:  # a broken plug-in must not take the built-ins down
            registry.failed[origin] = f"{type(e).__name__}: {e}"
            log.warning("node package %s (%s) failed to load: %s", origin, ep.value, e)
    return registry


def _package(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist else ep.value


_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        with ctrl_c_held():  # the node packages import numpy, OpenCV, protobuf: a Ctrl-C waits until they are in
            _default = load_registry()
    return _default
