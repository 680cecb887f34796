"""What `nodegraph run` is given, checked before anything starts: the preset, its --set values and
--stats-json. Every refusal is said at once, with the graph's own problems, as a compiler lists every
error: the user does not fix one, run again, and only then meet the next."""

from __future__ import annotations

from pathlib import Path

from . import preset as presets
from .arguments import SetRefused, apply_overrides
from .errors import InvalidInput
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


def checked_run_inputs(preset: str, overrides: list[str], stats_json: str | None, registry: Registry,
                       mode: str | None) -> tuple[Graph, Path | None, OutputFile | None]:
    """(the preset's graph with the --set values applied, the --stats-json file or None, and its lock, held
    from here until the stats are written: `hold_stats_path`; the caller gives it back). InvalidInput listing
    every refusal, and then the graph's problems (but those of a param a refused --set was for: the user
    meant to change it); said in the --stats-json file too, where one may be written."""
    said: list[str] = []
    stats_path, stats_checked = None, True
    if stats_json:
        try:
            stats_path = check_stats_path(stats_json)
        except InvalidInput as e:
            said.append(str(e))
    graph, set_for = loaded_with_sets(preset, overrides, registry, said)
    if graph is not None:
        if stats_path is not None:
            try:
                check_run_side_output(f"--stats-json {stats_json}", stats_json, graph, registry, preset)
            except InvalidInput as e:  # the file is one the run reads or writes: nothing goes there
                said.append(str(e))
                stats_checked = False
        if said:  # a run refused anyway: its graph's problems with it (else the run's start says them)
            problems = [p for p in graph.validate(registry) if (p.node, p.param) not in set_for]
            if problems:
                said.append(graph.not_valid(problems, registry))
    if said:
        error = "\n".join(said)
        if stats_path is not None and stats_checked:
            write_refusal_unchecked(stats_path, RunReport(mode=mode, error=error).to_json())
        raise InvalidInput(error)
    return graph, stats_path, hold_stats_path(stats_path) if stats_path is not None else None
