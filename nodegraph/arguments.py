"""Command-line values the commands share: --set NODE.PARAM=VALUE, whole numbers and seconds."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .errors import InvalidInput, ProblemError
from .params import Path as PathParam


def _parse_value(target: str, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
    except ValueError:  # JSON that Python will not read: a number past int's digit limit
        raise InvalidInput(f"--set {target}=...: holds a number of more than {sys.get_int_max_str_digits()} "
                           "digits, more than a number may have; give a smaller number") from None
    except RecursionError:
        raise InvalidInput(f"--set {target}=...: the value is nested too deeply") from None


def add_logging_flags(parser: argparse.ArgumentParser, default) -> None:
    """-v/--verbose and -q/--quiet on `parser`, storing True when given, else `default`."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="say more (debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="only warnings and errors")


class VerbParser(argparse.ArgumentParser):
    """The parser of a verb (`run`, `models list`...): takes -v/-q after the verb as well as before it. Left
    out, they stay unset, so the value given before the verb is kept; the verbs under it are VerbParsers too."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        add_logging_flags(self, default=argparse.SUPPRESS)


RUN_OPTIONS = ("mode", "frames")  # `nodegraph run`'s own flags, which a user may try as --set


class SetRefused(InvalidInput):
    """--set values that cannot be taken, every one; `params`: the (node, param) of each that named one."""

    def __init__(self, refused: list[str], params: set[tuple[str, str]]):
        super().__init__(refused[0] if len(refused) == 1 else
                         "these --set values cannot be taken:\n  " + "\n  ".join(refused))
        self.params = params


def apply_overrides(graph, overrides: list[str], registry) -> None:
    """--set NODE.PARAM=VALUE (VALUE is JSON when it parses, else a string). A relative input file or folder
    given so is the shell's: it resolves against the current folder, not the preset's as one in the file does.
    A --set written wrong, naming a node the graph lacks or a param the node lacks, or with a value it refuses,
    is said as the --set's, every one at once (SetRefused): said as the graph's, it read as a fault in the preset
    file. The others are applied."""
    refused, params = [], set()
    for item in overrides:
        try:
            _apply(graph, item, registry)
        except InvalidInput as e:
            refused.append(str(e))
            node_id, _, name = item.partition("=")[0].partition(".")
            params.add((node_id, name))
    if refused:
        raise SetRefused(refused, params)


def _apply(graph, item: str, registry) -> None:
    target, sep, value = item.partition("=")
    node_id, dot, name = target.partition(".")
    if sep and target in RUN_OPTIONS:
        raise InvalidInput(f"--set {item!r}: {target} belongs to the run, not to a node; `nodegraph run` "
                           f"takes it as --{target} {value}")
    if not sep or not dot or not node_id or not name:
        raise InvalidInput(f"--set {item!r}: write it as NODE.PARAM=VALUE, e.g. src.loop=true")
    if node_id not in graph.nodes:
        raise InvalidInput(f"--set {item!r}: there is no node '{node_id}' "
                           f"(nodes: {', '.join(graph.nodes)})")
    value = _parse_value(target, value)
    cls = registry.get(graph.nodes[node_id].type)
    param = cls.params.get(name) if cls is not None else None
    if type(param) is PathParam and param.role == "input" and isinstance(value, str) and value:
        value = os.path.abspath(os.path.expanduser(value))
    if cls is not None:
        try:
            cls.check_param(node_id, name, value)
        except ProblemError as e:
            raise InvalidInput(f"--set {item!r}: {e}") from None
    graph.set_param(node_id, name, value)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse names the flag in its message)."""
    return _whole_number(text, least=1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of 0 or more."""
    return _whole_number(text, least=0)


MAX_CORES = 8192  # past any machine's count (Linux's own limit): a larger --cores is a typo


def core_count(text: str) -> int:
    """An argparse type: a number of cores, 1 to MAX_CORES (the planner hands them out one by one)."""
    value = _whole_number(text, least=1)
    if value > MAX_CORES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CORES}, got {value}")
    return value


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {'at least 1' if least else '0 or more'}, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of seconds more than 0, got {text}")
    return value
