"""JSON presets (format "nodegraph-preset", version 1): load and save, with errors that name
the bad field. Loading never runs code: it reads JSON and builds plain data."""

from __future__ import annotations

import json
import math
import mimetypes
import os
import re
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .graph import Graph, Link
from .output_files import write_atomically

FORMAT = "nodegraph-preset"
VERSION = 1


class PresetError(InvalidInput):
    """A preset file that cannot be read as a graph; `problems` lists every reason. `graph` holds what did
    load (the nodes and links without problems) when the file is a preset of a version this reads, so
    `nodegraph validate` can list that graph's own problems too."""

    def __init__(self, source: str, problems: list[str], graph: Graph | None = None):
        self.source = source
        self.problems = problems
        self.graph = graph
        super().__init__(f"{source}: " + "; ".join(problems))


MAX_PRESET_BYTES = 16 * 1024 * 1024  # far past any graph: a video or /dev/zero given by mistake is not read whole


def media_given(path: Path) -> str:
    """For a video or picture given where a preset goes (`nodegraph run clip.mp4`): what to do instead."""
    kind = (mimetypes.guess_type(path.name)[0] or "").partition("/")[0]
    if kind not in ("video", "image"):
        return ""
    what = "a video" if kind == "video" else "a picture"
    return (f"is {what}, not a preset: give the preset (JSON) to run on it, with this file as its source's path, "
            f"e.g. `nodegraph run PRESET --set SOURCE.path={shlex.quote(str(path))}`")


def load(path: str | os.PathLike) -> Graph:
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a device, a pipe: opening it may never return
            raise PresetError(str(path), ["is not a file (a device or a pipe); give a preset file"])
        with open(path, "rb") as file:
            data = file.read(MAX_PRESET_BYTES + 1)
        if len(data) > MAX_PRESET_BYTES:
            raise PresetError(str(path), [media_given(path) or f"is over {MAX_PRESET_BYTES >> 20} MiB, so it is not "
                                          "a preset (a video given by mistake?); give a preset file"])
        text = data.decode("utf-8-sig")  # the byte-order mark some Windows editors write is not JSON's
    except FileNotFoundError:
        raise PresetError(str(path), ["file not found"]) from None
    except IsADirectoryError:
        raise PresetError(str(path), ["is a folder, not a preset file"]) from None
    except UnicodeDecodeError as e:
        raise PresetError(str(path), [media_given(path) or f"not a UTF-8 text file (byte {e.start}); a preset is "
                                      "JSON"]) from None
    except OSError as e:
        raise PresetError(str(path), [f"cannot read: {e.strerror}"]) from None
    graph = loads(text, source=str(path), base_dir=path.resolve().parent)
    graph.preset_path = path
    return graph


def loads(text: str, source: str = "<preset>", base_dir: str | Path | None = None) -> Graph:
    if not text.strip():  # JSON's own "Expecting value" at line 1, column 1 did not say the file was blank
        raise PresetError(source, ["is empty: a preset is a JSON object ({\"format\": \"nodegraph-preset\", ...}), "
                                   "as `nodegraph edit` saves one"])
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as e:
        raise PresetError(source, [f"bad JSON at line {e.lineno}, column {e.colno}: {e.msg}"]) from None
    except DuplicateField as e:
        raise PresetError(source, [str(e)]) from None
    except ValueError as e:  # a NaN or Infinity (_refuse_constant), or a number too long for Python's int
        if (at := long_number(text)) is None:
            raise PresetError(source, [str(e)]) from None
        raise PresetError(source, [f"bad JSON at line {at[0]}, column {at[1]}: a number of {at[2]} digits, more "
                                   f"than the {sys.get_int_max_str_digits()} a number may have"]) from None
    except RecursionError:
        raise PresetError(source, ["JSON nested too deeply"]) from None
    return from_dict(data, source=source, base_dir=base_dir)


def long_number(text: str) -> tuple[int, int, int] | None:
    """(line, column, digits) of the first whole number in `text` (JSON) with more digits than Python reads
    (sys.get_int_max_str_digits(), 4300 by default); None when there is none. Strings are skipped whole."""
    pattern = r'"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])(-?\d{' + str(sys.get_int_max_str_digits() + 1) + ",})"
    found = next((m for m in re.finditer(pattern, text) if m.group(1)), None)
    if found is None:
        return None
    start = found.start()
    return text.count("\n", 0, start) + 1, start - text.rfind("\n", 0, start), len(found.group(1).lstrip("-"))


class DuplicateField(ValueError):
    """A key given twice in one JSON object (a hand edit that pasted a field again)."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object as a dict; a key given twice is refused, where json would silently keep the last."""
    data: dict = {}
    for key, value in pairs:
        if key in data:
            owner = next((v for k, v in pairs if k == "id"), None)
            where = f"node '{owner}'" if isinstance(owner, str) else "one object"
            raise DuplicateField(f"field '{key}' is given twice in {where}; JSON would keep only the last and lose "
                                 "the first: merge them into one")
        data[key] = value
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"bad JSON: {name} is not a valid number in a preset")


def migrate(data: dict) -> dict:
    """Bring an older preset up to VERSION. Version 1 is the first; later versions add steps here."""
    return data


