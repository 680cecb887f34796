"""The graph a user edits: nodes with params and positions, links between ports.

Links are kept once, in order; `digraph()` derives the networkx graph for ordering and cycle checks.
`validate()` returns every problem at once, each naming the node and port, param or field.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import networkx as nx

from .errors import InvalidInput, Problem, ProblemError
from .file_checks import missing_inputs
from .node import Node, make_node
from .output_checks import output_problems
from .params import Model as ModelParam
from .params import Path as PathParam
from .pins import pin_units
from .preset_models import fetch_them_all
from .registry import Registry
from .types import can_link

NODE_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class LinkError(InvalidInput):
    """A link the graph refuses (unknown port, incompatible types, input already taken)."""


class InputTaken(LinkError):
    """A link refused only because its input already has one: `feeder`, the link there."""

    def __init__(self, message: str, feeder: Link):
        super().__init__(message)
        self.feeder = feeder


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


class Graph:
    def __init__(self, name: str = "untitled", description: str = "", base_dir: str | Path | None = None):
        self.name = name
        self.description = description
        # Relative input paths (media, models) resolve against this folder: the preset's.
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        # The file this graph was loaded from or saved to: no output of a run may write over it.
        self.preset_path: Path | None = None
        self.nodes: dict[str, NodeSpec] = {}
        self._links: list[Link] = []

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
        return node_id

    def remove_node(self, node_id: str) -> list[Link]:
        """Remove a node and its links; returns the links removed."""
        removed = [link for link in self._links if node_id in (link.src, link.dst)]
        self._links = [link for link in self._links if link not in removed]
        del self.nodes[node_id]
        return removed

    def check_link(self, link: Link, registry: Registry) -> None:
        """Raise LinkError when `link` may not be added (what the editor refuses at once); InputTaken when
        only the link already into its input stands in the way."""
        classes = {end: self._class_of(end, registry) for end in (link.src, link.dst)}
        feeder = next((other for other in self._links if (other.dst, other.dst_port) == (link.dst, link.dst_port)),
                      None)
        dag = self.digraph()
        for problem in self._link_problems(link, classes, None, dag):
            raise LinkError(str(problem))
        if feeder is not None:  # every other rule is kept: a problem now is the input taken
            for problem in self._link_problems(link, classes, feeder, dag):
                raise InputTaken(str(problem), feeder)

    def add_link(self, link: Link, registry: Registry | None = None) -> Link:
        """Add a link; with a registry it is checked first (LinkError when refused)."""
        if registry is not None:
            self.check_link(link, registry)
        if link.src not in self.nodes or link.dst not in self.nodes:
            missing = link.src if link.src not in self.nodes else link.dst
            close = difflib.get_close_matches(missing, list(self.nodes), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise LinkError(f"cannot link {link}: there is no node '{missing}'; {hint}"
                            f"the nodes are: {', '.join(self.nodes) or 'none'}")
        self._links.append(link)
        return link

    def remove_link(self, link: Link) -> None:
        self._links.remove(link)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.nodes[node_id].params[name] = value

    # -- queries --------------------------------------------------------------------

    @property
    def links(self) -> list[Link]:
        """The links in the order they were added (a copy: edit through add_link and remove_link)."""
        return list(self._links)

    def links_into(self, node_id: str) -> list[Link]:
        return [link for link in self._links if link.dst == node_id]

    def links_from(self, node_id: str) -> list[Link]:
        return [link for link in self._links if link.src == node_id]

    def digraph(self) -> nx.DiGraph:
        """The nodes and which feeds which, as a networkx DiGraph built from the links."""
        dag = nx.DiGraph()
        dag.add_nodes_from(self.nodes)
        dag.add_edges_from((link.src, link.dst) for link in self._links)
        return dag

    def topological_order(self) -> list[str]:
        """Node ids in an order where every node comes after the nodes feeding it.

        Ties are broken by insertion order so the order is stable across runs.
        """
        index = {node_id: i for i, node_id in enumerate(self.nodes)}
        return list(nx.lexicographical_topological_sort(self.digraph(), key=index.__getitem__))

    def copy(self) -> Graph:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        """Equal when a preset of each would be the same (the folder paths resolve against aside)."""
        if not isinstance(other, Graph):
            return NotImplemented
        return ((self.name, self.description, list(self.nodes.values()), self._links)
                == (other.name, other.description, list(other.nodes.values()), other._links))

    # -- validation -----------------------------------------------------------------

    def check_valid(self, registry: Registry) -> None:
        """Raises InvalidInput with every problem validate() finds, naming the preset file when there is one."""
        problems = self.validate(registry)
        if problems:
            raise InvalidInput(self.not_valid(problems, registry))

    def not_valid(self, problems: list[Problem], registry: Registry) -> str:
        """`problems` (of this graph's) said as a refused run says them: the preset file, then one a line."""
        where = f"{self.preset_path}: " if self.preset_path is not None else ""
        lines = [*map(str, problems), *filter(None, [fetch_them_all(self, registry)])]
        return f"{where}the graph is not valid:\n  " + "\n  ".join(lines)

    def validate(self, registry: Registry) -> list[Problem]:
        """Every problem at once: node types, params, each node's check hook (files, models), links,
        unconnected inputs, cycles, and outputs that would destroy a file or cannot be written."""
        problems: list[Problem] = []
        known = {}
        for spec in self.nodes.values():
            cls = registry.get(spec.type)
            if cls is None:
                problems.append(Problem(registry.unknown_type_message(spec.type), node=spec.id, field="type"))
                continue
            known[spec.id] = cls
            values, param_problems = self._checked_params(spec, cls)
            problems += param_problems + self._missing(spec, cls, values) if param_problems else \
                self._hook_problems(spec, cls, values)  # the hook gets valid params only

        fed: dict[tuple[str, str], Link] = {}
        for link in self._links:
            feeder = fed.setdefault((link.dst, link.dst_port), link)
            problems += self._link_problems(link, known, None if feeder is link else feeder)

        for node_id, cls in known.items():
            for port, port_type in cls.inputs.items():
                if (node_id, port) not in fed and port not in cls.optional_inputs:
                    problems.append(Problem(f"required input ({port_type}) is not connected",
                                            node=node_id, port=port))

        cycles = list(nx.simple_cycles(self.digraph()))[:10]
        for cycle in cycles:
            path = " -> ".join([*cycle, cycle[0]])
            problems.append(Problem(f"the graph has a cycle: {path}; a frame cannot depend on itself",
                                    node=cycle[0]))
        if (not cycles and any(spec.process is not None for spec in self.nodes.values())
                and all(link.src in self.nodes and link.dst in self.nodes for link in self._links)):
            problems += self._pin_problems(known)

        if self.nodes and len(known) == len(self.nodes) and not any(not cls.inputs for cls in known.values()):
            problems.append(Problem("the graph has no source node (a node without inputs)"))
        if not self.nodes:
            problems.append(Problem("the graph has no nodes"))
        return problems + output_problems(self, registry)

    def _pin_problems(self, known: Mapping[str, type[Node]]) -> list[Problem]:
        """The process pins that cannot be honoured (`pins`), each naming its node."""
        pins = {node_id: spec.process for node_id, spec in self.nodes.items()}
        _, _, problems = pin_units(pins, self.digraph(), self.topological_order())
        return [replace(p, node_type=known[p.node].type_name() if p.node in known else None) for p in problems]

    def _link_problems(self, link: Link, classes: Mapping[str, type[Node]], feeder: Link | None,
                       dag: nx.DiGraph | None = None) -> Iterator[Problem]:
        """The rules one link must keep, for check_link (before adding it) and validate (after).
        `classes`: the known node classes by id; `feeder`: another link already into its input;
        `dag`: the graph without this link, to refuse one that would close a cycle (validate names
        whole cycles instead)."""
        missing = [end for end in (link.src, link.dst) if end not in self.nodes]
        for end in missing:
            yield Problem(f"link {link} refers to a node '{end}' that does not exist")
        if missing:
            return
        src_cls, dst_cls = classes.get(link.src), classes.get(link.dst)
        port_known = dst_cls is None or link.dst_port in dst_cls.inputs
        if src_cls is not None and dst_cls is not None:
            if link.src_port not in src_cls.outputs:
                yield Problem(f"{src_cls.type_name()} has no output '{link.src_port}' "
                              f"(outputs: {', '.join(src_cls.outputs) or 'none'})", node=link.src, port=link.src_port)
            elif link.dst_port not in dst_cls.inputs:
                yield Problem(f"{dst_cls.type_name()} has no input '{link.dst_port}' "
                              f"(inputs: {', '.join(dst_cls.inputs) or 'none'})", node=link.dst, port=link.dst_port)
            elif not can_link(src_cls.outputs[link.src_port], dst_cls.inputs[link.dst_port]):
                yield Problem(f"type mismatch on link {link}: '{link.source}' gives {src_cls.outputs[link.src_port]} "
                              f"but '{link.target}' takes {dst_cls.inputs[link.dst_port]}",
                              node=link.dst, port=link.dst_port)
        if dag is not None and (link.src == link.dst or nx.has_path(dag, link.dst, link.src)):
            yield Problem(f"cannot link {link}: it would make a cycle")
        if feeder is not None and port_known:  # whatever the types: a node of unknown type feeds just the same
            yield Problem(f"two links feed this input: it is already fed by '{feeder.source}', so "
                          f"'{link.source}' cannot feed it too; keep one", node=link.dst, port=link.dst_port)

    def _checked_params(self, spec: NodeSpec, cls: type[Node]) -> tuple[dict[str, Any], list[Problem]]:
        """(every param in canonical form, the problems of those that are not valid)."""
        if not isinstance(spec.params, dict):
            return {}, [Problem("params must be an object", node=spec.id, field="params")]
        values, problems = {}, []
        given = {**{name: param.default for name, param in cls.params.items()}, **spec.params}
        for name, value in given.items():
            try:
                values[name] = cls.check_param(spec.id, name, value)
            except ProblemError as e:
                problems.append(e.problem)
        return values, problems

    def _missing(self, spec: NodeSpec, cls: type[Node], values: dict[str, Any]) -> list[Problem]:
        """The files and models missing among a node's valid params, while others are not valid: all said at once."""
        return self._placed(spec, cls, values, missing_inputs(cls.params, self._resolve_paths(cls, values),
                                                              self.base_dir))

    def _placed(self, spec: NodeSpec, cls: type[Node], values: dict[str, Any], found: list[Problem]) -> list[Problem]:
        """`found`, the node's problems, naming it and saying where a relative path that was not found was read."""
        return [replace(problem, node=spec.id, node_type=cls.type_name(),
                        message=problem.message + self._relative_hint(values, problem)) for problem in found]

    def _relative_hint(self, values: dict[str, Any], problem: Problem) -> str:
        """Where a relative input path of a preset's was looked for: a preset copied away from its media
        was told only the path it lacked."""
        value = values.get(problem.param)
        if (self.preset_path is None or problem.missing_path is None or not isinstance(value, str)
                or Path(os.path.expanduser(value)).is_absolute()):
            return ""
        return f" (a relative path in a preset is read from the preset's folder, {self.base_dir}: keep the preset " \
               "beside its media, or give a path from that folder or a full one)"

    def _hook_problems(self, spec: NodeSpec, cls: type[Node], values: dict[str, Any]) -> list[Problem]:
        """What the node's check hook finds, given its params with input paths resolved."""
        try:
            found = cls.check(self._resolve_paths(cls, values), self.base_dir)
        except InvalidInput as e:
            found = [Problem(str(e))]
        except Exception as e:  # a bug in a node package must not take the editor or validate down
            found = [Problem(f"its check hook failed ({type(e).__name__}: {e}): a bug in the package that "
                             f"provides {cls.type_name()}; update or report it")]
        if not isinstance(found, list | tuple) or not all(isinstance(problem, Problem) for problem in found):
            found = [Problem(f"its check hook returned {found!r:.100}, not a list of Problems: a bug in the package "
                             f"that provides {cls.type_name()}; update or report it")]
        return self._placed(spec, cls, values, found)

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
        return self._resolve_paths(self._class_of(node_id, registry), self.nodes[node_id].params)

    def _resolve_paths(self, cls: type[Node], params: dict[str, Any]) -> dict[str, Any]:
        return {name: self.resolve_path(value, param)
                if isinstance(param := cls.params.get(name), PathParam) and isinstance(value, str) else value
                for name, value in params.items()}

    def instantiate(self, node_id: str, registry: Registry) -> Node:
        cls = self._class_of(node_id, registry)
        node = make_node(cls, node_id, self.resolved_params(node_id, registry))
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
