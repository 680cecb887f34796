"""Running one node on one frame: timing, error counting and pass-through. Shared by the
in-process executor and the stage processes of the multiprocess runtime."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from .errors import InvalidInput, RunFailed
from .node import Node
from .stats import NodeStats
from .types import can_link

log = logging.getLogger("nodegraph")


def passthrough(node: Node, inputs: dict[str, Any]) -> dict[str, Any]:
    """What goes out of a node that could not process a frame: each output that has an input
    of the same name and a compatible type gets that input (no face found: the original
    frame goes on); the others get None, and the nodes they feed skip the frame."""
    out = {}
    for name, out_type in node.outputs.items():
        in_type = node.inputs.get(name)
        out[name] = inputs.get(name) if in_type is not None and can_link(in_type, out_type) else None
    return out


def call_node(node: Node, inputs: dict[str, Any], stats: NodeStats) -> dict[str, Any]:
    """Run `node` on one frame's inputs. An exception is counted on the node, said once per
    distinct message, and the frame passes through; RunFailed and Ctrl-C stop the run."""
    if any(value is None for name, value in inputs.items() if name not in node.optional_inputs):
        return passthrough(node, inputs)
    start = time.perf_counter()
    try:
        result = node.process(**inputs) or {}
    except (RunFailed, KeyboardInterrupt):
        raise
    except Exception as e:
        message = f"{type(e).__name__}: {e}" if not isinstance(e, InvalidInput) else str(e)
        if message != stats.last_error:
            log.warning("node '%s' (%s) failed on frame %d: %s", node.id, node.type_name(), node.frame_id, message)
            log.debug("%s", traceback.format_exc())
        stats.record_error(message)
        return passthrough(node, inputs)
    stats.record((time.perf_counter() - start) * 1000.0)
    return {name: result.get(name) for name in node.outputs}


def call_source(node: Node, frame_id: int, stats: NodeStats) -> dict[str, Any] | None:
    """Ask a source for frame `frame_id`; None when its stream has ended."""
    node.frame_id = frame_id
    node.capture_time = time.monotonic()  # a source may overwrite it with a better timestamp
    start = time.perf_counter()
    result = node.process()
    if result is None:
        return None
    stats.record((time.perf_counter() - start) * 1000.0)
    return {name: result.get(name) for name in node.outputs}


def close_nodes(nodes) -> list[str]:
    """Close every node even when some fail; returns the failures' messages."""
    failures = []
    for node in nodes:
        try:
            node.close()
        except Exception as e:
            failures.append(f"node '{node.id}' failed to close: {type(e).__name__}: {e}")
    return failures
