"""A graph's problems in the editor's words, where the command line's would send the user to a terminal."""

from __future__ import annotations

from dataclasses import replace

from .. import modelhub
from ..errors import Problem

FETCH_HERE = "File > Fetch missing models downloads it"  # the command line says `nodegraph models fetch NAME`


def in_editor_words(problem: Problem) -> Problem:
    """The problem as the editor says it: a model that is not installed is fetched from its File menu."""
    entry = modelhub.load_manifest().entries.get(problem.model) if problem.model else None
    return replace(problem, message=modelhub.not_installed(entry, FETCH_HERE)) if entry is not None else problem
