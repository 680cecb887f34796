"""The graph a user edits: nodes with params and positions, links between ports.

A `networkx.MultiDiGraph` mirrors the nodes and links for ordering and cycle checks.
`validate()` returns every problem at once, each naming the node and port or field.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from .errors import InvalidInput
from .node import Node
from .params import Model as ModelParam
from .params import ParamError
from .params import Path as PathParam
from .registry import Registry
from .types import can_link

NODE_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class LinkError(InvalidInput):
    """A link the graph refuses (unknown port, incompatible types, input already taken)."""


@dataclass
class NodeSpec:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    pos: tuple[float, float] | None = None
    process: str | int | None = None  # user's pin: nodes with the same value share a process


@dataclass(frozen=True, order=True)
class Link:
    src: str
    src_port: str
    dst: str
    dst_port: str

    @classmethod
    def parse(cls, source: str, target: str) -> Link:
        """From the preset's "node.port" strings; ValueError when malformed."""
        try:
            src, src_port = source.rsplit(".", 1)
            dst, dst_port = target.rsplit(".", 1)
        except (AttributeError, ValueError):
            raise ValueError(f"a link end must look like 'node.port', got {source!r} -> {target!r}") from None
        if not all((src, src_port, dst, dst_port)):
            raise ValueError(f"a link end must look like 'node.port', got {source!r} -> {target!r}")
        return cls(src, src_port, dst, dst_port)

    @property
    def source(self) -> str:
        return f"{self.src}.{self.src_port}"

    @property
    def target(self) -> str:
        return f"{self.dst}.{self.dst_port}"

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


