"""Set-up refusals said together: a node whose set-up refuses what it was given (a file that is no video, a
picture that does not decode, a model onnxruntime will not load) does not stop the others' set-up, so a run
refused at its start names every node that refuses, one a line, as a graph's problems are said; the user does
not fix one, run again, and only then meet the next. Both runners set up their nodes through here."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .errors import InvalidInput
from .node import Node


class SetupRefused(InvalidInput):
    """Every refusal of a run's (or a stage's) set-up; `node` the first's."""

    def __init__(self, refusals: list[tuple[str, str | None]]):
        lines = [message.replace("\n", "\n  ") for message, _ in refusals]
        super().__init__(lines[0] if len(lines) == 1 else
                         f"{len(lines)} nodes cannot start:\n  " + "\n  ".join(lines))
        self.refusals, self.node = refusals, refusals[0][1]


def set_up_each(nodes: Iterable[Node], set_up: Callable[[Node], None], refusals: list[tuple[str, str | None]],
                refused: bool = False) -> None:
    """set_up(node) for each node; an InvalidInput goes into `refusals` (message, node) and the next node is set
    up, but one that writes files once the run is `refused` or a refusal came: it would make them for a run that
    cannot start. Anything else is raised at once."""
    for node in nodes:
        if (refused or refusals) and type(node).writes_files():
            continue
        try:
            set_up(node)
        except InvalidInput as e:
            refusals.append((str(e), e.node))


def raise_refusals(refusals: list[tuple[str, str | None]], order: list[str]) -> None:
    """SetupRefused naming every refusal in the graph's order (`order`: its node ids), where any came."""
    if refusals:
        position = {node_id: i for i, node_id in enumerate(order)}
        raise SetupRefused(sorted(refusals, key=lambda refusal: position.get(refusal[1], len(order))))
