"""A graph's problems and a run's failure in the editor's words: where the command line's would send the user to a
terminal, or repeat the name the node's title shows."""

from __future__ import annotations

from dataclasses import replace

from .. import modelhub
from ..errors import Problem

FETCH_HERE = "File > Fetch missing models downloads it"  # the command line says `nodegraph models fetch NAME`


def in_editor_words(problem: Problem) -> Problem:
    """The problem as the editor says it: a model that is not installed is fetched from its File menu."""
    entry = modelhub.load_manifest().entries.get(problem.model) if problem.model else None
    return replace(problem, message=modelhub.not_installed(entry, FETCH_HERE)) if entry is not None else problem


def under_the_node(message: str, node_id: str, type_name: str) -> str:
    """A run's failure as the node it failed at shows it: without the node's name and type, which its title
    shows ("node 'src' (FolderSource): x.jpg: not a picture" reads "x.jpg: not a picture")."""
    for named in (f"node '{node_id}' ({type_name})", f"node '{node_id}'"):
        if message.startswith(named):
            return message[len(named):].removeprefix(":").strip()
    return message
