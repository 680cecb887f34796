"""What `nodegraph run` is given, checked before anything starts: the preset, its --set values and
--stats-json. Every refusal is said at once, with the graph's own problems, as a compiler lists every
error: the user does not fix one, run again, and only then meet the next."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import preset as presets
from .arguments import SetRefused, apply_overrides
from .errors import InvalidInput, refusal_of
from .graph import Graph
from .output_checks import check_run_side_output
from .output_files import OutputFile
from .registry import Registry
from .side_files import check_stats_path, hold_stats_path, write_refusal_unchecked
from .stats import RunReport


def loaded_with_sets(preset: str, overrides: list[str], registry: Registry,
                     said: list[str]) -> tuple[Graph | None, set[tuple[str, str]]]:
    """(the preset's graph with the --set values applied, or None when it cannot be loaded; the (node, param)
    pairs a refused --set was for, whose problems the graph's are said without). Refusals go to `said`."""
    try:
        graph = presets.load(preset)
    except InvalidInput as e:  # no graph to check the rest against
        said.append(str(e))
        return None, set()
    try:
        apply_overrides(graph, overrides, registry)
    except SetRefused as e:
        said.append(str(e))
        return graph, e.params
    return graph, set()


def checked_inputs(preset: str, overrides: list[str], registry: Registry, stats_json: str | None, *,
                   check_stats: Callable[[str], Path], stats_refusal: Callable[[Graph], str | None],
                   graph_refusal: Callable[[Graph, set[tuple[str, str]]], str | None],
                   refusal_json: Callable[[str], dict]) -> tuple[Graph, Path | None]:
    """(the preset's graph with the --set values applied, the --stats-json file or None). InvalidInput listing
    every refusal: `check_stats(stats_json)`'s (the file checked alone), the preset's and its --set values',
    `stats_refusal(graph)` (the file is one the run reads or writes) and, for a command refused anyway,
    `graph_refusal(graph, the (node, param) pairs a refused --set was for)`. Said in the --stats-json file
    too, as `refusal_json(error)`, where one may be written."""
    said: list[str] = []
    stats_path = None
    if stats_json:
        try:
            stats_path = check_stats(stats_json)
        except InvalidInput as e:
            said.append(str(e))
    graph, set_for = loaded_with_sets(preset, overrides, registry, said)
    if graph is not None:
        if stats_path is not None and (refusal := stats_refusal(graph)):
            said.append(refusal)
            stats_path = None  # the file is one the command reads or writes: nothing goes there
        if said and (refusal := graph_refusal(graph, set_for)):
            said.append(refusal)
    if said:
        error = "\n".join(said)
        if stats_path is not None:
            write_refusal_unchecked(stats_path, refusal_json(error))
        raise InvalidInput(error)
    return graph, stats_path


def checked_run_inputs(preset: str, overrides: list[str], stats_json: str | None, registry: Registry,
                       mode: str | None) -> tuple[Graph, Path | None, OutputFile | None]:
    """`checked_inputs` for `nodegraph run`: the graph's problems said with its refusals (but those of a param
    a refused --set was for: the user meant to change it); and the --stats-json file's lock, held from here
    until the stats are written (`hold_stats_path`; the caller gives it back)."""

    def graph_refusal(graph: Graph, set_for: set[tuple[str, str]]) -> str | None:
        problems = [p for p in graph.validate(registry) if (p.node, p.param) not in set_for]
        return graph.not_valid(problems, registry) if problems else None

    graph, stats_path = checked_inputs(
        preset, overrides, registry, stats_json, check_stats=check_stats_path,
        stats_refusal=lambda graph: refusal_of(check_run_side_output, f"--stats-json {stats_json}", stats_json,
                                               graph, registry, preset),
        graph_refusal=graph_refusal, refusal_json=lambda error: RunReport(mode=mode, error=error).to_json())
    return graph, stats_path, hold_stats_path(stats_path) if stats_path is not None else None