@dataclass(frozen=True)
class Problem:
    message: str
    node: str | None = None
    port: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.node:
            where.append(f"node '{self.node}'")
        if self.port:
            where.append(f"port '{self.port}'")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class Graph:
    def __init__(self, name: str = "untitled", description: str = "", base_dir: str | Path | None = None):
        self.name = name
        self.description = description
        # Relative input paths (media, models) resolve against this folder: the preset's.
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.nodes: dict[str, NodeSpec] = {}
        self.links: list[Link] = []
        self.nx = nx.MultiDiGraph()

    # -- edits ----------------------------------------------------------------------

    def new_id(self, type_name: str) -> str:
        stem = re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()
        for i in range(1, 10_000):
            candidate = f"{stem}{i}"
            if candidate not in self.nodes:
                return candidate
        raise RuntimeError("no free node id")

    def add_node(self, type_name: str, params: dict | None = None, pos=None,
                 node_id: str | None = None, process: str | int | None = None) -> str:
        node_id = node_id or self.new_id(type_name)
        if node_id in self.nodes:
            raise InvalidInput(f"node id '{node_id}' is used twice; node ids must be unique")
        if not NODE_ID_PATTERN.match(node_id):
            raise InvalidInput(f"node id '{node_id}' is not valid: use letters, digits, '_' and '-' "
                               "and start with a letter")
        self.nodes[node_id] = NodeSpec(node_id, type_name, dict(params or {}),
                                       tuple(pos) if pos is not None else None, process)
        self.nx.add_node(node_id)
        return node_id

    def remove_node(self, node_id: str) -> list[Link]:
        """Remove a node and its links; returns the links removed."""
        removed = [link for link in self.links if node_id in (link.src, link.dst)]
        for link in removed:
            self.remove_link(link)
        del self.nodes[node_id]
        self.nx.remove_node(node_id)
        return removed

    def check_link(self, link: Link, registry: Registry) -> None:
        """Raise LinkError when `link` may not be added (what the editor refuses at once)."""
        src_cls, dst_cls = self._class_of(link.src, registry), self._class_of(link.dst, registry)
        if link.src_port not in src_cls.outputs:
            raise LinkError(f"node '{link.src}' ({src_cls.type_name()}) has no output '{link.src_port}'")
        if link.dst_port not in dst_cls.inputs:
            raise LinkError(f"node '{link.dst}' ({dst_cls.type_name()}) has no input '{link.dst_port}'")
        out_type, in_type = src_cls.outputs[link.src_port], dst_cls.inputs[link.dst_port]
        if not can_link(out_type, in_type):
            raise LinkError(f"cannot link {link}: output '{link.source}' gives {out_type}, "
                            f"input '{link.target}' takes {in_type}")
        if link.src == link.dst or nx.has_path(self.nx, link.dst, link.src):
            raise LinkError(f"cannot link {link}: it would make a cycle")
        for other in self.links:
            if (other.dst, other.dst_port) == (link.dst, link.dst_port):
                raise LinkError(f"input '{link.target}' is already fed by '{other.source}'; "
                                "delete that link first")

    def add_link(self, link: Link, registry: Registry | None = None) -> Link:
        """Add a link; with a registry it is checked first (LinkError when refused)."""
        if registry is not None:
            self.check_link(link, registry)
        if link.src not in self.nodes or link.dst not in self.nodes:
            missing = link.src if link.src not in self.nodes else link.dst
            raise LinkError(f"cannot link {link}: there is no node '{missing}'")
        self.links.append(link)
        self.nx.add_edge(link.src, link.dst, key=link)
        return link

    def remove_link(self, link: Link) -> None:
        self.links.remove(link)
        self.nx.remove_edge(link.src, link.dst, key=link)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.nodes[node_id].params[name] = value

    # -- queries --------------------------------------------------------------------

    def links_into(self, node_id: str) -> list[Link]:
        return [link for link in self.links if link.dst == node_id]

    def links_from(self, node_id: str) -> list[Link]:
        return [link for link in self.links if link.src == node_id]

    def topological_order(self) -> list[str]:
        """Node ids in an order where every node comes after the nodes feeding it.

        Ties are broken by insertion order so the order is stable across runs.
        """
        index = {node_id: i for i, node_id in enumerate(self.nodes)}
        return list(nx.lexicographical_topological_sort(self.nx, key=index.__getitem__))

    def copy(self) -> Graph:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        from .preset import to_dict

        return to_dict(self) == to_dict(other)

    # -- validation -----------------------------------------------------------------

    def validate(self, registry: Registry) -> list[Problem]:
        problems: list[Problem] = []
        known = {}
        for spec in self.nodes.values():
            cls = registry.get(spec.type)
            if cls is None:
                problems.append(Problem(registry.unknown_type_message(spec.type), node=spec.id, field="type"))
                continue
            known[spec.id] = cls
            problems += self._param_problems(spec, cls)

        fed: dict[tuple[str, str], Link] = {}
        for link in self.links:
            for end in (link.src, link.dst):
                if end not in self.nodes:
                    problems.append(Problem(f"link {link} refers to a node '{end}' that does not exist"))
            key = (link.dst, link.dst_port)
            dst_cls = known.get(link.dst)
            if link.dst in self.nodes and (dst_cls is None or link.dst_port in dst_cls.inputs):
                if key in fed:  # whatever the types: a node of unknown type feeds just the same
                    problems.append(Problem(f"two links feed this input: from '{fed[key].source}' and "
                                            f"'{link.source}'; keep one", node=link.dst, port=link.dst_port))
                else:
                    fed[key] = link
            if link.src not in known or link.dst not in known:
                continue
            src_cls = known[link.src]
            if link.src_port not in src_cls.outputs:
                problems.append(Problem(f"{src_cls.type_name()} has no output '{link.src_port}' "
                                        f"(outputs: {', '.join(src_cls.outputs) or 'none'})",
                                        node=link.src, port=link.src_port))
                continue
            if link.dst_port not in dst_cls.inputs:
                problems.append(Problem(f"{dst_cls.type_name()} has no input '{link.dst_port}' "
                                        f"(inputs: {', '.join(dst_cls.inputs) or 'none'})",
                                        node=link.dst, port=link.dst_port))
                continue
            out_type, in_type = src_cls.outputs[link.src_port], dst_cls.inputs[link.dst_port]
            if not can_link(out_type, in_type):
                problems.append(Problem(f"type mismatch on link {link}: '{link.source}' gives {out_type} "
                                        f"but '{link.target}' takes {in_type}",
                                        node=link.dst, port=link.dst_port))

        for node_id, cls in known.items():
            for port, port_type in cls.inputs.items():
                if (node_id, port) not in fed and port not in cls.optional_inputs:
                    problems.append(Problem(f"required input ({port_type}) is not connected",
                                            node=node_id, port=port))

        for cycle in list(nx.simple_cycles(nx.DiGraph(self.nx)))[:10]:
            path = " -> ".join([*cycle, cycle[0]])
            problems.append(Problem(f"the graph has a cycle: {path}; a frame cannot depend on itself",
                                    node=cycle[0]))

        if self.nodes and len(known) == len(self.nodes) and not any(not cls.inputs for cls in known.values()):
            problems.append(Problem("the graph has no source node (a node without inputs)"))
        if not self.nodes:
            problems.append(Problem("the graph has no nodes"))
        return problems

    def _param_problems(self, spec: NodeSpec, cls: type[Node]) -> list[Problem]:
        problems = []
        if not isinstance(spec.params, dict):
            return [Problem("params must be an object", node=spec.id, field="params")]
        for name, value in spec.params.items():
            param = cls.params.get(name)
            if param is None:
                problems.append(Problem(f"{cls.type_name()} has no param '{name}' "
                                        f"(params: {', '.join(cls.params) or 'none'})", node=spec.id, field=name))
                continue
            try:
                param.validate(value)
            except ParamError as e:
                problems.append(Problem(str(e), node=spec.id, field=name))
                continue
            if isinstance(param, ModelParam) and value:
                from . import modelhub

                try:
                    modelhub.resolve(value, base_dir=self.base_dir)
                except InvalidInput as e:
                    problems.append(Problem(str(e), node=spec.id, field=name))
            elif isinstance(param, PathParam) and param.role == "input" and value:
                path = self.resolve_path(value, param)
                if not os.path.exists(path):
                    problems.append(Problem(f"{'folder' if param.folder else 'file'} not found: {path}",
                                            node=spec.id, field=name))
        for name, param in cls.params.items():
            if name not in spec.params and param.required:
                problems.append(Problem(f"required param is not set ({param.help or param.kind})",
                                        node=spec.id, field=name))
        return problems

    # -- instantiation --------------------------------------------------------------

    def resolve_path(self, value: str, param: PathParam) -> str:
        """Inputs resolve against the preset's folder, outputs against the current directory,
        so a preset inside an installed package never writes into it."""
        if not value or isinstance(param, ModelParam):
            return value
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = (self.base_dir if param.role == "input" else Path.cwd()) / path
        return str(path)

    def resolved_params(self, node_id: str, registry: Registry) -> dict[str, Any]:
        spec = self.nodes[node_id]
        cls = self._class_of(node_id, registry)
        params = dict(spec.params)
        for name, value in params.items():
            param = cls.params.get(name)
            if isinstance(param, PathParam) and isinstance(value, str):
                params[name] = self.resolve_path(value, param)
        return params

    def instantiate(self, node_id: str, registry: Registry) -> Node:
        cls = self._class_of(node_id, registry)
        node = cls(node_id, self.resolved_params(node_id, registry))
        node.base_dir = self.base_dir
        return node

    def _class_of(self, node_id: str, registry: Registry) -> type[Node]:
        spec = self.nodes.get(node_id)
        if spec is None:
            raise LinkError(f"there is no node '{node_id}'")
        cls = registry.get(spec.type)
        if cls is None:
            raise InvalidInput(f"node '{node_id}': {registry.unknown_type_message(spec.type)}")
        return cls