def from_dict(data: Any, source: str = "<preset>", base_dir: str | Path | None = None) -> Graph:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise PresetError(source, [f"the top level must be a JSON object, got {type(data).__name__}"])
    if data.get("format") != FORMAT:
        raise PresetError(source, [f"field 'format' must be \"{FORMAT}\", got {data.get('format')!r}: "
                                   "this is not a nodegraph preset"])
    version = data.get("version")
    readable = False  # a version this understands: the graph below is this nodegraph's reading of it
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"field 'version' must be a positive integer, got {version!r}")
    elif version > VERSION:
        problems.append(f"version {version} is newer than this nodegraph understands (up to {VERSION}); "
                        "upgrade nodegraph")
    else:
        data, readable = migrate(data), True

    name = data.get("name", Path(source).stem)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            problems.append(f"field '{key}' must be a string")
    unknown = set(data) - {"format", "version", "name", "description", "nodes", "links"}
    if unknown:
        problems.append(f"unknown top-level field(s): {', '.join(sorted(unknown))}")

    graph = Graph(name if isinstance(name, str) else "untitled",
                  description if isinstance(description, str) else "", base_dir=base_dir)
    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        problems.append("field 'nodes' must be a list")
        nodes = []
    index_of: dict[str, int] = {}  # each node id's entry in `nodes`
    for i, node in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(node, dict):
            problems.append(f"{where} must be an object")
            continue
        node_id, type_name = node.get("id"), node.get("type")
        if not isinstance(node_id, str) or not isinstance(type_name, str):
            problems.append(f"{where} needs string fields 'id' and 'type'")
            continue
        where = f"node '{node_id}'"
        extra = set(node) - {"id", "type", "params", "pos", "process"}
        if extra:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        params = node.get("params", {})
        if not isinstance(params, dict):
            problems.append(f"{where}: field 'params' must be an object")
            params = {}
        pos = node.get("pos")
        if pos is not None and not (isinstance(pos, list) and len(pos) == 2
                                    and all(_is_finite_number(v) for v in pos)):
            problems.append(f"{where}: field 'pos' must be [x, y] numbers or null")
            pos = None
        process = node.get("process")
        if process is not None and (not isinstance(process, (str, int)) or isinstance(process, bool)):
            problems.append(f"{where}: field 'process' must be a string, an integer or null")
            process = None
        if node_id in graph.nodes:
            problems.append(f"nodes[{i}]: node id '{node_id}' is already the id of nodes[{index_of[node_id]}]; "
                            "node ids must be unique: rename one")
            continue
        try:
            graph.add_node(type_name, params, pos, node_id=node_id, process=process)
            index_of[node_id] = i
        except InvalidInput as e:
            problems.append(f"nodes[{i}]: {e}")

    links = data.get("links", [])
    if not isinstance(links, list):
        problems.append("field 'links' must be a list")
        links = []
    for i, link in enumerate(links):
        if not isinstance(link, dict) or set(link) != {"from", "to"} \
                or not isinstance(link["from"], str) or not isinstance(link["to"], str):
            problems.append(f"links[{i}] must be {{\"from\": \"node.port\", \"to\": \"node.port\"}}")
            continue
        try:
            graph.add_link(Link.parse(link["from"], link["to"]))
        except (ValueError, InvalidInput) as e:
            problems.append(f"links[{i}]: {e}")
    if problems:
        raise PresetError(source, problems, graph if readable else None)
    return graph


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _unsaveable(graph: Graph) -> list[str]:
    """The params and positions holding a number JSON cannot (NaN, infinity), each named."""
    problems = [f"node '{spec.id}', param '{name}': {value!r} holds a number JSON cannot save (NaN or infinity); "
                "set a finite number" for spec in graph.nodes.values() for name, value in spec.params.items()
                if not _all_finite(value)]
    problems += [f"node '{spec.id}': field 'pos' {spec.pos!r} holds a number JSON cannot save; give finite numbers"
                 for spec in graph.nodes.values() if spec.pos is not None and not _all_finite(spec.pos)]
    return problems


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(map(_all_finite, value))
    if isinstance(value, dict):
        return all(map(_all_finite, value.values()))
    return True


def to_dict(graph: Graph) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "description": graph.description,
        "nodes": [{"id": spec.id, "type": spec.type, "params": spec.params,
                   "pos": list(spec.pos) if spec.pos is not None else None, "process": spec.process}
                  for spec in graph.nodes.values()],
        "links": [{"from": link.source, "to": link.target} for link in graph.links],
    }


def dumps(graph: Graph) -> str:
    return json.dumps(to_dict(graph), indent=2) + "\n"


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write atomically (an fsynced temporary file, then a rename) so a crash never leaves half a preset.
    The file keeps the permissions of the one it replaces; a symlink there is replaced by the file, and
    what it pointed to is left as it was."""
    path = Path(path)
    problems = _unsaveable(graph)
    if problems:  # JSON has no NaN or infinity: the file would not load again
        raise PresetError(str(path), problems)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # a link's target: no wider than what the user opened
    except OSError:
        mode = None
    write_atomically(path, dumps(graph).encode("utf-8"), mode)
    graph.preset_path = path
