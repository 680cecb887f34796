"""What the editor's log says of nodes' errors on frames. The run's status, read a few times a second, gives each
node's error count and its latest error: every failing frame is counted in the log, a new error is said in full
at once, and the same error again is said as one line of how many more frames failed, every few seconds and at
the run's end, so a node that fails on every frame does not flood the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..runner import NodeSnapshot

SAME_AGAIN_S = 2.0  # how often, at most, a node's repeated error is said


@dataclass
class NodeErrors:
    counted: int = 0  # the node's errors that the log has said or holds in `repeats`
    text: str = ""  # the error last said in full
    repeats: int = 0  # the same error again, on frames not yet said
    last_frame: int | None = None  # the latest of those
    said_at: float = 0.0


class ErrorLog:
    """One run's nodes' errors as log lines: `lines(...)` at each read of the run's status."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeErrors] = {}

    def lines(self, node_id: str, node: NodeSnapshot, in_full: Callable[[str, NodeSnapshot], str], now: float,
              ended: bool) -> list[str]:
        """What to say of the node's errors since the last read; `in_full(node_id, node)` says its latest error
        as the command line does; `ended`: the run is over, nothing is held back."""
        seen = self.nodes.setdefault(node_id, NodeErrors())
        said = []
        new, seen.counted = node.errors - seen.counted, max(seen.counted, node.errors)
        if new > 0 and node.last_error != seen.text:
            said += self._repeats(node_id, seen)
            unseen = new - 1  # their errors were overwritten between two reads: counted, not shown
            said.append(in_full(node_id, node) + (f" ({unseen} frame{'s' * (unseen != 1)} before it failed too, "
                                                  f"{'their errors' if unseen > 1 else 'its error'} unread)"
                                                  if unseen else ""))
            seen.text, seen.said_at = node.last_error, now
        elif new > 0:
            seen.repeats += new
            seen.last_frame = node.last_error_frame
        if seen.repeats and (ended or now - seen.said_at >= SAME_AGAIN_S):
            said += self._repeats(node_id, seen)
            seen.said_at = now
        return said

    @staticmethod
    def _repeats(node_id: str, seen: NodeErrors) -> list[str]:
        if not seen.repeats:
            return []
        count, to = seen.repeats, f", the last frame {seen.last_frame}" if seen.last_frame is not None else ""
        seen.repeats = 0
        return [f"node '{node_id}' failed on {count} more frame{'s' * (count != 1)}{to}: the same error"]
